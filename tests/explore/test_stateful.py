"""dfs-stateful (a visited set of state fingerprints) as a user drives it, and against the
stateless dfs: the same finding kinds — data races included, which the fingerprint must
not lose by forgetting history — on proposals the harness did not generate."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from compare.scenarios import rst_storm
from kernel_model import Actor, Delete, Flow, LatePacket, Scenario
from kernel_model.explore import explore
from kernel_model.explore._engine import Dfs, Target

ROOT = Path(__file__).resolve().parents[2]
KERNEL = ROOT / "tests" / "kernel"
sys.path.insert(0, str(KERNEL))
from test_instrumentation import MICRO, MIXED, PAIR, two_deletes  # noqa: E402

sys.path.remove(str(KERNEL))
PROPOSALS = KERNEL / "proposals"


def flowrace(*args):
    return subprocess.run([sys.executable, "-m", "compare.cli", *args], capture_output=True,
                          text=True, timeout=300)


def kinds(driver, scenario, **kw):
    st = Dfs(Target.make(str(driver), scenario), count_interleavings=False, **kw).run(
        max_executions=2_000_000)
    assert st.complete and not st.step_bound_hit
    return set(st.by_kind), st


def both(driver, scenario):
    dfs, _ = kinds(driver, scenario, reduction=True)
    stateful, st = kinds(driver, scenario, stateful=True)
    return dfs, stateful, st


@pytest.mark.parametrize("mode, ordered", [
    ("LOCK", False), ("NOLOCK", False), ("INTERLOCKED", False), ("VOLATILE_FLAG", False),
    ("FAILED_CAS", False), ("EVENTS", True), ("EVENTS", False)])
def test_data_races_of_each_synchronisation_as_the_dfs_finds_them(tmp_path, mode, ordered):
    """The race detector's history (vector clocks) is not state, yet its reports depend on
    it: the stateful search holds it as orders of epochs once a plain access was seen.
    A relaxed (volatile) flag orders nothing: a race the accesses' co-enabledness alone
    would not show."""
    path = tmp_path / f"pair_{mode.lower()}.c"
    path.write_text(f"#define {mode}\n" + PAIR)
    dfs, stateful, st = both(path, two_deletes(ordered))
    assert stateful == dfs
    assert ("data_race" in dfs) == (mode in ("NOLOCK", "VOLATILE_FLAG", "FAILED_CAS")
                                    or (mode == "EVENTS" and not ordered))
    assert st.restarts >= 1  # the variant's globals g_Data/g_Flag joined the fingerprint


@pytest.mark.parametrize("name", ["plain_assoc_decrement", "plain_state_under_lock",
                                  "volatile_check_then_act", "plain_read_after_free"])
def test_plain_access_proposals_as_the_dfs_finds_them(name):
    dfs, stateful, _ = both(PROPOSALS / f"{name}.c", "split-deletes")
    assert stateful == dfs
    if name == "plain_assoc_decrement":
        assert "data_race" in stateful


@pytest.mark.parametrize("scenario", MICRO, ids=[s.name for s in MICRO])
def test_mixed_sizes_as_the_dfs_finds_them(tmp_path, scenario):
    path = tmp_path / "mixed_sizes.c"
    path.write_text(MIXED)
    dfs, stateful, _ = both(path, scenario)
    assert stateful == dfs


@pytest.mark.parametrize("driver", [
    "original", "assoc-count", *(pytest.param(d, marks=pytest.mark.slow) for d in (
        "retry", "retry-bounded", "retry-bounded-sweep", "flow-lock-inverted"))])
def test_built_ins_on_two_flows_as_the_dfs_finds_them(driver):
    dfs, stateful, st = both(driver, rst_storm(2, 1))
    assert stateful == dfs
    assert st.states > 0 and st.revisits > 0


GLOBAL_GATE = r"""
#include "flowdata.h"
/* A late packet that finds the flow marks a global; a delete that sees the mark leaves
 * the flow where it is (a bug): the leak depends on a global the engine was never told
 * about, and on nothing else the two orders leave behind. */
LONG g_Seen;

VOID FlowVariantInitialize(PFLOW_CONTEXT Flow, ULONG Associations)
{
    Flow->RefCount = 1 + (LONG)Associations;
    Flow->AssocCount = (LONG)Associations;
    Flow->State = FLOW_STATE_OPEN;
    g_Seen = 0;
}

