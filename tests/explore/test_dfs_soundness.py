"""Regressions of the reduction's soundness, on proposals the explorer was not tuned on
(the generated-program harness is tests/explore/soundness)."""

from pathlib import Path

import pytest

from kernel_model.explore import explore

PROPOSALS = Path(__file__).resolve().parent / "proposals"
# a late packet holds the flow through every retry and releases it; the poll's sweep
# checks the count; a second late packet looks the flow up; the sweep moves it; the
# drain frees it; the second packet's release touches freed memory
UAF = ("cpu0*9,cpu1*21,cpu0,agent*5,cpu0*5,agent*14,cpu0,agent*16,settle*8")


def retry_under_lock(tmp_path: Path, limit: int) -> Path:
    text = (PROPOSALS / "retry_under_lock.c").read_text()
    path = tmp_path / f"retry_under_lock_{limit}.c"
    path.write_text(text.replace("#define RETRY_LIMIT 2", f"#define RETRY_LIMIT {limit}"))
    return path


def test_the_hand_written_schedule_shows_the_use_after_free(tmp_path):
    from kernel_model import run
    from kernel_model.scenarios import get_scenario

    out = run(str(retry_under_lock(tmp_path, 2)), get_scenario("late-packets"), schedule=UAF)
    assert "use_after_free" in out.kinds


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 8])
def test_dfs_finds_the_use_after_free_after_a_bounded_retry_gives_up(tmp_path, limit):
    """Regression: with a retry limit of 2 or more, dfs reported `complete` with no
    violation (247,145 executions for limit 4): a step inside the late packet's
    critical section counted as a race with the retry's lock acquisition, which it can
    never precede, and that hid the race that can be reversed."""
    res = explore(str(retry_under_lock(tmp_path, limit)), "late-packets", strategy="dfs",
                  minimise=False, stop_at_first=True)
    assert "use_after_free" in res.kinds
