"""The comparison suite: every driver variant x every agent variant x every scenario on
identical interleavings (plus the step-level sweep), and what the matrix must show.

`test_cell` runs once per cell (parametrized by the plugin, proposals given with --fix
included). The must-show tests name the built-in variants they are about; a variant that
is not built yet is skipped with that reason.
"""

from __future__ import annotations

import pytest

from kernel_model import builtin_names, load_trace, replay
from kernel_model.execution import record_key
from kernel_model.scenario import GroundTruth
from kernel_model.scenarios import get_scenario
from kernel_model.scenarios.interleavings import enumerate_interleavings

from .driver_scenario import _fields
from .matrix import Cell, Execution, Matrix
from .verdict import Verdict

CORRECT_DESIGNS = ("retry", "retry-bounded-sweep", "assoc-count", "last-ref", "dec-and-lock",
                   "flow-lock")
NAIVE_DESIGNS = ("retry-bounded", "assoc-count-free-on-drain", "assoc-count-no-once",
                 "last-ref-late-flag", "flow-lock-inverted")
AGENTS = ("prefix", "workaround", "encoder-gate")
#: enumerated completely; rst-storm is sampled
SMALL_SCENARIOS = ("lingering-rst", "late-packets", "clean-close", "split-deletes",
                   "preempted-holder", "client-restart", "two-clients")
#: the agent that re-reports a failure when the drain returns a flow it saw RST'd while open
DOUBLE_REPORTING_AGENT = "prefix"

C, M, W, U = Verdict.CORRECT, Verdict.MASKED, Verdict.WRONG, Verdict.UNSAFE


def need(*drivers: str) -> None:
    missing = [d for d in drivers if d not in builtin_names()]
    if missing:
        pytest.skip(f"driver variant(s) not built yet: {', '.join(missing)}")


def where(cell: Cell) -> str:
    """What a failing assertion shows: the verdict and how to replay it."""
    first = cell.first.describe() if cell.first else "-"
    return (f"{cell.driver} x {cell.agent} x {cell.scenario}: {cell.label} ({cell.reason}); "
            f"first: {first}; trace: {cell.trace}; schedule: {cell.schedule}")


def executions(compare_matrix, driver: str, agent: str, scenario: str) -> list[Execution]:
    return list(compare_matrix.matrix.executions(driver, agent, scenario))


def rates(e: Execution, truth: GroundTruth) -> tuple[float | None, ...]:
    c = e.figures.worst_client(truth)
    return c.rates if c is not None else ()


def climbing(rs: tuple[float | None, ...]) -> bool:
    """Above 100 % and rising with the polls: at least two rises, none a fall."""
    seen = [r for r in rs if r is not None]
    rises = sum(1 for a, b in zip(seen, seen[1:], strict=False) if b > a)
    falls = sum(1 for a, b in zip(seen, seen[1:], strict=False) if b < a)
    return bool(seen) and seen[-1] > 100.0 and rises >= 2 and falls == 0


# ---- every cell ---------------------------------------------------------------------------
def test_cell(compare_matrix, driver, agent, scenario):
    """Each cell computes; a verdict other than correct replays from its saved trace; a
    correct design (or a proposal given with --fix) is correct, or wrong through the agent
    alone — except retry, which must hang on preempted-holder."""
    cell = compare_matrix.cell(driver, agent, scenario)
    if cell.verdict is not C:
        assert cell.trace and cell.schedule, where(cell)
        outcome = replay(load_trace(cell.trace), get_scenario(cell.scenario))
        again = compare_matrix.matrix.outcome(cell)
        assert outcome.kinds == again.kinds, where(cell)
        assert [p.open for p in outcome.polls] == [p.open for p in again.polls], where(cell)
    proposal = cell.driver.endswith(".c")
    if cell.driver in CORRECT_DESIGNS or proposal:
        if cell.driver == "retry" and cell.scenario == "preempted-holder":
            assert cell.verdict is U and "livelock" in cell.findings, where(cell)
        else:
            assert cell.verdict is C or (cell.verdict is W and cell.cause == "agent"), where(cell)