static VOID Release(PFLOW_CONTEXT Flow)
{
    if (InterlockedDecrement(&Flow->RefCount) == 0)
        FlowFree(Flow);
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
    InterlockedExchange(&g_Seen, 1);
    return NULL;
}

VOID FlowVariantDeleteNotify(PFLOW_CONTEXT Flow, ULONG Association)
{
    UNREFERENCED_PARAMETER(Association);
    if (InterlockedDecrement(&Flow->AssocCount) == 0 &&
        InterlockedCompareExchange(&g_Seen, 0, 0) == 0)
        FlowTableMoveToClosed(Flow);
    Release(Flow);
}

VOID FlowVariantClosedDrained(PFLOW_CONTEXT Flow) { Release(Flow); }
VOID FlowVariantSweep(VOID) {}
"""


def test_a_variants_own_global_is_state(tmp_path):
    """Two late packets on one CPU, each setting the global, and a delete on another: the
    states after 'one packet, then the delete's decrement' differ only in the global."""
    path = tmp_path / "global_gate.c"
    path.write_text(GLOBAL_GATE)
    sc = Scenario(name="gate", description="", flows=[Flow(cookie=1, associations=1)],
                  actors=[Actor("cpu0", 0, [LatePacket(0, "data"), LatePacket(0, "data")]),
                          Actor("cpu1", 1, [Delete(0, 0)])])
    dfs, stateful, st = both(path, sc)
    assert stateful == dfs == {"leak"}
    assert st.restarts >= 1


def test_cli_finds_minimises_and_replays(tmp_path):
    proc = flowrace("explore", "--driver", "original", "--scenario", "lingering-rst",
                    "--strategy", "dfs-stateful", "--json", "--out", str(tmp_path / "out"),
                    "--no-pictures")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["complete"] is True and doc["strategy"] == "dfs-stateful"
    assert [v["kind"] for v in doc["violations"]] == ["leak"]
    assert doc["states"] > 0 and doc["visited_bytes"] > 0 and doc["revisits"] > 0
    cex = doc["counterexamples"][0]
    assert cex["preemptions"] <= cex["found_preemptions"] and cex["minimality"]
    again = flowrace("replay", doc["counterexample"], "--json")
    assert again.returncode == 1
    assert [v["kind"] for v in json.loads(again.stdout)["violations"]] == ["leak"]


