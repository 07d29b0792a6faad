"""Stress mode on real OS threads: the race reproduces, correct fixes hold, and a real
deadlock or hang ends the run with a finding instead of hanging the caller."""

from kernel_model import stress


def test_original_leaks_on_real_threads():
    res = stress("original", 10000, 8, seed=1)
    assert res.completed and res.lingering > 0
    assert [v.kind for v in res.violations] == ["leak"]
    assert res.open_at_end >= res.lingering


def test_a_correct_fix_leaves_nothing_behind():
    res = stress("assoc-count", 10000, 8, seed=1)
    assert res.completed and res.lingering == 0 and res.violations == []
    assert res.stats["open_table_adds"] == res.stats["closed_table_removes"] == 10000
    assert res.stats["flows_freed"] == 10000


def test_a_full_open_table_drops_new_flows():
    res = stress("original", 6000, 4, seed=1, open_capacity=500)
    assert res.open_peak <= 500
    assert res.stats["flows_dropped_table_full"] > 0


def test_a_real_deadlock_ends_the_run():
    """Regression: a thread spinning for a spin lock held by a deadlocked peer spun
    forever; it now gives up after two seconds and reports a deadlock."""
    for seed in range(1, 6):  # the AB/BA window is narrow: a few seeds
        res = stress("flow-lock-inverted", 20000, 8, seed=seed)
        if not res.completed:
            break
    assert not res.completed, "no seed deadlocked"
    assert [v.kind for v in res.violations] == ["deadlock"]


def test_progress_while_it_runs_and_quiet_when_piped():
    """Long stress runs say how far they got (operations, connections, elapsed, lingering
    so far) — to a callback, and on a terminal only: piped, the CLI prints nothing else."""
    import subprocess
    import sys

    seen = []
    res = stress("original", 20000, 8, seed=1, progress=seen.append)
    assert res.completed and seen, "no progress reported"
    assert all({"operations", "connections", "lingering", "seconds"} <= set(p) for p in seen)
    ops = [p["operations"] for p in seen]
    assert ops == sorted(ops) and seen[-1]["connections"] <= 20000
    proc = subprocess.run([sys.executable, "-m", "compare.cli", "stress", "--driver",
                           "assoc-count", "--connections", "500"], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0 and proc.stderr == ""
