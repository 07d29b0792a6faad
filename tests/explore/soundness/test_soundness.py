"""The reduction against the search without it, on generated programs.

A `complete` dfs is a proof over every interleaving, so every mechanism that prunes
(sleep sets, source sets, bursts and their forced steps, spin waits, wide spins, the
lock-aware race test) must lose nothing. The built-in variants are what the explorer
was tuned on; here hypothesis generates small driver variants (gen.py) and micro
scenarios, and each is explored twice: reduced, and without reduction (unbounded when
that is affordable, else preemption-bounded). The two must reach the same finding
kinds and the same final states (with a bound: everything the bounded full search
reaches, the reduced one reaches too).

A failing program is written out as a C proposal and its scenario as Python (the
assertion names the folder; FLOWRACE_SOUNDNESS_OUT chooses it). The number of programs
is FLOWRACE_SOUNDNESS_EXAMPLES (default 200; nightly: thousands).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

from kernel_model import load_variant
from kernel_model.explore._engine import Dfs, Target, kinds_of

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("flowrace_soundness_gen", HERE / "gen.py")
gen = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = gen
_spec.loader.exec_module(gen)

EXAMPLES = int(os.environ.get("FLOWRACE_SOUNDNESS_EXAMPLES", "200"))
FULL_CAP = int(os.environ.get("FLOWRACE_SOUNDNESS_FULL_CAP", "40000"))
REDUCED_CAP = 200_000
BOUNDS = (None, 3, 2, 1)
OUT = Path(os.environ.get("FLOWRACE_SOUNDNESS_OUT")
           or Path(tempfile.gettempdir()) / "flowrace-soundness")


def interp():
    return load_variant(HERE / "interp.c")


class Search:
    """One dfs: its status, finding kinds, and the final states it reached."""

    def __init__(self, target: Target, *, reduction: bool, bound: int | None, cap: int,
                 **dfs):
        lib, ffi = target.lib, target.ffi
        lib.fr_graph_reset(1 << 22)
        self.dfs = Dfs(target, reduction=reduction, preemption_bound=bound,
                       count_interleavings=False, record_states=True, **dfs)
        self.status = self.dfs.run(cap)
        self.kinds = set(self.status.by_kind)
        node = ffi.new("FR_GRAPH_NODE *")
        self.finals: set[int] = set()
        self.ends: set[int] = set()  # the finals without history: what a stateful search keeps
        for i in range(lib.fr_graph_nodes()):
            lib.fr_graph_node(i, node)
            # two livelocks told apart only by fruitless spins before them count as one
            if node.terminal and "livelock" not in kinds_of(node.kinds):
                self.finals.add(int(node.hash))
                self.ends.add(int(node.end_hash))
        self.complete = self.status.complete and not lib.fr_graph_truncated()


def explore_both(program, scenario, driver=None, cap: int = FULL_CAP,
                 bounds=BOUNDS) -> tuple[Search, Search, int | None]:
    """The reduced search and the largest affordable full one (and its bound)."""
    os.environ["FLOWRACE_GEN_PROGRAM"] = program.encode()
    target = Target.make(driver or interp(), scenario, max_steps=3000)
    reduced = Search(target, reduction=True, bound=None, cap=REDUCED_CAP)
    for bound in bounds:
        full = Search(target, reduction=False, bound=bound, cap=cap)
        if full.complete:
            return reduced, full, bound
    return reduced, full, -1


def write_out(program, scenario, why: str) -> Path:
    key = hashlib.sha256((program.encode() + repr(scenario)).encode()).hexdigest()[:12]
    folder = OUT / key
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "program.c").write_text(program.to_c(f"soundness counterexample {key}: {why}"))
    (folder / "scenario.py").write_text(gen.scenario_source(scenario))
    (folder / "program.txt").write_text(program.encode())  # FLOWRACE_GEN_PROGRAM for interp.c
    return folder


def check(program, scenario, generated: bool = True) -> None:
    reduced, full, bound = explore_both(program, scenario)
    if generated:
        assume(bound != -1)  # not even the 1-bounded full search fits the budget
    assert bound != -1, "not even the 1-bounded full search fits the budget"
    assert reduced.complete, "the reduced search did not finish on a micro program"
    if bound is None:
        ok = reduced.kinds == full.kinds and reduced.finals == full.finals
    else:
        ok = full.kinds <= reduced.kinds and full.finals <= reduced.finals
    if not ok:
        why = (f"full search (bound {bound}) kinds {sorted(full.kinds)}, "
               f"{len(full.finals)} final states; reduced {sorted(reduced.kinds)}, "
               f"{len(reduced.finals)}; final states the reduced search missed: "
               f"{len(full.finals - reduced.finals)}")
        folder = write_out(program, scenario, why)
        pytest.fail(f"the reduction lost executions: {why}. Replay: {folder}/program.c "
                    f"with the scenario in {folder}/scenario.py")


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(program=gen.programs(), scenario=gen.scenarios())
def test_reduction_reaches_what_the_full_search_reaches(program, scenario):
    note(program.to_c())
    note(repr(scenario))
    check(program, scenario)


def _issue10_program(limit: int):
    """Bounded retry under the table lock, CLOSING and a sweep that checks the count
    outside the lock's hold, a drain that frees outright (issue 10's report)."""
    S, R, A = gen.S, gen.R, gen.A
    body = (gen.Stmt(gen.LOCKED, gen.TABLE, then=(
        gen.Stmt(gen.CAS, R, 1, 2, then=(gen.Stmt(gen.MOVEL), gen.Stmt(gen.FLAG))),)),)
    delete = (gen.Stmt(gen.DEC, A, then=(
        gen.Stmt(gen.RETRY, limit, 0, then=body),
        gen.Stmt(gen.IFFLAG, other=(gen.Stmt(gen.XCHG, S, 1), gen.Stmt(gen.DEC, R)))),
        other=(gen.Stmt(gen.DEC, R),)),)
    sweep = (gen.Stmt(gen.READ, S, 1, then=(gen.Stmt(gen.READ, R, 1, then=(
        gen.Stmt(gen.OUTSIDE, then=(gen.Stmt(gen.MOVE),)),)),)),)
    return gen.Program(ref=(gen.Stmt(gen.INC, R),), deref=(gen.Stmt(gen.DEC, R),),
                       lookup=(gen.Stmt(gen.INC, R),), delete=delete,
                       drained=(gen.Stmt(gen.FREE),), sweep=sweep)


def test_the_c_rendering_runs_like_the_interpreter(tmp_path):
    """What a developer replays is what the harness explored: the same executions,
    findings and final states from the C file as from the interpreter."""
    from kernel_model import Actor, Delete, Flow, LatePacket, Poll, Scenario

    sc = Scenario(name="g", description="", flows=[Flow(cookie=1, associations=1)],
                  actors=[Actor("cpu0", 0, [LatePacket(0, "data")]),
                          Actor("cpu1", 1, [Delete(0, 0)]), Actor("agent", 2, [Poll("c1")])])
    program = _issue10_program(2)
    src = tmp_path / "program.c"
    src.write_text(program.to_c())
    compiled = load_variant(src)
    a, _, _ = explore_both(program, sc)
    b, _, _ = explore_both(program, sc, driver=compiled)
    assert a.status.executions == b.status.executions
    assert a.kinds == b.kinds and a.finals == b.finals
    assert a.complete and b.complete


def _micro10():
    from kernel_model import Actor, Delete, Flow, LatePacket, Poll, Scenario

    return Scenario(name="g", description="", flows=[Flow(cookie=1, associations=1)],
                    actors=[Actor("cpu0", 0, [LatePacket(0, "data")]),
                            Actor("cpu1", 1, [Delete(0, 0)]),
                            Actor("cpu2", 2, [LatePacket(0, "data")]),
                            Actor("agent", 3, [Poll("c1")])])


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 8])
def test_issue10_shape_on_a_micro_scenario(limit):
    """The shape that dfs once proved correct: the reduction lost the interleaving where
    the bounded retry gives up (a burst) while the late packet still holds the flow,
    because a step inside the packet's critical section counted as a race with the
    retry's lock acquisition. The reduced search finds the use after free."""
    os.environ["FLOWRACE_GEN_PROGRAM"] = _issue10_program(limit).encode()
    reduced = Search(Target.make(interp(), _micro10(), max_steps=3000), reduction=True,
                     bound=None, cap=REDUCED_CAP)
    assert reduced.complete and "use_after_free" in reduced.kinds


