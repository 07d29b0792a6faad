"""The stress run's watchdog: a run that does not finish by `max_seconds` is stopped and
reported (a `livelock`, "hang: ..."), whether its threads still reach scheduling points
(an endless loop of interlocked operations: the C watchdog stops them) or not (a hook
that sleeps: reported from C, then the run's process group is killed from outside)."""

from __future__ import annotations

import time

import pytest

from kernel_model import stress
from tests.validate.hostile import hostile_proposal


@pytest.mark.slow
@pytest.mark.parametrize("name, says", [
    ("endless_loop", "stopped"),
    ("sleep_in_hook", "still inside the variant"),
])
def test_a_stress_run_that_does_not_end_is_stopped_at_max_seconds(tmp_path, name, says):
    path = hostile_proposal(name, tmp_path)
    from kernel_model.variants import build_variant

    build_variant(path)  # the compile is not part of the run's time
    t0 = time.monotonic()
    res = stress(str(path), 2000, max_seconds=2.0)
    seconds = time.monotonic() - t0
    assert seconds < 2.0 + 2.0 + 5.0 + 5.0, seconds  # the grace, the kill, loading
    assert not res.completed
    hangs = [v for v in res.violations if v.kind == "livelock" and v.detail.startswith("hang")]
    assert hangs and says in hangs[0].detail, res.violations


def test_a_stress_run_that_crashes_is_a_finding_not_our_death(tmp_path):
    path = hostile_proposal("exit_in_hook", tmp_path)
    res = stress(str(path), 500, max_seconds=30.0)
    assert not res.completed
    assert [v.kind for v in res.violations] == ["crash"]
    assert "exit" in res.violations[0].detail


def test_a_correct_run_finishes_well_inside_its_watchdog():
    res = stress("assoc-count", 2000, max_seconds=60.0)
    assert res.completed and res.lingering == 0 and not res.violations
