"""Stress verdicts do not depend on machine load: a slow lock holder, a busy machine, a
spin that never ends — each gets the verdict of what happened, not of how long it took.

* a deadlock is a cycle of lock waits (each spin-lock word holds its owner's token), found
  however fast or slow the threads run;
* a holder that is only slow (descheduled, preempted by other processes) is waited for:
  the run is slower, never FAIL;
* a spin with no cycle behind it, past its budget of CPU time, is `timed out`:
  INCONCLUSIVE, never called a deadlock.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kernel_model import stress
from kernel_model._build import csrc_dir


def derived(directory: Path, base: str, name: str, old: str, new: str,
            header: str = "") -> Path:
    """A test proposal: built-in variant `base` with one change."""
    text = (csrc_dir() / "variants" / f"{base}.c").read_text()
    assert old in text, f"{base}.c changed: update this test's proposal"
    path = directory / f"{name}.c"
    path.write_text(header + text.replace(old, new, 1))
    return path


def slow_holder(directory: Path) -> Path:
    """assoc-count whose first move holds the open-flows table lock for 3 s while its
    thread sleeps: what a preempted holder on a loaded machine looks like to the
    threads that wait for the lock. Correct, only slow."""
    move = """        KeAcquireInStackQueuedSpinLockAtDpcLevel(&g_OpenFlowsLock, &lockHandle);
"""
    return derived(directory, "assoc_count", "slow_holder", move, move + """        {
            static volatile LONG once;
            if (__atomic_exchange_n(&once, 1, __ATOMIC_SEQ_CST) == 0)
                sleep(3); /* the holder is descheduled for 3 s */
        }
""", "#include <unistd.h>\n")


def test_a_slow_lock_holder_is_waited_for_not_a_deadlock(tmp_path):
    """Regression: the stress run called a 2 s wait for a spin lock a deadlock, so a
    holder preempted on a busy machine turned a correct fix into a FAIL."""
    res = stress(str(slow_holder(tmp_path)), 300, 4, seed=1)
    assert res.seconds >= 3.0
    assert res.verdict == "PASS", (res.violations, res.timed_out)
    assert res.completed and res.violations == [] and res.lingering == 0


def test_a_spin_with_no_cycle_behind_it_times_out_inconclusive(tmp_path):
    """retry with a leaked classify reference: its delete spins forever for a count that
    never comes. No lock cycle shows it, so it is `timed out` (INCONCLUSIVE) after its
    budget of CPU time, not a deadlock and not a livelock (controlled mode proves those)."""
    take = "    InterlockedIncrement(&Flow->RefCount);\n    return TRUE;"
    leak = derived(tmp_path, "retry", "retry_leaked_ref", take, take.replace(
        "    return", "    InterlockedIncrement(&Flow->RefCount); /* BUG: one too many */\n"
        "    return"))
    res = stress(str(leak), 200, 2, seed=1, hang_cpu_seconds=0.5)
    assert res.verdict == "INCONCLUSIVE", (res.violations, res.timed_out)
    assert res.violations == [] and not res.completed
    assert "spun for" in res.timed_out and "CPU time" in res.timed_out


@pytest.fixture
def cpu_hogs():
    """Three busy processes on this 2-core machine, for the length of a test."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(3)]
    try:
        yield hogs
    finally:
        for h in hogs:
            h.kill()
            h.wait()


@pytest.mark.slow
def test_verdicts_beside_a_cpu_hog_are_those_of_an_idle_machine(cpu_hogs):
    """The must-show: stress of assoc-count beside 3 busy processes gets its idle-machine
    verdict (PASS) in 10 runs out of 10, and a real AB/BA deadlock is still reported."""
    assert all(h.poll() is None for h in cpu_hogs)
    verdicts = []
    for seed in range(1, 11):
        res = stress("assoc-count", 800, 4, seed=seed)
        verdicts.append((res.verdict, res.lingering, [v.kind for v in res.violations],
                         res.timed_out))
    assert verdicts == [("PASS", 0, [], None)] * 10, verdicts
    for seed in range(1, 11):  # the AB/BA window is narrow: a few seeds
        res = stress("flow-lock-inverted", 5000, 8, seed=seed)
        if not res.completed:
            break
    assert res.verdict == "FAIL" and [v.kind for v in res.violations] == ["deadlock"]
    assert "waits-for cycle" in res.violations[0].detail
