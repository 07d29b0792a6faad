"""A proposal is judged as written: its plain and volatile C accesses are scheduling
points, checked accesses and input to the happens-before data-race detector
(c_src/engine/access.c, race.c)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from compare.validate import validate
from kernel_model import Actor, Classify, Delete, Flow, Scenario, run, run_batch
from kernel_model.explore import explore
from kernel_model.explore._engine import Dfs, Target
from kernel_model.scenarios import get_scenario
from kernel_model.variants import load_variant

PROPOSALS = Path(__file__).parent / "proposals"
PLAIN_DEC = PROPOSALS / "plain_assoc_decrement.c"
UNDER_LOCK = PROPOSALS / "plain_state_under_lock.c"
CHECK_THEN_ACT = PROPOSALS / "volatile_check_then_act.c"
PLAIN_UAF = PROPOSALS / "plain_read_after_free.c"
PAST_FLOW = PROPOSALS / "write_past_flow.c"


def line_of(path: Path, needle: str) -> int:
    return next(i for i, text in enumerate(path.read_text().splitlines(), 1) if needle in text)


def test_plain_decrement_is_a_data_race_naming_both_accesses_and_loses_a_move(tmp_path):
    res = explore(str(PLAIN_DEC), "split-deletes", strategy="dfs", out=tmp_path,
                  pictures=False)
    assert res.complete
    assert "data_race" in res.kinds
    assert res.kinds & {"leak", "double_move"}  # the lost update itself
    race = next(v for v in res.counterexample("data_race").outcome.violations
                if v.kind == "data_race")
    line = line_of(PLAIN_DEC, "--Flow->AssocCount")
    # both accesses: kind, field, file:line, CPU and step
    assert race.detail.count(f"plain_assoc_decrement.c:{line}") == 2, race.detail
    assert race.detail.count("AssocCount") == 2
    assert re.search(r"plain (read|write) .* by cpu\d at step \d+ races with the plain write "
                     r".* by cpu\d at step \d+", race.detail), race.detail
    # the counterexample replays to the same race, from its trace, in a fresh process
    trace = res.counterexample("data_race").files["trace"]
    proc = subprocess.run([sys.executable, "-m", "compare.cli", "replay", str(trace), "--json"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    kinds = {v["kind"] for v in json.loads(proc.stdout)["violations"]}
    assert "data_race" in kinds


def test_plain_decrement_fails_validate_with_a_data_race(tmp_path):
    v = validate(PLAIN_DEC, tmp_path / "out", time_budget=6.0, connections=500,
                 interleavings=30, sweep=20)
    assert v.verdict == "FAIL"
    races = [r for r in v.reasons if r.kind == "data_race"]
    assert races, [(r.phase, r.kind) for r in v.reasons]
    assert any(r.trace and Path(r.trace).is_file() for r in races)
    assert any(r.kind in ("leak", "double_move") for r in v.reasons)


@pytest.mark.parametrize("scenario", ["lingering-rst", "split-deletes", "late-packets",
                                      "two-clients"])
def test_plain_accesses_under_the_flow_lock_are_no_race(scenario):
    res = explore(str(UNDER_LOCK), scenario, strategy="dfs", minimise=False)
    assert res.complete
    assert not res.violations, [v.detail for v in res.violations]


def test_a_volatile_check_then_act_loses_a_move_without_a_data_race():
    res = explore(str(CHECK_THEN_ACT), "lingering-rst", strategy="dfs")
    assert res.complete
    assert "leak" in res.kinds
    assert "data_race" not in res.kinds
    # the volatile read is a scheduling point: the leak needs a switch right after it
    c = res.counterexample("leak")
    assert any(s.op == "VolatileRead" for s in c.outcome.steps)


def test_use_after_free_through_a_plain_read_names_the_line():
    res = explore(str(PLAIN_UAF), "lingering-rst", strategy="dfs")
    assert "use_after_free" in res.kinds
    uaf = next(v for v in res.counterexample("use_after_free").outcome.violations
               if v.kind == "use_after_free")
    line = line_of(PLAIN_UAF, "if (Flow->State == FLOW_STATE_MOVED)")
    assert f"plain_read_after_free.c:{line}" in uaf.detail, uaf.detail
    assert "read of 4 byte(s)" in uaf.detail


def test_a_write_past_the_flow_is_out_of_bounds_in_controlled_mode():
    res = run_batch(str(PAST_FLOW), get_scenario("lingering-rst"), 50)
    assert res.by_kind.get("out_of_bounds") == 50
    ex = explore(str(PAST_FLOW), "lingering-rst", strategy="random", max_executions=20)
    v = next(v for v in ex.counterexample("out_of_bounds").outcome.violations
             if v.kind == "out_of_bounds")
    line = line_of(PAST_FLOW, "sizeof(FLOW_CONTEXT) + 64")
    assert f"write_past_flow.c:{line}" in v.detail, v.detail
    assert "past the end" in v.detail


def test_the_module_never_links_a_sanitizer_runtime():
    variant = load_variant(str(PLAIN_DEC))
    dyn = subprocess.run(["nm", "-D", variant.module_path], capture_output=True,
                         text=True).stdout
    assert "__tsan" not in dyn
    assert "tsan" not in subprocess.run(["ldd", variant.module_path], capture_output=True,
                                        text=True).stdout


def test_inline_assembly_is_refused_naming_the_line(tmp_path):
    text = UNDER_LOCK.read_text().replace(
        "    Flow->RefCount++;\n",
        '    __asm__ __volatile__("lock incl %0" : "+m"(Flow->RefCount));\n', 1)
    bad = tmp_path / "asm_increment.c"
    bad.write_text(text)
    line = line_of(bad, "lock incl")
    proc = subprocess.run(["flowrace", "run", "--driver", str(bad), "--scenario",
                           "lingering-rst", "--seed", "1"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert f"asm_increment.c:{line}" in proc.stderr and "inline assembly" in proc.stderr
    assert "Traceback" not in proc.stderr
    # an empty compiler barrier touches no memory: allowed
    ok = tmp_path / "barrier.c"
    barrier = '    Flow->RefCount++;\n    __asm__ volatile("" ::: "memory");\n'
    ok.write_text(UNDER_LOCK.read_text().replace("    Flow->RefCount++;\n", barrier, 1))
    assert load_variant(str(ok))


def test_a_non_gcc_builtin_is_a_compile_error_with_its_line(tmp_path):
    bad = tmp_path / "msvc_intrinsic.c"
    bad.write_text(UNDER_LOCK.read_text().replace("    Flow->RefCount++;\n",
                                                  "    _InterlockedIncrement(&Flow->RefCount);\n",
                                                  1))
    line = line_of(bad, "_InterlockedIncrement")
    proc = subprocess.run(["flowrace", "run", "--driver", str(bad), "--scenario",
                           "lingering-rst", "--seed", "1"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert f"msvc_intrinsic.c:{line}" in proc.stderr


# ---- the detector's happens-before rules, each on a purpose-built pair of accesses --------
PAIR = r"""
#include "flowdata.h"
LONG g_Data, g_Flag, g_Bad;
LONG g_Word[2] __attribute__((aligned(8))); /* two counters in one 8-byte word */

