"""random and pct: seeded, reproducible, and PCT finds bugs of small depth."""

import pytest

from kernel_model.explore import explore

# naive designs and where PCT must find them within 10,000 executions
PCT_TARGETS = {
    "original": ("rst-storm", "leak"),
    "retry-bounded": ("rst-storm", "leak"),
    "assoc-count-free-on-drain": ("rst-storm", "use_after_free"),
    "assoc-count-no-once": ("rst-storm", "double_move"),
    "last-ref-late-flag": ("rst-storm", "leak"),
    "flow-lock-inverted": ("rst-storm", "deadlock"),
    "retry": ("preempted-holder", "livelock"),  # needs the holder on the DPC's CPU
}


def test_random_finds_the_leak_and_is_reproducible():
    a = explore("original", "lingering-rst", "random", max_executions=5000, seed=3,
                minimise=False)
    b = explore("original", "lingering-rst", "random", max_executions=5000, seed=3,
                minimise=False)
    assert a.kinds == {"leak"} and not a.complete
    assert (a.executions, a.by_kind) == (b.executions, b.by_kind)
    assert a.counterexample("leak").schedule == b.counterexample("leak").schedule


@pytest.mark.parametrize("driver", sorted(PCT_TARGETS))
def test_pct_finds_each_naive_bug(driver):
    scenario, kind = PCT_TARGETS[driver]
    found = set()
    for depth in (2, 3):
        res = explore(driver, scenario, "pct", depth=depth, max_executions=10_000,
                      minimise=False)
        found |= res.kinds
    assert kind in found


def test_pct_reports_its_guarantee():
    res = explore("original", "rst-storm", "pct", depth=3, max_executions=1000, minimise=False)
    p = res.parameters
    n, k = p["actors"], p["steps"]
    assert n == 5 and k > 50
    assert p["pct_guarantee"] == pytest.approx(1 / (n * k ** 2))
    assert res.to_json()["pct_guarantee"] == p["pct_guarantee"]


def test_time_budget():
    res = explore("assoc-count", "lingering-rst", "random", time_budget=0.3, minimise=False)
    assert res.executions > 1000 and res.seconds < 2 and not res.kinds


def test_random_on_two_processes():
    res = explore("original", "lingering-rst", "random", max_executions=100_000, jobs=2,
                  minimise=False)
    assert res.executions >= 100_000 and res.kinds == {"leak"}


def test_replay_strategy_runs_a_named_or_saved_schedule(tmp_path):
    res = explore("original", "lingering-rst", "replay", schedule="leak")
    assert res.executions == 1 and res.kinds == {"leak"}
    saved = res.counterexample("leak").files
    assert not saved  # nothing written without out=
    again = explore("original", "lingering-rst", "replay",
                    schedule=res.counterexample("leak").schedule, out=tmp_path, pictures=False)
    assert again.kinds == {"leak"}
    third = explore("original", "lingering-rst", "replay",
                    trace=again.counterexample("leak").files["trace"])
    assert third.counterexample("leak").schedule == again.counterexample("leak").schedule