def test_cli_human_output_and_proof(tmp_path):
    proc = flowrace("explore", "--driver", "assoc-count", "--scenario", "split-deletes",
                    "--strategy", "dfs-stateful", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "every execution covered, up to the order of independent steps" in proc.stdout
    assert "distinct states" in proc.stdout


def test_cli_refuses_a_preemption_bound(tmp_path):
    proc = flowrace("explore", "--driver", "original", "--scenario", "lingering-rst",
                    "--strategy", "dfs-stateful", "--preemption-bound", "2", "--out",
                    str(tmp_path))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_jobs_and_state_graph(tmp_path):
    one = explore("original", "lingering-rst", strategy="dfs-stateful", minimise=False)
    two = explore("original", "lingering-rst", strategy="dfs-stateful", jobs=2,
                  minimise=False)
    assert one.complete and two.complete and one.kinds == two.kinds == {"leak"}
    graph = explore("original", "lingering-rst", strategy="dfs-stateful", state_graph=True,
                    minimise=False).graph.summary()
    assert graph["states"] > 10 and graph["terminal_states_with_violations"] > 0


def test_jobs_do_not_multiply_the_states():
    """--jobs split the search into schedule-prefix shards, each with a visited set of its
    own: every state two shards share was explored once per shard (original x
    split-deletes: 621k states with 2 processes, 5k with one; last-ref: 92 s against
    under one). The stateful search runs whole in one worker: the same states, and the
    same verdict on whether the reduction held."""
    one = explore("original", "split-deletes", strategy="dfs-stateful", minimise=False)
    two = explore("original", "split-deletes", strategy="dfs-stateful", jobs=2,
                  minimise=False)
    assert one.complete and two.complete and one.kinds == two.kinds == {"leak"}
    assert two.details["states"] == one.details["states"]
    assert two.details["reduced"] is True


def test_a_budget_leaves_it_inconclusive():
    res = explore("assoc-count", rst_storm(2, 2), strategy="dfs-stateful", max_executions=2000,
                  minimise=False)
    assert not res.complete and res.details["states"] > 0


def test_searches_of_scenarios_with_more_actors_one_after_another():
    """The summaries at cuts are as wide as the scenario has actors: a search after one on
    a scenario with fewer actors once wrote them past the end of their buffer (heap
    corruption, the process aborted). In a child process, with glibc's checking allocator
    (an overrun shows at the next free): a crash must not take the test session with it."""
    code = (
        "from kernel_model.explore._engine import Dfs, Target\n"
        "runs = [(d, s) for d in ('retry', 'retry-bounded') for s in ('lingering-rst',"
        " 'split-deletes', 'preempted-holder')] + [('retry-bounded-sweep', 'lingering-rst'),"
        " ('retry-bounded-sweep', 'split-deletes')]\n"
        "for d, s in runs:\n"
        "    st = Dfs(Target.make(d, s), count_interleavings=False, stateful=True).run(0, 60)\n"
        "    assert st.complete and st.reduced, (d, s)\n"
        "print('ok')\n")
    env = {**os.environ, "MALLOC_CHECK_": "3", "LD_PRELOAD": "libc_malloc_debug.so.0"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


@pytest.mark.slow
def test_the_same_search_gives_the_same_figures_in_every_run():
    """The summaries at cuts keep memory words as bits of a mask; hashed from raw
    addresses, where the pool and the globals land (address-space randomisation) changed
    which words collide, so the states of rst-storm 2 x 2 differed between two runs of one
    command (270,446 or 276,518). Now from addresses stable within a build."""
    code = ("from compare.scenarios import rst_storm\n"
            "from kernel_model.explore._engine import Dfs, Target\n"
            "st = Dfs(Target.make('assoc-count', rst_storm(2, 2)), count_interleavings=False,"
            " stateful=True).run(0, 120)\n"
            "print(st.complete, st.states, st.executions)\n")
    Target.make("assoc-count", rst_storm(2, 2))  # built once, before the children race to
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
             for _ in range(4)]
    outs = {p.communicate(timeout=600)[0].strip() for p in procs}
    assert len(outs) == 1 and next(iter(outs)).startswith("True "), outs


def test_a_search_gives_the_same_figures_whatever_ran_before_it():
    """The burst counters (how many yields the running burst made, whether it was alone)
    were hashed after the burst ended, and an execution began with the last one's: the
    fingerprint held history from the execution before, so retry on lingering-rst gave
    2,518, 2,551 or 2,388 states depending on the searches run before it in the process."""
    from kernel_model.scenarios import get_scenario

    def figures(name):
        st = Dfs(Target.make("retry", get_scenario(name)), count_interleavings=False,
                 stateful=True).run(0, 120)
        assert st.complete
        return st.states, st.executions

    first = figures("lingering-rst")
    for other in ("preempted-holder", "split-deletes", "late-packets"):
        figures(other)  # (each leaves its last execution's burst behind)
        assert figures("lingering-rst") == first


def test_other_executions_between_slices_of_a_search_change_nothing():
    """The stateful search resumes executions at checkpoints of its path, whose appended
    parts (trace, records, violations) and stacks it leaves where the executions wrote
    them. A run of something else between two slices of the search (a replay of a
    counterexample, say) overwrites those: the search must then replay, and give the
    figures it gives alone. (One search at a time: a Dfs is the process's explorer.)"""
    from kernel_model import run
    from kernel_model.scenarios import get_scenario

    sc = get_scenario("split-deletes")
    target = Target.make("retry", sc)

    def search(between):
        dfs = Dfs(target, count_interleavings=False, stateful=True)
        while True:
            st = dfs.run(max_executions=200)
            if st.complete:
                return st.states, st.executions, st.steps, st.by_kind, st.resumed > 0
            between()

    alone = search(lambda: None)
    other = get_scenario("late-packets")

    def others():
        run(target.variant, other, seed=7)

    assert search(others) == alone
    assert alone[-1]  # (it did resume)


def test_cli_no_reduction_cross_checks_the_reduced_search(tmp_path):
    """--no-reduction: the plain graph search over every reachable state, to cross-check
    the reduced one from the command line: the same findings, more states, and the
    output says which search it was."""
    docs = {}
    for flag in ((), ("--no-reduction",)):
        proc = flowrace("explore", "--driver", "original", "--scenario", "split-deletes",
                        "--strategy", "dfs-stateful", "--json", "--no-pictures",
                        "--out", str(tmp_path / "out"), *flag)
        assert proc.returncode == 1, proc.stderr
        docs[flag] = json.loads(proc.stdout)
    reduced, plain = docs[()], docs[("--no-reduction",)]
    assert reduced["complete"] and plain["complete"]
    assert reduced["reduced"] is True and plain["reduced"] is False
    assert [v["kind"] for v in reduced["violations"]] == [v["kind"] for v in plain["violations"]]
    assert plain["states"] > reduced["states"]
    human = flowrace("explore", "--driver", "assoc-count", "--scenario", "split-deletes",
                     "--strategy", "dfs-stateful", "--no-reduction", "--out", str(tmp_path))
    assert human.returncode == 0 and "every reachable state explored" in human.stdout


def test_cli_no_reduction_is_for_the_exhaustive_searches(tmp_path):
    proc = flowrace("explore", "--driver", "original", "--scenario", "lingering-rst",
                    "--strategy", "random", "--no-reduction", "--out", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("flowrace: error: --no-reduction applies to the dfs and "
                                   "dfs-stateful strategies")


TOGGLE = """
static LONG g_Toggle;
VOID FlowVariantClassifyDereference(PFLOW_CONTEXT Flow)
{
    for (;;) { /* no end, and no yield: the same two states for ever */
        InterlockedExchange(&g_Toggle, 1);
        InterlockedExchange(&g_Toggle, 0);
    }
"""


@pytest.mark.parametrize("flags", [(), ("--no-reduction",)], ids=["reduced", "plain"])
def test_an_execution_with_no_end_is_a_livelock_not_a_proof(tmp_path, flags):
    """A loop that never yields comes back to a state it was in: the stateful search cut
    it there as "seen before" and called the search complete with nothing found, where
    dfs (which runs it into the step bound) reports a livelock. A cycle on the search
    path is an execution with no end: a livelock, with the path and the cycle repeated
    to the step bound as its counterexample, which replays."""
    source = (ROOT / "c_src" / "variants" / "assoc_count.c").read_text()
    head = "VOID FlowVariantClassifyDereference(PFLOW_CONTEXT Flow)\n{"
    assert head in source
    path = tmp_path / "toggle.c"
    path.write_text(source.replace(head, TOGGLE.strip()))
    proc = flowrace("explore", "--driver", str(path), "--scenario", "lingering-rst",
                    "--strategy", "dfs-stateful", "--json", "--no-pictures",
                    "--out", str(tmp_path / "out"), *flags)
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert [v["kind"] for v in doc["violations"]] == ["livelock"]
    again = flowrace("replay", doc["counterexample"], "--json")
    assert again.returncode == 1
    assert [v["kind"] for v in json.loads(again.stdout)["violations"]] == ["livelock"]


def test_a_ucontext_build_refuses_the_stateful_search(tmp_path):
    """Where the engine switches coroutines with ucontext (sanitizer builds, other
    architectures), callee-saved registers live in the saved context, not on the stack
    the fingerprint reads: a loop counter held in one would make two states look alike
    (a wrong cut, or a cycle that is not one). Such a build says so and points to dfs,
    which it still runs."""
    from kernel_model.errors import FlowraceError
    from kernel_model.variants import Variant, _compile, _register_callback, _sha

    source = ROOT / "c_src" / "variants" / "assoc_count.c"
    module = _compile(source, "ucontext_assoc_count", ["-DFR_USE_UCONTEXT"])
    variant = Variant("assoc-count-ucontext", source, module.ffi, module.lib, False,
                      _sha(source), module_path="")
    _register_callback(variant)
    with pytest.raises(FlowraceError, match="dfs-stateful needs the engine's own context "
                                            "switch .* use dfs"):
        Dfs(Target.make(variant, "lingering-rst"), stateful=True)
    st = Dfs(Target.make(variant, "lingering-rst"), count_interleavings=False).run(0, 120)
    assert st.complete and not st.by_kind