VOID FlowVariantInitialize(PFLOW_CONTEXT Flow, ULONG Associations)
{
    Flow->RefCount = 1 + (LONG)Associations;
    Flow->AssocCount = (LONG)Associations;
    Flow->State = FLOW_STATE_OPEN;
    g_Data = 0;
    g_Flag = 0;
}

static VOID Release(PFLOW_CONTEXT Flow)
{
    if (InterlockedDecrement(&Flow->RefCount) == 0)
        FlowFree(Flow);
}

static VOID Pair(PFLOW_CONTEXT Flow, ULONG Association)
{
    KLOCK_QUEUE_HANDLE h;
#if defined(LOCK)
    KeAcquireInStackQueuedSpinLockAtDpcLevel(&Flow->Lock, &h);
    g_Data++;
    KeReleaseInStackQueuedSpinLockFromDpcLevel(&h);
#elif defined(NOLOCK) || defined(EVENTS)
    (void)h;
    g_Data++;
#elif defined(INTERLOCKED)
    (void)h;
    if (Association == 0) {
        g_Data = 42;
        InterlockedExchange(&g_Flag, 1);
    } else if (InterlockedCompareExchange(&g_Flag, 1, 1) == 1 && g_Data != 42) {
        InterlockedIncrement(&g_Bad);
    }
#elif defined(FAILED_CAS)
    (void)h;
    if (Association == 0) {
        g_Data = 42;
        InterlockedCompareExchange(&g_Flag, 5, 7); /* fails: writes nothing, releases nothing */
    } else if (InterlockedCompareExchange(&g_Flag, 5, 7) == 0 && g_Data != 42) {
        InterlockedIncrement(&g_Bad);
    }
#elif defined(NEIGHBOUR)
    (void)h;
    if (Association == 0) {
        g_Word[1] = 1;                      /* plain: races with the read below */
        InterlockedExchange(&g_Flag, 1);    /* a release (the reader never acquires it) */
        InterlockedExchange(&g_Word[0], 1); /* then the word's other bytes, in a new epoch */
    } else if (g_Word[1] == 0) {
        InterlockedIncrement(&g_Bad);
    }
#elif defined(VOLATILE_FLAG)
    (void)h;
    if (Association == 0) {
        g_Data = 42;
        *(volatile LONG *)&g_Flag = 1;
    } else if (*(volatile LONG *)&g_Flag == 1 && g_Data != 42) {
        InterlockedIncrement(&g_Bad);
    }
#endif
    (void)Flow;
}

