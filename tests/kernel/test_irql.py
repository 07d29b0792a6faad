"""IRQL: the contract and the core agree for every hook and path, and a lock call at the
wrong IRQL is an `irql` finding naming the hook, the level and the call.

The contract (c_src/README.md) says the classify, lookup and delete hooks run at
DISPATCH_LEVEL and the dereference at <= DISPATCH: a PASSIVE-level worker's late packet
(preempted-holder) lets go of its reference at PASSIVE, where the delete DPC on its CPU
can preempt it. A proposal that takes a lock there with the raising calls is correct; one
that uses `...AtDpcLevel` there is told that the dereference ran at PASSIVE_LEVEL (an
`irql` finding), not only blamed for the deadlock that follows.
"""

from __future__ import annotations

from pathlib import Path

from kernel_model import run
from kernel_model._build import csrc_dir
from kernel_model.explore import explore
from kernel_model.scenarios import get_scenario

DEREF = """VOID FlowVariantClassifyDereference(PFLOW_CONTEXT Flow)
{
    FlowRelease(Flow);
}"""


def dpc_level_lock_in(directory: Path, hook_body: str, name: str, where: str = DEREF) -> Path:
    text = (csrc_dir() / "variants" / "assoc_count.c").read_text()
    assert where in text, "assoc_count.c changed: update this test's proposal"
    path = directory / f"{name}.c"
    path.write_text(text.replace(where, hook_body, 1))
    return path


def test_a_dereference_that_raises_for_its_lock_passes(tmp_path):
    fix = dpc_level_lock_in(tmp_path, """VOID FlowVariantClassifyDereference(PFLOW_CONTEXT Flow)
{
    KLOCK_QUEUE_HANDLE lockHandle;

    /* <= DISPATCH (PASSIVE on a worker's late packet): the raising form */
    KeAcquireInStackQueuedSpinLock(&Flow->Lock, &lockHandle);
    Flow->Rtt = Flow->Rtt;
    KeReleaseInStackQueuedSpinLock(&lockHandle);
    FlowRelease(Flow);
}""", "deref_raising_lock")
    for scenario in ("preempted-holder", "lingering-rst", "late-packets"):
        res = explore(str(fix), get_scenario(scenario), strategy="dfs", time_budget=60)
        assert res.complete and not res.kinds, (scenario, res.by_kind)


def test_a_dpc_level_lock_in_the_dereference_is_an_irql_finding(tmp_path):
    """Regression: a proposal that took its lock with ...AtDpcLevel in the dereference
    was blamed for a deadlock whose message never mentioned IRQL."""
    bad = dpc_level_lock_in(tmp_path, """VOID FlowVariantClassifyDereference(PFLOW_CONTEXT Flow)
{
    KLOCK_QUEUE_HANDLE lockHandle;

    KeAcquireInStackQueuedSpinLockAtDpcLevel(&Flow->Lock, &lockHandle);
    Flow->Rtt = Flow->Rtt;
    KeReleaseInStackQueuedSpinLockFromDpcLevel(&lockHandle);
    FlowRelease(Flow);
}""", "deref_dpc_lock")
    res = explore(str(bad), get_scenario("preempted-holder"), strategy="dfs", time_budget=60)
    assert "irql" in res.kinds, res.by_kind
    detail = res.counterexample("irql").violation.detail
    assert "FlowVariantClassifyDereference" in detail and "PASSIVE_LEVEL" in detail
    assert "KeAcquireInStackQueuedSpinLockAtDpcLevel(flow 0" in detail
    # where the contract promises DISPATCH, the same code is fine
    clean = explore(str(bad), get_scenario("lingering-rst"), strategy="dfs", time_budget=60)
    assert clean.complete and not clean.kinds, clean.by_kind


def test_a_dpc_level_lock_below_dispatch_is_an_irql_finding(tmp_path):
    """The sweep runs at PASSIVE (the open-flows read): a ...AtDpcLevel acquire there
    raises nothing, and is reported as such, not as a deadlock."""
    sweep = """VOID FlowVariantSweep(VOID)
{
}"""
    bad = dpc_level_lock_in(tmp_path, """VOID FlowVariantSweep(VOID)
{
    KLOCK_QUEUE_HANDLE lockHandle;

    KeAcquireInStackQueuedSpinLockAtDpcLevel(&g_OpenFlowsLock, &lockHandle);
    KeReleaseInStackQueuedSpinLockFromDpcLevel(&lockHandle);
}""", "sweep_dpc_lock", where=sweep)
    out = run(str(bad), get_scenario("lingering-rst"), schedule="leak")
    irql = [v for v in out.violations if v.kind == "irql"]
    assert irql, [(v.kind, v.detail) for v in out.violations]
    detail = irql[0].detail
    assert "FlowVariantSweep" in detail and "PASSIVE_LEVEL" in detail
    assert "KeAcquireInStackQueuedSpinLockAtDpcLevel(openFlowsLock)" in detail
    assert "deadlock" not in out.kinds


def test_every_hook_runs_at_its_contract_level():
    """The contract table's levels, as the core calls each hook on every built-in
    scenario: no `irql` finding for any built-in variant (they follow the contract)."""
    from kernel_model import builtin_names, run_batch
    from kernel_model.scenarios import scenario_names

    for driver in builtin_names():
        for scenario in scenario_names():
            res = run_batch(driver, get_scenario(scenario), 50, strategy="random")
            assert "irql" not in res.by_kind, (driver, scenario)