def test_issue10_shape_agrees_with_the_full_search():
    reduced, full, bound = explore_both(_issue10_program(1), _micro10(), cap=400_000,
                                        bounds=(3,))
    assert bound == 3 and "use_after_free" in full.kinds
    assert full.kinds <= reduced.kinds and full.finals <= reduced.finals


def test_a_burst_whose_last_try_reads_a_new_word():
    """Regression: a burst's later steps raced with nothing, on the ground that the
    burst's first step waits on their words. A retry whose last try reads the state
    (which the tries before did not) reads it in a forced step, so the late packet's
    write of the state was never placed after it, and the leak (the burst reads the
    state before the packet marks it, and gives up) was missed."""
    from kernel_model import Actor, Delete, Flow, LatePacket, Scenario

    S, R, A, Stmt = gen.S, gen.R, gen.A, gen.Stmt
    free = (Stmt(gen.DEC, R, then=(Stmt(gen.FREE),)),)
    tries = Stmt(gen.RETRY, 2, 0, then=(Stmt(gen.READ, R, 2, then=(Stmt(gen.FLAG),)),),
                 other=(Stmt(gen.READ, S, 1, then=(Stmt(gen.FLAG),)),))
    program = gen.Program(
        ref=(Stmt(gen.INC, R),), deref=(Stmt(gen.XCHG, S, 1), *free),
        lookup=(Stmt(gen.INC, R),),
        delete=(Stmt(gen.DEC, A, then=(tries, Stmt(gen.IFFLAG, then=(Stmt(gen.MOVE),)))),
                *free),
        drained=free, sweep=())
    sc = Scenario(name="g", description="", flows=[Flow(cookie=1, associations=1)],
                  actors=[Actor("cpu0", 0, [LatePacket(0, "data")]),
                          Actor("cpu1", 1, [Delete(0, 0)])])
    reduced, full, bound = explore_both(program, sc)
    assert bound is None and full.kinds == {"leak"}
    assert reduced.kinds == full.kinds and reduced.finals == full.finals