BOOLEAN FlowVariantClassifyReference(PFLOW_CONTEXT Flow)
{
    InterlockedIncrement(&Flow->RefCount);
    return TRUE;
}

VOID FlowVariantClassifyDereference(PFLOW_CONTEXT Flow) { Release(Flow); }

PFLOW_CONTEXT FlowVariantLookupReference(UINT64 FlowHandle)
{
    UNREFERENCED_PARAMETER(FlowHandle);
    return NULL;
}

VOID FlowVariantDeleteNotify(PFLOW_CONTEXT Flow, ULONG Association)
{
    Pair(Flow, Association);
    if (InterlockedDecrement(&Flow->AssocCount) == 0)
        FlowTableMoveToClosed(Flow);
    Release(Flow);
}

VOID FlowVariantClosedDrained(PFLOW_CONTEXT Flow) { Release(Flow); }
VOID FlowVariantSweep(VOID) {}
"""


def pair_proposal(directory: Path, mode: str) -> Path:
    path = directory / f"pair_{mode.lower()}.c"
    path.write_text(f"#define {mode}\n" + PAIR)
    return path


def two_deletes(ordered: bool) -> Scenario:
    second = Delete(0, 1, after=("cpu1.delete0",) if ordered else ())
    return Scenario(name="two-deletes" + ("-ordered" if ordered else ""), description="",
                    flows=[Flow(cookie=1, associations=2)],
                    actors=[Actor("cpu1", 1, [Delete(0, 0)]), Actor("cpu2", 2, [second])])


def races(path: Path, scenario: Scenario) -> set[str]:
    st = Dfs(Target.make(str(path), scenario), reduction=True).run(max_executions=200_000)
    assert st.complete
    return set(st.by_kind)


@pytest.mark.parametrize("synced, unsynced", [("LOCK", "NOLOCK"),
                                              ("INTERLOCKED", "VOLATILE_FLAG"),
                                              ("INTERLOCKED", "FAILED_CAS")])
def test_each_synchronisation_suppresses_the_report_and_its_absence_shows_it(
        tmp_path, synced, unsynced):
    scenario = two_deletes(ordered=False)
    assert "data_race" not in races(pair_proposal(tmp_path, synced), scenario)
    assert "data_race" in races(pair_proposal(tmp_path, unsynced), scenario)


def test_event_order_suppresses_the_report_and_its_absence_shows_it(tmp_path):
    path = pair_proposal(tmp_path, "EVENTS")
    assert "data_race" not in races(path, two_deletes(ordered=True))
    assert "data_race" in races(path, two_deletes(ordered=False))


def test_a_race_is_seen_after_the_racing_actor_touches_other_bytes_of_the_word(tmp_path):
    """Regression (found by the soundness harness): the detector kept one record per actor
    and 8-byte word, so a write of the word's other half after a release replaced the
    record of the racing write, and the race was reported in one order of two
    independent steps but not in the other: the set of findings depended on how the
    search ordered steps that commute."""
    path = pair_proposal(tmp_path, "NEIGHBOUR")
    scenario = two_deletes(ordered=False)
    for schedule in ("cpu1*4,cpu2", "cpu1*6,cpu2", "cpu1*3,cpu2"):
        out = run(str(path), scenario, schedule=schedule)
        assert "data_race" in {v.kind for v in out.violations}, schedule


def test_a_race_on_a_global_names_it(tmp_path):
    res = explore(str(pair_proposal(tmp_path, "NOLOCK")), two_deletes(ordered=False),
                  strategy="dfs", minimise=False)
    race = next(v for v in res.counterexample("data_race").outcome.violations
                if v.kind == "data_race")
    assert race.detail.count("g_Data") == 2, race.detail
    assert race.detail.count("pair_nolock.c:") == 2, race.detail


def test_accesses_on_one_cpu_never_race(tmp_path):
    path = pair_proposal(tmp_path, "NOLOCK")
    same_cpu = Scenario(name="one-cpu", description="", flows=[Flow(cookie=1, associations=2)],
                        actors=[Actor("a", 1, [Delete(0, 0)]), Actor("b", 1, [Delete(0, 1)])])
    assert "data_race" not in races(path, same_cpu)


# ---- DPOR stays complete with instrumented accesses ----------------------------------------
MIXED = r"""
#include "flowdata.h"
VOID FlowVariantInitialize(PFLOW_CONTEXT Flow, ULONG Associations)
{
    Flow->RefCount = 1 + (LONG)Associations;
    Flow->AssocCount = (LONG)Associations;
    Flow->State = FLOW_STATE_OPEN;
}
static VOID Release(PFLOW_CONTEXT Flow)
{
    if (InterlockedDecrement(&Flow->RefCount) == 0)
        FlowFree(Flow);
}
BOOLEAN FlowVariantClassifyReference(PFLOW_CONTEXT Flow)
{
    /* one byte of the state word, plainly: overlaps the 4-byte volatile read below */
    ((UCHAR *)&Flow->State)[1] = 1;
    InterlockedIncrement(&Flow->RefCount);
    return TRUE;
}
VOID FlowVariantClassifyDereference(PFLOW_CONTEXT Flow) { Release(Flow); }
PFLOW_CONTEXT FlowVariantLookupReference(UINT64 FlowHandle)
{
    UNREFERENCED_PARAMETER(FlowHandle);
    return NULL;
}
VOID FlowVariantDeleteNotify(PFLOW_CONTEXT Flow, ULONG Association)
{
    UNREFERENCED_PARAMETER(Association);
    if (--Flow->AssocCount == 0 && *(volatile LONG *)&Flow->State == FLOW_STATE_OPEN)
        FlowTableMoveToClosed(Flow);
    Release(Flow);
}
VOID FlowVariantClosedDrained(PFLOW_CONTEXT Flow) { Release(Flow); }
VOID FlowVariantSweep(VOID) {}
"""

MICRO = [
    Scenario(name="two-deletes", description="", flows=[Flow(cookie=1, associations=2)],
             actors=[Actor("cpu1", 1, [Delete(0, 0)]), Actor("cpu2", 2, [Delete(0, 1)])]),
    Scenario(name="classify-deletes", description="", flows=[Flow(cookie=1, associations=2)],
             actors=[Actor("cpu0", 0, [Classify(0, "rst-recv", bytes=60, assoc=0)]),
                     Actor("cpu1", 1, [Delete(0, 1)]), Actor("cpu2", 2, [Delete(0, 0)])]),
]


@pytest.mark.parametrize("scenario", MICRO, ids=[s.name for s in MICRO])
def test_reduction_loses_nothing_with_plain_and_volatile_accesses(tmp_path, scenario):
    """Reduced against unreduced search: the same kinds, and as many interleavings."""
    mixed = tmp_path / "mixed_sizes.c"
    mixed.write_text(MIXED)
    # a spin on a volatile read, and on one byte of the count (its wait keys have sizes)
    retry = (Path(__file__).parents[2] / "c_src" / "variants" / "retry.c").read_text()
    loop = "while (InterlockedCompareExchange(&Flow->RefCount, 2, 2) != 2)"
    assert loop in retry
    spin_volatile = tmp_path / "spin_volatile.c"
    spin_volatile.write_text(retry.replace(loop, "while (*(volatile LONG *)&Flow->RefCount != 2)"))
    spin_byte = tmp_path / "spin_byte.c"
    spin_byte.write_text(retry.replace(loop, "while (*(volatile UCHAR *)&Flow->RefCount != 2)"))
    for path in (PLAIN_DEC, CHECK_THEN_ACT, UNDER_LOCK, mixed, spin_volatile, spin_byte):
        target = Target.make(str(path), scenario)
        full = Dfs(target, reduction=False).run(max_executions=2_000_000)
        reduced = Dfs(target, reduction=True).run(max_executions=2_000_000)
        assert full.complete and reduced.complete
        assert set(full.by_kind) == set(reduced.by_kind), (path.name, full.by_kind)
        assert reduced.interleavings == full.maximal, path.name


def test_the_matrix_calls_a_racy_proposal_unsafe():
    from compare.matrix import Matrix
    from compare.verdict import Verdict

    matrix = Matrix([str(PLAIN_DEC)], ["workaround"], ["split-deletes"], sweep=200)
    cell = matrix.cell(str(PLAIN_DEC), "workaround", "split-deletes")
    assert cell.verdict is Verdict.UNSAFE
    assert "data_race" in cell.findings


def test_a_shim_call_outside_every_block_is_out_of_bounds(tmp_path):
    path = tmp_path / "shim_past_flow.c"
    path.write_text(PAST_FLOW.read_text().replace(
        "    ((UCHAR *)Flow)[sizeof(FLOW_CONTEXT) + 64] = 1; /* 64 bytes past the flow */\n",
        "    InterlockedIncrement((LONG *)((UCHAR *)Flow + sizeof(FLOW_CONTEXT) + 64));\n"))
    res = run_batch(str(path), get_scenario("lingering-rst"), 10)
    assert res.by_kind.get("out_of_bounds") == 10


def test_stress_mode_checks_plain_accesses_too():
    from kernel_model import stress

    res = stress(str(PAST_FLOW), 200, 2, seed=1)
    assert "out_of_bounds" in {v.kind for v in res.violations}


def test_gnu_atomics_are_atomic_scheduling_points(tmp_path):
    text = (Path(__file__).parents[2] / "c_src" / "variants" / "assoc_count.c").read_text()
    text = text.replace("InterlockedIncrement(&Flow->RefCount);",
                        "__atomic_add_fetch(&Flow->RefCount, 1, __ATOMIC_SEQ_CST);")
    text = text.replace("if (InterlockedDecrement(&Flow->RefCount) == 0)",
                        "if (__atomic_sub_fetch(&Flow->RefCount, 1, __ATOMIC_ACQ_REL) == 0)")
    path = tmp_path / "gnu_atomics.c"
    path.write_text(text)
    res = explore(str(path), "lingering-rst", strategy="dfs", minimise=False)
    assert res.complete and not res.violations, [v.detail for v in res.violations]
    outcome = run(str(path), get_scenario("lingering-rst"), seed=1)
    assert any(s.op == "AtomicRMW" and "RefCount" in s.obj for s in outcome.steps)


def test_a_128_bit_atomic_is_refused_with_a_clear_message(tmp_path):
    text = UNDER_LOCK.read_text().replace(
        "VOID FlowVariantSweep(VOID) {}",
        "__int128 g_Wide;\nVOID FlowVariantSweep(VOID) { __atomic_fetch_add(&g_Wide, 1, 5); }")
    bad = tmp_path / "wide_atomic.c"
    bad.write_text(text)
    proc = subprocess.run(["flowrace", "run", "--driver", str(bad), "--scenario",
                           "lingering-rst", "--seed", "1"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "__tsan_atomic128_fetch_add" in proc.stderr
    assert f"wide_atomic.c:{line_of(bad, '__atomic_fetch_add')}" in proc.stderr
