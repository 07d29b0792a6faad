"""Every check fires on a purpose-built faulty variant, and stays silent on the clean path."""

import pytest

from kernel_model import run
from kernel_model.scenarios import get_scenario

# (test variant, schedule on lingering-rst, the one kind it must report)
FAULTS = [
    # the late packet holds the flow while it is moved and drained (freed)
    ("faulty_uaf", "cpu0@late0.ref,cpu1*,agent@agent.poll0,cpu0*", "use_after_free"),
    ("faulty_double_free", "clean", "double_free"),
    ("faulty_double_move", "clean", "double_move"),
    ("faulty_underflow", "clean", "refcount_underflow"),
    ("faulty_freed_linked", "clean", "freed_while_linked"),
    ("faulty_livelock", "clean", "livelock"),
    ("faulty_self_deadlock", "clean", "deadlock"),
    ("faulty_lock_order", "clean", "deadlock"),
]


@pytest.mark.parametrize("stem,schedule,kind", FAULTS, ids=[f[0] for f in FAULTS])
def test_check_fires_on_its_fault(test_variant, lingering, stem, schedule, kind):
    out = run(test_variant(stem), lingering, schedule=schedule)
    assert kind in out.kinds, out.violations
    first = next(v for v in out.violations if v.kind == kind)
    assert first.step >= 0 and first.actor, "a finding names its step and actor"
    assert first.detail


def test_leak_fires_on_the_original_race(lingering):
    out = run("original", lingering, schedule="leak")
    assert out.kinds == {"leak"}
    (leak,) = out.violations
    assert leak.flow == 0 and "openFlows" in leak.detail


@pytest.mark.parametrize("driver", ["original", "shim_probe"])
def test_clean_path_is_silent(test_variant, lingering, driver):
    variant = test_variant(driver) if driver == "shim_probe" else driver
    out = run(variant, lingering, schedule="clean")
    assert out.violations == []
    assert out.flows[0]["freed"] and out.flows[0]["where"] == "none"
    assert out.stats["closed_table_removes"] == 1


def test_uaf_is_reported_where_it_happens(test_variant, lingering):
    out = run(test_variant("faulty_uaf"), lingering,
              schedule="cpu0@late0.ref,cpu1*,agent@agent.poll0,cpu0*")
    uaf = next(v for v in out.violations if v.kind == "use_after_free")
    assert uaf.actor == "cpu0"
    step = out.steps[uaf.step]
    assert step.actor == "cpu0" and step.obj == "flow0.RefCount"


def test_livelock_names_the_spinning_cpu(test_variant, lingering):
    out = run(test_variant("faulty_livelock"), lingering, schedule="clean")
    (v,) = [v for v in out.violations if v.kind == "livelock"]
    assert v.actor == "cpu1" and "spins" in v.detail


def test_a_release_of_a_lock_not_held_is_a_finding_that_never_runs():
    """A CPU that releases a spin lock it does not hold (free, or another CPU's) would
    break mutual exclusion, which the explorer's ordering of two critical sections
    relies on: a finding at the release, in every search, and the release never runs."""
    from pathlib import Path

    from kernel_model.explore import explore

    proposal = str(Path(__file__).parent / "proposals" / "release_not_held.c")
    for strategy in ("dfs", "dfs-stateful"):
        res = explore(proposal, "lingering-rst", strategy=strategy, pictures=False)
        assert res.complete and "deadlock" in res.kinds, (strategy, res.kinds)
        out = res.counterexample("deadlock").outcome
        v = next(v for v in out.violations if v.kind == "deadlock")
        assert "released by cpu" in v.detail and "does not hold it" in v.detail, v.detail
        assert "openFlowsLock" in v.detail or "OpenFlowsLock" in v.detail, v.detail


def test_a_locked_helper_called_without_the_table_lock_is_a_finding(tmp_path):
    """FlowTableMoveToClosedLocked (and the lookup and iteration helpers) require
    g_OpenFlowsLock. Called without it they would change openFlows while another CPU
    walks it, which the explorer could not see (it orders list operations by their
    table's lock): a finding naming the helper, and the helper does nothing."""
    from pathlib import Path

    src = (Path(__file__).parent / "proposals" / "write_past_flow.c").read_text()
    src = src.replace("    ((UCHAR *)Flow)[sizeof(FLOW_CONTEXT) + 64] = 1; /* 64 bytes past the flow */\n",
                      "")
    src = src.replace("        KeAcquireInStackQueuedSpinLockAtDpcLevel(&g_OpenFlowsLock, &lockHandle);\n"
                      "        if (InterlockedCompareExchange",
                      "        if (InterlockedCompareExchange")
    src = src.replace("            FlowTableMoveToClosedLocked(Flow);\n"
                      "        KeReleaseInStackQueuedSpinLockFromDpcLevel(&lockHandle);\n",
                      "            FlowTableMoveToClosedLocked(Flow); /* the bug: no lock */\n")
    assert "the bug: no lock" in src
    proposal = tmp_path / "unlocked_move.c"
    proposal.write_text(src)
    out = run(str(proposal), get_scenario("lingering-rst"), schedule="clean")
    v = next(v for v in out.violations if v.kind == "deadlock")
    assert "FlowTableMoveToClosedLocked called without holding openFlowsLock" in v.detail
    assert out.flows[0]["where"] == "open"  # it did nothing: the flow lingers (a leak)