def test_a_plain_decrement_against_an_interlocked_increment_of_the_same_count():
    """Found by the harness once plain accesses were generated: a delete that decrements
    the association count plainly (`--*(LONG *)&Flow->AssocCount`) against a late
    packet's lookup that increments it with InterlockedIncrement. The full search reached
    6 final states, the reduced one 5: not a lost interleaving but the race detector,
    which kept one record per actor and 8-byte word, so the packet's later decrement of
    RefCount (the word's other half, after a release) hid its increment of AssocCount,
    and the data race was reported in one order of two commuting steps and not in the
    other (race.c now keeps the latest access per byte)."""
    from kernel_model import Actor, Delete, Flow, LatePacket, Scenario

    R, A, Stmt = gen.R, gen.A, gen.Stmt
    free = (Stmt(gen.DEC, R, then=(Stmt(gen.FREE),)),)
    program = gen.Program(ref=(Stmt(gen.INC, R),), deref=free, lookup=(Stmt(gen.INC, A),),
                          delete=(Stmt(gen.PDEC, A, then=(Stmt(gen.MOVE),)), *free),
                          drained=free, sweep=())
    sc = Scenario(name="g", description="", flows=[Flow(cookie=1, associations=1)],
                  actors=[Actor("cpu0", 0, [LatePacket(0, "data", bytes=100)]),
                          Actor("cpu1", 1, [Delete(0, 0)])])
    reduced, full, bound = explore_both(program, sc)
    assert bound is None
    assert reduced.kinds == full.kinds and reduced.finals == full.finals


def test_the_generator_exercises_every_mechanism():
    """Every pruning mechanism of the explorer meets generated programs: retries bounded
    and not (bursts, fruitless bursts, livelocks), with either spin hint, a lock taken
    in each try (lock-aware races), a last try that reads a word the others did not
    (a burst's forced step on a new word), a try that reads the lists (a wide spin and
    the search's restart), claims, sweeps, frees."""
    seen: set[str] = set()

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None)
    @given(gen.programs())
    def collect(program):
        seen.update(gen.features(program))

    collect()
    assert seen >= gen.ALL_FEATURES, gen.ALL_FEATURES - seen