# ---- must show ---------------------------------------------------------------------------------
def test_original_prefix_late_packets_climbs_past_100(compare_matrix):
    cell = compare_matrix.cell("original", "prefix", "late-packets")
    assert cell.verdict is W and cell.cause == "driver", where(cell)
    truth = get_scenario("late-packets").ground_truth()
    runs = [e for e in executions(compare_matrix, "original", "prefix", "late-packets")
            if e.ref.kind == "interleaving"]
    climbs = [e for e in runs if climbing(rates(e, truth)) and e.kernel.leaks]
    exact = [e for e in runs if rates(e, truth) and rates(e, truth)[-1] == 100.0]
    assert climbs, "no interleaving where the rate climbs past 100 % with the polls"
    assert exact, "no interleaving with the rate exactly 100 %"
    worst = max(max(r for r in rates(e, truth) if r is not None) for e in climbs)
    assert worst >= 300.0, worst
    # the race needs the overlap: without a leak the driver delivered the close once
    assert all(e.kernel.leaks for e in runs if e.verdict is W and e.judgement.cause == "driver")


@pytest.mark.parametrize("scenario", ["lingering-rst", "late-packets"])
def test_original_workaround_masks_the_leak(compare_matrix, scenario):
    cell = compare_matrix.cell("original", "workaround", scenario)
    assert cell.verdict is M, where(cell)
    truth = get_scenario(scenario).ground_truth()
    runs = executions(compare_matrix, "original", "workaround", scenario)
    assert all(e.figures.matches(truth) for e in runs), "the rate is not the truth everywhere"
    assert {e.verdict for e in runs} == {C, M}
    assert all(e.figures.worst_rate == truth.rate for e in runs)
    leaking = [e for e in runs if e.verdict is M]
    assert all(e.kernel.lingering == 1 for e in leaking)
    assert any(e.figures.windows_lingering_flows > 0 for e in leaking)
    assert cell.lingering == 1 and cell.findings.get("leak")


def test_original_workaround_wrong_after_a_restart(compare_matrix):
    cell = compare_matrix.cell("original", "workaround", "client-restart")
    assert cell.verdict is W and cell.cause == "driver", where(cell)
    assert cell.closed_error[1] == 1 and cell.failures_error[1] == 1


@pytest.mark.parametrize("driver", CORRECT_DESIGNS)
@pytest.mark.parametrize("scenario", SMALL_SCENARIOS)
def test_correct_design_everywhere(compare_matrix, driver, scenario):
    """Every agent correct on every interleaving (and every sweep seed); the agent before
    the workaround may be wrong on its own — never through the driver."""
    need(driver)
    for agent in AGENTS:
        cell = compare_matrix.cell(driver, agent, scenario)
        runs = executions(compare_matrix, driver, agent, scenario)
        if driver == "retry" and scenario == "preempted-holder":
            assert cell.verdict is U and "livelock" in cell.findings, where(cell)
            assert all(e.verdict is C or "livelock" in e.kernel.findings
                       or (e.verdict is W and e.judgement.cause == "agent") for e in runs)
            continue
        if agent == DOUBLE_REPORTING_AGENT:
            bad = [e for e in runs if e.verdict is not C
                   and not (e.verdict is W and e.judgement.cause == "agent")]
        else:
            bad = [e for e in runs if e.verdict is not C]
        assert not bad, f"{where(cell)}: {bad[0].ref.describe()} {bad[0].judgement}"
        assert all(e.kernel.clean for e in runs), where(cell)


def test_retry_hangs_when_the_holder_is_preempted(compare_matrix):
    need("retry")
    cell = compare_matrix.cell("retry", "workaround", "preempted-holder")
    assert cell.verdict is U and cell.findings.get("livelock"), where(cell)
    assert "preempted" in cell.violation and "0x133" in cell.violation, cell.violation
    first = cell.first_by_verdict[U]
    assert first.kind == "interleaving", "an identical interleaving shows the hang"


@pytest.mark.parametrize("driver", NAIVE_DESIGNS)
def test_naive_design_is_caught(compare_matrix, driver):
    """Caught (masked, wrong through the driver, or unsafe) on some execution, with a
    replayable trace of the first one."""
    need(driver)
    caught = []
    for scenario in compare_matrix.scenario_names:
        for agent in AGENTS:
            cell = compare_matrix.cell(driver, agent, scenario)
            if cell.verdict in (M, U) or (cell.verdict is W and cell.cause == "driver"):
                caught.append(cell)
    assert caught, f"{driver} is never caught"
    cell = max(caught, key=lambda c: c.verdict)
    assert cell.trace is not None
    doc = load_trace(cell.trace)
    outcome = replay(doc, get_scenario(cell.scenario))
    assert outcome.kinds == set(doc["violations"]) and outcome.kinds, where(cell)


