"""Every built-in driver variant, checked at the kernel level over seeded random and PCT
executions of every built-in scenario: correct designs never fire a check, naive ones are
caught with the failure DESIGN.md names for them. (Exhaustive proofs: tests/explore.)"""

import pytest

from kernel_model import builtin_names, run, run_batch
from kernel_model.scenarios import get_scenario, scenario_names

CORRECT = ["assoc-count", "dec-and-lock", "flow-lock", "last-ref", "retry-bounded-sweep"]
# variant -> (a scenario that shows it, the check it must fire)
NAIVE = {
    "original": ("lingering-rst", "leak"),
    "retry-bounded": ("lingering-rst", "leak"),
    "assoc-count-free-on-drain": ("lingering-rst", "use_after_free"),
    "assoc-count-no-once": ("split-deletes", "double_move"),
    "last-ref-late-flag": ("lingering-rst", "leak"),
    "flow-lock-inverted": ("lingering-rst", "deadlock"),
    "retry": ("preempted-holder", "livelock"),
}


def kinds_over_batches(driver, scenario, n=1500):
    kinds = set()
    for strategy, depth in (("random", 2), ("pct", 2), ("pct", 3)):
        kinds |= set(run_batch(driver, scenario, n, strategy=strategy, pct_depth=depth).by_kind)
    return kinds


def test_every_builtin_variant_is_classified():
    assert set(builtin_names()) == set(CORRECT) | set(NAIVE)


@pytest.mark.parametrize("driver", CORRECT)
def test_correct_designs_never_fire(driver):
    for name in scenario_names():
        assert kinds_over_batches(driver, get_scenario(name)) == set(), name


def test_retry_is_correct_wherever_the_holder_can_run():
    for name in scenario_names():
        if name != "preempted-holder":
            assert kinds_over_batches("retry", get_scenario(name)) == set(), name


@pytest.mark.parametrize("driver", sorted(NAIVE))
def test_naive_designs_are_caught(driver):
    scenario, kind = NAIVE[driver]
    assert kind in kinds_over_batches(driver, get_scenario(scenario))


def test_a_spin_that_has_seen_a_write_is_not_a_livelock():
    """Regression: the spinner re-checked only after a *newer* write, so a holder that
    released between the spinner's check and its YieldProcessor looked like a hang."""
    # the agent is done; the late packet holds the flow; the last delete checks (sees 3);
    # then the late packet lets go and finishes before the delete's YieldProcessor
    schedule = "agent*,cpu0@late0.ref,cpu1@cpu1.delete2,cpu1*3,cpu0*,cpu1*"
    out = run("retry", get_scenario("lingering-rst"), schedule=schedule)
    icx = [s for s in out.steps if s.op == "InterlockedCompareExchange"]
    assert [s.value for s in icx] == [3, 2]
    assert out.violations == []


def test_a_bounded_spin_gives_up_when_nobody_can_help():
    """Regression: YieldProcessor blocked until another CPU wrote, so a bounded retry
    whose holder was preempted was reported as a livelock instead of giving up."""
    out = run("retry-bounded-sweep", get_scenario("preempted-holder"), schedule="leak")
    assert out.violations == []
    hang = run("retry", get_scenario("preempted-holder"), schedule="leak")
    assert hang.kinds == {"livelock"}
    assert "preempted" in hang.violations[0].detail


def test_last_ref_claims_before_it_lets_go():
    """Regression for last-ref's first version (claim after the decrement): a lookup
    moved the flow and user space freed it before the claim touched it."""
    scenario = get_scenario("lingering-rst")
    out = run("last-ref", scenario, seed=104, strategy="pct", pct_depth=3)
    assert out.violations == []