@settings(max_examples=max(EXAMPLES // 5, 10), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(program=gen.programs(), scenario=gen.scenarios(), depth=st.integers(1, 12))
def test_shards_together_reach_what_one_search_reaches(program, scenario, depth):
    """--jobs splits dfs into schedule-prefix shards (each with the sleep set its prefix
    ends in); together they find the same kinds and final states as one search."""
    os.environ["FLOWRACE_GEN_PROGRAM"] = program.encode()
    target = Target.make(interp(), scenario, max_steps=3000)
    one = Search(target, reduction=True, bound=None, cap=REDUCED_CAP)
    assume(one.complete)
    spins = one.dfs.spin_ops()  # what the probe tells the shards
    split = Search(target, reduction=True, bound=None, cap=0, split_depth=depth,
                   spin_ops=spins)
    kinds, finals = set(split.kinds), set(split.finals)  # executions above the split
    for prefix, sleep in split.dfs.shards():
        part = Search(target, reduction=True, bound=None, cap=REDUCED_CAP, prefix=prefix,
                      prefix_sleep=sleep, spin_ops=spins)
        assert part.complete
        kinds |= part.kinds
        finals |= part.finals
    if kinds != one.kinds or finals != one.finals:
        folder = write_out(program, scenario, f"shards at depth {depth} differ")
        pytest.fail(f"the shards at depth {depth} found {sorted(kinds)} and {len(finals)} "
                    f"final states, one search {sorted(one.kinds)} and {len(one.finals)}: "
                    f"{folder}")


def test_a_retry_whose_last_try_yields_ends_its_operation():
    """Regression (found by the harness with 1000 programs): a bounded retry whose last
    try yields and then leaves the loop. The engine took that yield for a spin wait that
    outlived the operation (the CPU still "waiting" when its callback had returned), so
    the same final state counted as two, told apart only by whether another CPU had
    written the finished spinner's words, and the reduced search reached one of them."""
    from kernel_model import Actor, Delete, Flow, LatePacket, Scenario

    S, R, A, Stmt = gen.S, gen.R, gen.A, gen.Stmt
    free = (Stmt(gen.DEC, R, then=(Stmt(gen.FREE),)),)
    tries = Stmt(gen.RETRY, 1, 0, then=(Stmt(gen.LOCKED, gen.TABLE, then=(
        Stmt(gen.FIND, other=(Stmt(gen.FLAG),)),)),))
    program = gen.Program(ref=(Stmt(gen.INC, R),), deref=free, lookup=(Stmt(gen.INC, R),),
                          delete=(Stmt(gen.DEC, A, then=(Stmt(gen.XCHG, S, 1), tries)),),
                          drained=free, sweep=())
    sc = Scenario(name="g", description="", flows=[Flow(cookie=1, associations=1)],
                  actors=[Actor("cpu0", 0, [LatePacket(0, "data", bytes=100)]),
                          Actor("cpu1", 1, [Delete(0, 0)])])
    reduced, full, bound = explore_both(program, sc)
    assert bound is None and full.kinds == {"leak"}
    assert reduced.kinds == full.kinds and reduced.finals == full.finals


# ---- the stateful search (dfs-stateful: a visited set of states, no reduction) -------------
def check_stateful(program, scenario, generated: bool = True, reduction: bool = False) -> None:
    """The stateful search (with or without its reduction) against the full stateless one:
    the same finding kinds and the same final states (with a bound on the full search:
    everything it reaches)."""
    os.environ["FLOWRACE_GEN_PROGRAM"] = program.encode()
    target = Target.make(interp(), scenario, max_steps=3000)
    stateful = Search(target, reduction=reduction, bound=None, cap=REDUCED_CAP, stateful=True)
    for bound in BOUNDS:
        full = Search(target, reduction=False, bound=bound, cap=FULL_CAP)
        if full.complete:
            break
    else:
        bound = -1
    if generated:
        assume(bound != -1)
    assert bound != -1, "not even the 1-bounded full search fits the budget"
    assert stateful.complete and not stateful.status.step_bound_hit, \
        "the stateful search did not finish on a micro program"
    # (final states without history: a stateful search merges the paths to one state)
    if bound is None:
        ok = stateful.kinds == full.kinds and stateful.ends == full.ends
    else:
        ok = full.kinds <= stateful.kinds and full.ends <= stateful.ends
    if not ok:
        why = (f"full search (bound {bound}) kinds {sorted(full.kinds)}, "
               f"{len(full.ends)} final states; stateful {sorted(stateful.kinds)}, "
               f"{len(stateful.ends)}; missed: {len(full.ends - stateful.ends)}")
        folder = write_out(program, scenario, why)
        pytest.fail(f"the stateful search (reduction {reduction}) lost executions: {why}. "
                    f"Replay: {folder}/program.c with the scenario in {folder}/scenario.py")


@pytest.mark.slow
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(program=gen.programs(plain=True), scenario=gen.scenarios())
def test_stateful_reaches_what_the_full_search_reaches(program, scenario):
    """Generated programs with every mechanism (bounded and unbounded retries, locks in each
    try, wide spins, claims, sweeps, frees) and plain and volatile accesses (data races:
    the stateful fingerprint holds the race detector's state once a plain access was
    seen)."""
    note(program.to_c())
    note(repr(scenario))
    check_stateful(program, scenario)


@pytest.mark.slow
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(program=gen.programs(plain=True), scenario=gen.scenarios())
def test_reduced_stateful_reaches_what_the_full_search_reaches(program, scenario):
    """The same with the stateful search's partial-order reduction (persistent sets, and
    at each cut the races with every step below the visited state): what dfs-stateful
    runs by default."""
    note(program.to_c())
    note(repr(scenario))
    check_stateful(program, scenario, reduction=True)


def check_checkpoints(program, scenario, reduction: bool) -> int:
    """The stateful search resumes each execution at the checkpoint of the step it tries
    next (engine/checkpoint.c) instead of replaying the path there: a checkpoint that
    missed a piece of the execution's state would explore from a state the path does
    not reach. The same search, once replaying and comparing the state replayed with
    each checkpoint it would have resumed at (a difference is an error), once resuming:
    the same figures, findings and final states."""
    os.environ["FLOWRACE_GEN_PROGRAM"] = program.encode()
    target = Target.make(interp(), scenario, max_steps=3000)
    replayed = Search(target, reduction=reduction, bound=None, cap=REDUCED_CAP, stateful=True,
                      checkpoint_check=True)
    resumed = Search(target, reduction=reduction, bound=None, cap=REDUCED_CAP, stateful=True)
    a, b = replayed.status, resumed.status
    assert (a.states, a.executions, a.steps, a.complete, a.restarts) == \
        (b.states, b.executions, b.steps, b.complete, b.restarts)
    assert replayed.kinds == resumed.kinds and replayed.finals == resumed.finals
    assert a.resumed == 0
    return b.resumed


@settings(max_examples=max(EXAMPLES // 2, 10), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(program=gen.programs(), scenario=gen.scenarios(), reduction=st.booleans())
def test_a_search_resumed_at_checkpoints_is_the_search_that_replays(program, scenario,
                                                                     reduction):
    note(program.to_c())
    note(repr(scenario))
    check_checkpoints(program, scenario, reduction)


@pytest.mark.parametrize("reduction", [True, False], ids=["reduced", "plain"])
def test_checkpoints_on_a_spinning_retry(reduction):
    """A bounded retry that spins (bursts, waits, the write log) on two deletes and a
    packet: the search resumes most of its executions, and they are the ones it replays."""
    sc = _micro10()
    assert check_checkpoints(_issue10_program(3), sc, reduction) > 100


def test_stateful_on_the_known_reduction_loss():
    """The program on which the reduced dfs once lost a final state (a plain decrement
    against an interlocked increment of the same count): the stateful search does not."""
    from kernel_model import Actor, Delete, Flow, LatePacket, Scenario

    R, A, Stmt = gen.R, gen.A, gen.Stmt
    free = (Stmt(gen.DEC, R, then=(Stmt(gen.FREE),)),)
    program = gen.Program(ref=(Stmt(gen.INC, R),), deref=free, lookup=(Stmt(gen.INC, A),),
                          delete=(Stmt(gen.PDEC, A, then=(Stmt(gen.MOVE),)), *free),
                          drained=free, sweep=())
    sc = Scenario(name="g", description="", flows=[Flow(cookie=1, associations=1)],
                  actors=[Actor("cpu0", 0, [LatePacket(0, "data", bytes=100)]),
                          Actor("cpu1", 1, [Delete(0, 0)])])
    check_stateful(program, sc, generated=False)


def test_stateful_final_states_are_history_free():
    """Found by the harness: a final state once counted how many steps each actor's last
    operation took (history), so the full search told apart final states that the
    stateful one rightly merged (a preempted worker, the delete DPC on its CPU, a poll
    that read the flow or not)."""
    from kernel_model import Actor, Delete, Flow, LatePacket, Poll, Scenario

    R, Stmt = gen.R, gen.Stmt
    free = (Stmt(gen.DEC, R, then=(Stmt(gen.FREE),)),)
    program = gen.Program(ref=(Stmt(gen.INC, R),), deref=free, lookup=(Stmt(gen.INC, R),),
                          delete=(Stmt(gen.CAS, R, 2, 2, then=(Stmt(gen.MOVE),)), *free),
                          drained=free, sweep=())
    sc = Scenario(name="g", description="", flows=[Flow(cookie=1, associations=1)],
                  actors=[Actor("cpu0", 1, [LatePacket(0, "data", bytes=100, irql="passive")]),
                          Actor("cpu1", 1, [Delete(0, 0)]), Actor("agent", 3, [Poll("c1")])])
    check_stateful(program, sc, generated=False)


def _worker_and_two_deletes():
    """A PASSIVE worker's late packet and the delete DPC that preempts it on CPU 1, the
    flow's other delete on CPU 2."""
    from kernel_model import Actor, Delete, Flow, LatePacket, Scenario

    return Scenario(name="g", description="", flows=[Flow(cookie=1, associations=2)],
                    actors=[Actor("cpu0", 1, [LatePacket(0, "data", bytes=100, irql="passive")]),
                            Actor("cpu1", 1, [Delete(0, 0)]), Actor("cpu2", 2, [Delete(0, 1)])])


def test_stateful_final_states_leave_out_the_steps_of_a_blocked_cpu():
    """Found by the harness at 2,500 examples: a final state also counted how many steps
    a CPU that could not finish took in its operation. The delete on cpu2 ends blocked
    on the table lock (the worker took it twice: a finding) after four steps or five,
    as it took the association count to 0 or not; same memory, same place in the code.
    The stateful search merges the two paths; the full search told the ends apart."""
    A, R, S, Stmt = gen.A, gen.R, gen.S, gen.Stmt
    free = Stmt(gen.DEC, R, then=(Stmt(gen.FREE),))
    program = gen.Program(
        ref=(Stmt(gen.INC, R),), deref=(free,), lookup=(Stmt(gen.MOVE), Stmt(gen.INC, R)),
        delete=(Stmt(gen.DEC, A, then=(Stmt(gen.XCHG, S, 1),)),
                Stmt(gen.CAS, R, 2, 2, then=(Stmt(gen.CAS, S, 2, 1, then=(Stmt(gen.MOVE),)),)),
                free),
        drained=(free,), sweep=())
    sc = _worker_and_two_deletes()
    check_stateful(program, sc, generated=False)
    check_stateful(program, sc, generated=False, reduction=True)


def test_the_execution_that_meets_the_first_plain_access_leaves_no_final_state():
    """The stateful search lets the data-race detector rest until the first plain access
    (here the delete's plain decrement of the association count), then starts over with
    it awake. The execution that met that access ran without it: its end, without the
    data race, must not count as a final state (found by the harness at 1,500 examples:
    the stateful search had one more final state than the full search)."""
    A, R, Stmt = gen.A, gen.R, gen.Stmt
    free = Stmt(gen.DEC, R, then=(Stmt(gen.FREE),))
    program = gen.Program(
        ref=(Stmt(gen.INC, R),), deref=(free,), lookup=(Stmt(gen.INC, R),),
        delete=(Stmt(gen.PDEC, A, then=(Stmt(gen.MOVE),)), free), drained=(free,), sweep=())
    sc = _worker_and_two_deletes()
    check_stateful(program, sc, generated=False)
    check_stateful(program, sc, generated=False, reduction=True)


def test_reduced_stateful_reverses_the_races_below_a_cut():
    """Found by the harness with the cut's race analysis left out: the first delete's
    compare-exchange races with the late packet's increment, which the execution cut at
    the state after the packet never ran again; the summary of what the steps below a
    visited state touch must bring that race back (two of three final states lost)."""
    from kernel_model import Actor, Delete, Flow, LatePacket, Scenario

    R, Stmt = gen.R, gen.Stmt
    program = gen.Program(
        ref=(Stmt(gen.INC, R),),
        deref=(Stmt(gen.INC, R), Stmt(gen.DEC, R, then=(Stmt(gen.FREE),))),
        lookup=(Stmt(gen.INC, R),),
        delete=(Stmt(gen.CAS, R, 2, 2, then=(Stmt(gen.MOVE),)),
                Stmt(gen.DEC, R, then=(Stmt(gen.FREE), Stmt(gen.FREE)))),
        drained=(Stmt(gen.DEC, R, then=(Stmt(gen.FREE),)),), sweep=())
    sc = Scenario(name="g", description="", flows=[Flow(cookie=1, associations=2)],
                  actors=[Actor("cpu0", 1, [LatePacket(0, "data", bytes=100, irql="passive")]),
                          Actor("cpu1", 1, [Delete(0, 0)]), Actor("cpu2", 2, [Delete(0, 1)])],
                  defer_delete=True)
    check_stateful(program, sc, generated=False, reduction=True)


def _lock_word_program(reader: tuple) -> "gen.Program":
    """cpu0's packet takes the flow's lock around an increment; the delete on cpu1 first
    writes the state, then does `reader` (which looks at the lock word)."""
    R, S, Stmt = gen.R, gen.S, gen.Stmt
    return gen.Program(
        ref=(Stmt(gen.LOCKED, gen.FLOWLOCK, then=(Stmt(gen.INC, R),)),),
        deref=(Stmt(gen.DEC, R),), lookup=(Stmt(gen.INC, R),),
        delete=(Stmt(gen.XCHG, S, 1), *reader), drained=(), sweep=())


def _lock_word_scenario():
    from kernel_model import Actor, Classify, Delete, Flow, Scenario

    # (a classify through association 1: the delete of association 0 need not wait; the
    # delete's actor first, so that the search's first execution runs the packet through)
    return Scenario(name="g", description="", flows=[Flow(cookie=1, associations=2)],
                    actors=[Actor("cpu1", 1, [Delete(0, 0)]),
                            Actor("cpu0", 0, [Classify(0, "data", bytes=60, assoc=1)])])


def test_a_release_taken_at_once_comes_back_when_its_lock_word_is_read():
    """The reduced stateful search runs a spin-lock release at once (alone, a persistent
    set) while nothing but its holders' acquisitions and releases touch the lock. A
    delete that reads the lock word as data (ReadNoFence) after an unrelated write depends
    on that release: the search sees the read only after it took releases at once, and
    must search again without them, or the state written when the read saw the lock
    held (State = 3) is lost."""
    L, S, Stmt = gen.L, gen.S, gen.Stmt
    reader = (Stmt(gen.READ, L, 0, then=(), other=(Stmt(gen.XCHG, S, 3),)),)
    check_stateful(_lock_word_program(reader), _lock_word_scenario(), generated=False,
                   reduction=True)


def test_a_release_of_a_lock_someone_else_holds_is_a_finding_in_every_search():
    """The delete releases the flow's lock, which the packet holds, then takes it and
    writes the association count the packet, still inside, reads. The explorer orders
    two steps taken under one lock (mutual exclusion); a release by a CPU that does not
    hold the lock would break that, so it is a finding (deadlock kind) and never runs.
    Before, it ran, and the stateful search that takes beginnings at once lost the
    final state where the packet read 7 (State = 3)."""
    A, R, S, Stmt = gen.A, gen.R, gen.S, gen.Stmt
    check = Stmt(gen.READ, A, 7, then=(Stmt(gen.XCHG, S, 3),))
    program = gen.Program(
        ref=(Stmt(gen.LOCKED, gen.FLOWLOCK, then=(Stmt(gen.INC, R), check)),),
        deref=(Stmt(gen.DEC, R),), lookup=(Stmt(gen.INC, R),),
        delete=(Stmt(gen.XCHG, S, 1), Stmt(gen.RELEASE, gen.FLOWLOCK),
                Stmt(gen.LOCKED, gen.FLOWLOCK, then=(Stmt(gen.XCHG, A, 7),))),
        drained=(), sweep=())
    check_stateful(program, _lock_word_scenario(), generated=False, reduction=True)


def test_a_lock_word_changed_under_its_holder_is_seen_by_the_release():
    """The packet's dereference increments the flow's lock word as data, and may do so
    while the delete holds the lock: the delete's release then finds a word that is not
    its token, a finding. The check used to run as the delete arrived at the release,
    so the step before it (the decrement of the association count) decided the outcome
    without the explorer seeing it read the lock word: the reduced dfs never put the
    increment before that decrement, and lost the final state where the release fails
    (found by the harness at 2,500 examples). The check now runs with the release."""
    A, L, R, Stmt = gen.A, gen.L, gen.R, gen.Stmt
    dec_free = Stmt(gen.DEC, R, then=(Stmt(gen.FREE),))
    program = gen.Program(
        ref=(Stmt(gen.INC, R),), deref=(Stmt(gen.INC, L), dec_free), lookup=(Stmt(gen.INC, R),),
        delete=(Stmt(gen.LOCKED, gen.FLOWLOCK, then=(Stmt(gen.DEC, A, then=(Stmt(gen.FLAG),)),)),
                Stmt(gen.IFFLAG, then=(Stmt(gen.MOVE),)), dec_free),
        drained=(dec_free,), sweep=())
    from kernel_model import Actor, Delete, Flow, LatePacket, Scenario

    scenario = Scenario(name="g", description="", flows=[Flow(cookie=1, associations=1)],
                        actors=[Actor("cpu0", 0, [LatePacket(0, "data", bytes=100)]),
                                Actor("cpu1", 1, [Delete(0, 0)])])
    check(program, scenario, generated=False)
    check_stateful(program, scenario, generated=False, reduction=True)


def test_a_double_acquire_still_holds_the_lock_it_took_before():
    """The lookup holds the table lock and moves the flow, which takes that lock again: a
    double acquire, now a step of its own (the finding is taken as it runs). Its
    footprint said it held nothing before it (as for any acquisition that took its
    lock), so the explorer took it for a race with the delete's acquisition of the
    same lock, one that cannot run beside it, and never tried the delete first: the
    reduced stateful search lost the final state where the delete moves the flow."""
    from kernel_model import Actor, Delete, Flow, LatePacket, Scenario

    R, Stmt = gen.R, gen.Stmt
    free = Stmt(gen.DEC, R, then=(Stmt(gen.FREE),))
    program = gen.Program(
        ref=(Stmt(gen.INC, R),), deref=(free,), lookup=(Stmt(gen.MOVE), Stmt(gen.INC, R)),
        delete=(Stmt(gen.CAS, R, 2, 2, then=(Stmt(gen.MOVE),)), free), drained=(free,),
        sweep=())
    scenario = Scenario(name="g", description="", flows=[Flow(cookie=1, associations=1)],
                        actors=[Actor("cpu1", 1, [Delete(0, 0)]),
                                Actor("cpu0", 0, [LatePacket(0, "data", bytes=100)])])
    check(program, scenario, generated=False)
    check_stateful(program, scenario, generated=False, reduction=True)


def test_a_free_is_dependent_with_the_cores_check_of_the_flow():
    """Found by the harness once it listed actors in any order: the delete moves the flow,
    the agent's poll drains and frees it, and the delete's second move takes the open
    table's lock, whose step checks the freed flow (use after free, double move). That
    check is the core's, not an access with a scheduling point of its own: the step's
    footprint did not hold the flow, so the free and it were independent, and the
    stateful search's reduction, with the agent listed first, never ran the free before
    it (one of four final states lost). Every checked access now notes its pool block in
    the step's footprint."""
    from kernel_model import Actor, Delete, Flow, LatePacket, Poll, Scenario

    R, Stmt = gen.R, gen.Stmt
    program = gen.Program(ref=(Stmt(gen.INC, R),), deref=(gen.DEC_FREE,),
                          lookup=(Stmt(gen.INC, R),),
                          delete=(Stmt(gen.CAS, R, 2, 2, then=(Stmt(gen.MOVE),)), Stmt(gen.MOVE)),
                          drained=(Stmt(gen.FREE),), sweep=())
    sc = Scenario(name="g", description="", flows=[Flow(cookie=1, associations=1)],
                  actors=[Actor("agent", 3, [Poll("c1")]),
                          Actor("cpu0", 1, [LatePacket(0, "data", bytes=100, irql="passive")]),
                          Actor("cpu1", 1, [Delete(0, 0)])])
    check_stateful(program, sc, generated=False, reduction=True)


def test_a_free_wakes_a_sleeping_insertion_of_the_freed_flow():
    """Found by the harness once frees of unlinked flows stopped conflicting with every
    list operation: the move removes the flow from openFlows, the packet's dereference
    frees it, and only then does the move insert it into closedFlows (use after free,
    then the settle's double free). A pending insertion's entry is not known before it
    runs, so a free must wake it from a sleep set; it did not, and dfs lost that final
    state."""
    from kernel_model import Actor, Delete, Flow, LatePacket, Scenario

    R, Stmt = gen.R, gen.Stmt
    program = gen.Program(ref=(Stmt(gen.INC, R),), deref=(Stmt(gen.FREE), gen.DEC_FREE),
                          lookup=(Stmt(gen.INC, R),),
                          delete=(Stmt(gen.CAS, R, 2, 2, then=(Stmt(gen.MOVE),)), gen.DEC_FREE),
                          drained=(gen.DEC_FREE,), sweep=())
    sc = Scenario(name="g", description="", flows=[Flow(cookie=1, associations=2)],
                  actors=[Actor("cpu0", 1, [LatePacket(0, "data", bytes=100, irql="passive")]),
                          Actor("cpu1", 1, [Delete(0, 0)]), Actor("cpu2", 2, [Delete(0, 1)])])
    reduced, full, bound = explore_both(program, sc)
    assert bound is None
    assert reduced.kinds == full.kinds and reduced.finals == full.finals
    check_stateful(program, sc, generated=False, reduction=True)