def test_the_workaround_is_not_a_fix(compare_matrix):
    """The workaround hides the leak, a driver fix removes it: on the interleavings where
    the original driver leaks, a correct design leaves nothing behind."""
    need("assoc-count")
    orig = executions(compare_matrix, "original", "workaround", "lingering-rst")
    fixed = executions(compare_matrix, "assoc-count", "workaround", "lingering-rst")
    pairs = [(a, b) for a, b in zip(orig, fixed, strict=True) if a.ref.kind == "interleaving"]
    assert all(a.ref == b.ref for a, b in pairs), "the same interleavings in the same order"
    leaking = [(a, b) for a, b in pairs if a.kernel.leaks]
    assert leaking and all(b.verdict is C for _, b in leaking)


@pytest.mark.parametrize("agent", AGENTS)
def test_clean_close_loses_or_suppresses_no_close(compare_matrix, agent):
    truth = get_scenario("clean-close").ground_truth()
    assert truth.closed == 1 and not truth.failures
    for driver in compare_matrix.driver_names:
        if driver in compare_matrix.errors:
            continue
        for e in executions(compare_matrix, driver, agent, "clean-close"):
            for c in e.figures.clients:
                assert c.closed == 1 and c.failures == 0, (
                    f"{driver} x {agent}: {e.ref.describe()}: {c}")


def test_identical_interleavings_across_drivers(compare_matrix):
    m = compare_matrix.matrix
    il = m.interleavings("lingering-rst")
    refs = None
    for driver in compare_matrix.driver_names[:3]:
        ds = m.driver_scenario(driver, "lingering-rst")
        assert ds.interleavings is il
        mine = [r for r, _, _ in ds.executions]
        refs = refs or mine
        assert mine == refs


# ---- the lean path: what the agents see ---------------------------------------------------
@pytest.mark.parametrize("scenario", ["client-restart", "two-clients", "late-packets"])
def test_what_the_agents_see_is_outcome_agent_steps(scenario):
    """The matrix builds the agents' input from lean executions; it is what
    `Outcome.agent_steps()` gives for the same execution (timestamps aside)."""
    m = Matrix(["original"], ["workaround"], [scenario], sweep=3)
    ds = m.driver_scenario("original", scenario)
    checked = 0
    for ref, cid, _ in ds.executions[::37]:
        outcome = ds._full(ref)
        if {"livelock", "deadlock"} & outcome.kinds:
            continue  # a stopped execution: Outcome lists restarts that never began
        full = tuple((s.kind, s.client, s.time, tuple(record_key(_fields(r)) for r in s.open),
                      tuple(record_key(_fields(r)) for r in s.closed))
                     for s in outcome.agent_steps())
        assert ds.classes[cid].agent_key == full, ref
        checked += 1
    assert checked


def test_user_space_on_two_actors_takes_the_full_path():
    """User-space operations on two actors: the matrix reads their order from the step
    trace (here the second poll waits for the first, as one client's polls do)."""
    from kernel_model import Actor, Classify, Delete, Flow, LatePacket, Poll, Scenario

    sc = Scenario(
        name="two-pollers", description="lingering-rst polled from two user-space threads",
        flows=[Flow(cookie=0xCAFEBABE)],
        actors=[Actor("cpu0", 0, [Classify(0, "rst-recv", bytes=60, inbound=True, assoc=0),
                                  LatePacket(0, "data", bytes=200)]),
                Actor("cpu1", 1, [Delete(0, a) for a in range(4)]),
                Actor("agentA", 2, [Poll("c1")]),
                Actor("agentB", 3, [Poll("c1", after=("agentA.poll0",))])])
    m = Matrix(["original"], ["workaround"], [sc], sweep=2)
    ds = m.driver_scenario("original", "two-pollers")
    assert not ds._lean
    cell = m.cell("original", "workaround", "two-pollers")
    assert cell.verdict.name == "MASKED" and cell.interleavings == len(
        enumerate_interleavings(sc.compile()))
