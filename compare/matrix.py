"""The (driver x agent x scenario) matrix on identical interleavings.

For each scenario, one list of interleavings (`kernel_model.scenarios.interleavings`) is
shared by every driver variant. Each interleaving runs once per driver variant (the engine's
event-order strategy); what its polls read feeds every agent variant
(`agent_model.run_pipeline`), and each (driver, agent) pair is judged against the scenario's
ground truth (`compare.verdict`). A cell's verdict is the worst over its executions, with
the first execution that earned it, replayable (`Matrix.save_trace` writes a `flowrace
replay` trace).

Event-level interleavings run each hook atomically unless it spins or blocks, so a race
*inside* a hook (two delete notifications interleaving their interlocked operations, a
release landing between a decrement and a flag) is not among them. A seeded step-level
sweep covers those: the same seeds of the engine's random and PCT strategies run on every
driver (the same seeds, not the same interleavings: where the scheduling points fall
depends on the variant's code). Its executions feed the agents and the verdict like the
others; a cell says which kind of execution earned its verdict.

Costs are kept down three ways: the lean execution path (`kernel_model.execution.LeanRunner`,
no step trace), and agent results cached by what the agents see (per poll, the records read,
without their timestamps: the agent keeps a record's timestamp only as `last_update_epoch`,
which no figure depends on), so each distinct kernel outcome goes through each agent once.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from agent_model import resolve_agent_variant, run_pipeline
from agent_model._variants import AGENT_VARIANTS
from kernel_model import FlowraceError, builtin_names, load_variant, save_trace
from kernel_model.execution import (
    RECORD_FIELDS,
    AgentStep,
    LeanOutcome,
    LeanRunner,
    Outcome,
    _poll_times,
    lean_record,
    record_key,
)
from kernel_model.scenario import CompiledScenario, Expire, GroundTruth, Poll, Restart, Scenario
from kernel_model.scenarios import get_scenario, scenario_names
from kernel_model.scenarios.interleavings import DEFAULT_SAMPLE, Interleavings, interleavings_for
from kernel_model.variants import Variant

from .verdict import (
    AgentFigures,
    ClientFigures,
    Judgement,
    KernelView,
    Verdict,
    judge,
)

#: seeds of each step-level strategy run per (driver, scenario) unless told otherwise
DEFAULT_SWEEP = 200
SWEEP_STRATEGIES = ("random", "pct")


# ---- what was run -------------------------------------------------------------------------
class ExecutionRef(NamedTuple):
    """One execution of a (driver, scenario): interleaving #k, or a step-level seed."""

    kind: str  # "interleaving", "random" or "pct"
    number: int  # the interleaving's number, or the seed
    events: tuple[str, ...] = ()  # the interleaving's event labels (when asked for)

    def describe(self) -> str:
        if self.kind == "interleaving":
            return f"interleaving #{self.number}"
        return f"{self.kind} seed {self.number}"

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"kind": self.kind}
        if self.kind == "interleaving":
            doc["index"] = self.number
            doc["events"] = list(self.events)
        else:
            doc["seed"] = self.number
        return doc


@dataclass(frozen=True, slots=True)
class Execution:
    """One execution judged for one agent."""

    ref: ExecutionRef
    judgement: Judgement
    kernel: KernelView
    figures: AgentFigures
    spin_steps: int
    violations: tuple[str, ...]  # "kind: detail"

    @property
    def verdict(self) -> Verdict:
        return self.judgement.verdict


@dataclass
class Cell:
    """The verdict of one (driver, agent, scenario) and the figures behind it."""

    driver: str
    agent: str
    scenario: str
    truth: GroundTruth
    verdict: Verdict
    cause: str | None
    reason: str
    first: ExecutionRef | None  # the first execution that earned `verdict`
    first_by_verdict: dict[Verdict, ExecutionRef]
    counts: dict[Verdict, int]  # over the interleavings
    sweep_counts: dict[Verdict, int]  # over the step-level sweep
    interleavings: int
    exhaustive: bool
    total: int | None
    seed: int | None
    sweep: int
    final_rate: float | None  # of `first`
    final_rates: tuple[float | None, float | None]  # lowest and highest over executions
    worst_rate: float | None  # highest cumulative rate after any poll
    closed_error: tuple[int, int]  # backend closes - truth, lowest and highest
    failures_error: tuple[int, int]
    lingering: int  # most flows lingering in openFlows at the end of one execution
    open_at_end: int  # highest openFlows occupancy at the end
    findings: dict[str, int]  # check -> executions where it fired
    spin_steps: int  # most spin steps in one execution
    windows_lingering_flows: int  # highest value of the workaround's counter
    notes: list[str] = field(default_factory=list)
    violation: str = ""  # the first finding of `first`, "kind: detail"
    schedule: str | None = None  # step-level schedule of `first` (set by Matrix.replayable)
    trace: str | None = None  # a saved `flowrace replay` trace of `first`

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.driver, self.agent, self.scenario)

    @property
    def label(self) -> str:
        """The verdict as shown: ``wrong (agent)`` when the agent alone is at fault."""
        return f"{self.verdict} (agent)" if self.cause == "agent" else str(self.verdict)

    def every(self, *verdicts: Verdict) -> bool:
        """Every execution (interleavings and sweep) earned one of `verdicts`."""
        allowed = set(verdicts)
        return all(v in allowed for c in (self.counts, self.sweep_counts) for v, n in c.items()
                   if n)

    def some(self, verdict: Verdict) -> bool:
        return bool(self.counts.get(verdict) or self.sweep_counts.get(verdict))

    def to_json(self) -> dict[str, Any]:
        return {
            "driver": self.driver,
            "agent": self.agent,
            "scenario": self.scenario,
            "verdict": str(self.verdict),
            "cause": self.cause,
            "reason": self.reason,
            "interleavings": self.interleavings,
            "interleavings_total": self.total,
            "exhaustive": self.exhaustive,
            "seed": self.seed,
            "sweep": self.sweep,
            "verdict_counts": {str(v): n for v, n in sorted(self.counts.items()) if n},
            "sweep_verdict_counts": {str(v): n for v, n in sorted(self.sweep_counts.items())
                                     if n},
            "truth": {"closed": self.truth.closed, "failures": self.truth.failures,
                      "rate": self.truth.rate},
            "final_rate": self.final_rate,
            "final_rates": list(self.final_rates),
            "worst_rate": self.worst_rate,
            "closed_error": list(self.closed_error),
            "failures_error": list(self.failures_error),
            "lingering": self.lingering,
            "open_at_end": self.open_at_end,
            "findings": dict(self.findings),
            "spin_steps": self.spin_steps,
            "windows_lingering_flows": self.windows_lingering_flows,
            "first_bad_interleaving": (self.first.to_json() | {
                "schedule": self.schedule, "trace": self.trace, "violation": self.violation,
            }) if self.first is not None and self.verdict is not Verdict.CORRECT else None,
            "notes": list(self.notes),
        }


def cell_from_json(doc: dict[str, Any]) -> Cell:
    """A cell back from `Cell.to_json` (what a child process of `flowrace validate` sends):
    every field a verdict, a finding or a report reads."""

    def ref_of(d: dict[str, Any] | None) -> ExecutionRef | None:
        if not d:
            return None
        if d["kind"] == "interleaving":
            return ExecutionRef("interleaving", d["index"], tuple(d.get("events", ())))
        return ExecutionRef(d["kind"], d["seed"])

    truth = doc["truth"]
    first = doc.get("first_bad_interleaving") or {}
    verdict = Verdict.parse(doc["verdict"])
    cell = Cell(
        driver=doc["driver"], agent=doc["agent"], scenario=doc["scenario"],
        truth=GroundTruth(truth["closed"], {int(k): v for k, v in truth["failures"].items()}),
        verdict=verdict, cause=doc["cause"], reason=doc["reason"], first=ref_of(first),
        first_by_verdict={},
        counts={Verdict.parse(k): n for k, n in doc["verdict_counts"].items()},
        sweep_counts={Verdict.parse(k): n for k, n in doc["sweep_verdict_counts"].items()},
        interleavings=doc["interleavings"], exhaustive=doc["exhaustive"],
        total=doc["interleavings_total"], seed=doc["seed"], sweep=doc["sweep"],
        final_rate=doc["final_rate"], final_rates=tuple(doc["final_rates"]),
        worst_rate=doc["worst_rate"], closed_error=tuple(doc["closed_error"]),
        failures_error=tuple(doc["failures_error"]), lingering=doc["lingering"],
        open_at_end=doc["open_at_end"], findings=dict(doc["findings"]),
        spin_steps=doc["spin_steps"], windows_lingering_flows=doc["windows_lingering_flows"],
        notes=list(doc.get("notes", [])), violation=first.get("violation", ""),
        schedule=first.get("schedule"), trace=first.get("trace"))
    return cell


# ---- inputs ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DriverSpec:
    """A driver variant in the matrix: a built-in name or a proposal's path."""

    name: str  # as shown: the built-in name, or the proposal's file name
    spec: str  # what load_variant takes

    @classmethod
    def of(cls, spec: str | Path) -> DriverSpec:
        text = str(spec)
        if text.endswith(".c") or "/" in text:
            return cls(Path(text).name, text)
        return cls(text, text)


def default_drivers() -> list[DriverSpec]:
    return [DriverSpec(n, n) for n in builtin_names()]


def default_agents() -> list[str]:
    return list(AGENT_VARIANTS)


def check_agent(spec: str) -> str:
    """Resolve an agent variant spec now, so a bad one is one clear error."""
    try:
        resolve_agent_variant(spec)
    except ValueError as exc:  # UnknownAgentVariantError
        raise FlowraceError(str(exc)) from None
    return spec


# ---- one (driver, scenario) -----------------------------------------------------------------
class _AgentCache:
    """Agent results by (agent, scenario, what the agent saw); shared by every driver."""

    def __init__(self) -> None:
        self.figures: dict[tuple[str, str, tuple], AgentFigures] = {}
        self.pipelines = 0

    def get(self, agent: str, scenario: str, key: tuple, steps: Callable[[], list[AgentStep]],
            clients: Sequence[str]) -> AgentFigures:
        k = (agent, scenario, key)
        found = self.figures.get(k)
        if found is None:
            found = _figures(run_pipeline(steps(), variant=agent), clients)
            self.pipelines += 1
            self.figures[k] = found
        return found


def _figures(result, clients: Sequence[str]) -> AgentFigures:
    per: dict[str, list] = {c: [0, Counter(), []] for c in clients}
    for p in result.polls:
        acc = per.setdefault(p.client_id, [0, Counter(), []])
        acc[0] += p.payload.closed
        acc[1].update(p.payload.failures_by_errno)
        failures = sum(acc[1].values())
        acc[2].append(100.0 * failures / acc[0] if acc[0] > 0 else None)
    return AgentFigures(
        tuple(ClientFigures(c, closed, {k: v for k, v in f.items() if v}, tuple(rates))
              for c, (closed, f, rates) in per.items()),
        int(result.telemetry.get("windows_lingering_flows", 0)),
    )


@dataclass(frozen=True)
class _KernelClass:
    """Executions of one driver on one scenario that returned the same thing."""

    kernel: KernelView
    agent_key: tuple
    agent_steps: Callable[[], list[AgentStep]] = field(compare=False, hash=False)
    violations: tuple[str, ...] = field(compare=False, hash=False)


class DriverScenario:
    """Every execution of one driver variant on one scenario, and what it returned."""

    def __init__(self, driver: DriverSpec, variant: Variant, compiled: CompiledScenario,
                 interleavings: Interleavings, sweep: int, seed: int, cache: _AgentCache):
        self.driver = driver
        self.compiled = compiled
        self.scenario = compiled.scenario
        self.truth = self.scenario.ground_truth()
        self.interleavings = interleavings
        self.sweep = sweep
        self.seed = seed
        self.cache = cache
        self.runner = LeanRunner(variant, compiled)
        self.clients = list(compiled.clients) or ["c1"]
        self._user_ops = [k for k, (_, op, _) in enumerate(compiled.ops)
                          if isinstance(op, (Poll, Restart, Expire))]
        self._lean = len({compiled.ops[k][0] for k in self._user_ops}) <= 1
        self._poll_times = _poll_times(compiled)
        self.classes: list[_KernelClass] = []
        self._class_ids: dict[tuple, int] = {}
        # per execution: (ref, class id, spin steps)
        self.executions: list[tuple[ExecutionRef, int, int]] = []
        self.class_counts: Counter = Counter()
        self.spin_steps = 0
        self.seconds = 0.0
        self._judged: dict[tuple[int, str], Judgement] = {}
        self.remote = False  # its cells were computed elsewhere (a cluster): not run here

    # -- running --------------------------------------------------------------------------
    def refs(self) -> Iterator[ExecutionRef]:
        il = self.interleavings
        for k in range(len(il)):
            yield ExecutionRef("interleaving", k)
        for strategy in SWEEP_STRATEGIES:
            for i in range(self.sweep):
                yield ExecutionRef(strategy, self.seed + i)

    def run(self, progress: Callable[[int], None] | None = None) -> None:
        t0 = time.perf_counter()
        il = self.interleavings
        runner = self.runner
        n = 0
        for ref in self.refs():
            if ref.kind == "interleaving":
                lean = runner.run(order=il[ref.number])
            else:
                lean = runner.run(seed=ref.number, strategy=ref.kind)
            self.executions.append((ref, self._classify(ref, lean), lean.spin_steps))
            n += 1
            if progress is not None and n % 1000 == 0:
                progress(1000)
        if progress is not None:
            progress(n % 1000)
        self.spin_steps = max((s for _, _, s in self.executions), default=0)
        self.class_counts = Counter(cid for _, cid, _ in self.executions)
        self.seconds = time.perf_counter() - t0

    def _classify(self, ref: ExecutionRef, lean: LeanOutcome) -> int:
        """The class of executions that returned the same thing as this one."""
        raw = (lean.kinds, lean.flows, lean.open_count, lean.finished,
               None if lean.finished else lean.begun, lean.records)
        cid = self._class_ids.get(raw)
        if cid is not None:
            return cid
        drained: Counter = Counter()
        for _, closed, fields in lean.records:
            if closed:
                drained[fields[1]] += 1
        delivered = (all(n == 1 for n in drained.values())
                     and len(drained) == self.truth.closed)
        kernel = KernelView(lean.kinds, self.runner.lingering(lean), lean.open_count, delivered)
        if self._lean:
            agent_key, steps = self._agent_input(lean)
        else:  # user space on several actors: its order needs the step trace
            steps_list = self._full(ref).agent_steps()
            agent_key = tuple((s.kind, s.client, s.time,
                               tuple(record_key(_fields(r)) for r in s.open),
                               tuple(record_key(_fields(r)) for r in s.closed))
                              for s in steps_list)
            steps = lambda: steps_list  # noqa: E731
        cid = len(self.classes)
        self._class_ids[raw] = cid
        self.classes.append(_KernelClass(
            kernel, agent_key, steps, tuple(f"{v.kind}: {v.detail}" for v in lean.violations)))
        return cid

    def _agent_input(self, lean: LeanOutcome) -> tuple[tuple, Callable[[], list[AgentStep]]]:
        """What the agent sees of a lean execution (user space on one actor: its
        operations happen in program order), as a cache key and a step builder."""
        read: dict[int, tuple[list, list]] = {}
        for (op, closed, fields), stamp in zip(lean.records, lean.timestamps, strict=True):
            read.setdefault(op, ([], []))[closed].append((fields, stamp))
        plan: list[tuple[str, str, float | None, tuple, tuple]] = []
        ops = self.compiled.ops
        for k in self._user_ops:
            if k not in lean.begun and k not in read:
                continue
            op = ops[k][1]
            if isinstance(op, Poll):
                opened, closed = read.get(k, ((), ()))
                plan.append(("poll", op.client, self._poll_times.get(k), tuple(opened),
                             tuple(closed)))
            else:
                plan.append(("restart" if isinstance(op, Restart) else "expire", op.client,
                             None, (), ()))
        if lean.finished:
            opened, closed = read.get(-1, ((), ()))
            for n, client in enumerate(self.clients):
                plan.append(("poll", client, None, tuple(opened), tuple(closed) if n == 0 else ()))
        key = tuple((kind, client, t, tuple(f for f, _ in o), tuple(f for f, _ in c))
                    for kind, client, t, o, c in plan)

        def steps() -> list[AgentStep]:
            return [AgentStep(kind, client, t, [lean_record(*r) for r in o],
                              [lean_record(*r) for r in c])
                    for kind, client, t, o, c in plan]

        return key, steps

    def described(self, ref: ExecutionRef) -> ExecutionRef:
        """`ref` with its interleaving's event labels."""
        if ref.kind != "interleaving" or ref.events:
            return ref
        return ref._replace(events=tuple(self.interleavings.describe(ref.number)))

    def _full(self, ref: ExecutionRef) -> Outcome:
        if ref.kind == "interleaving":
            return self.runner.run_full(order=self.interleavings[ref.number])
        return self.runner.run_full(seed=ref.number, strategy=ref.kind)

    # -- judging -------------------------------------------------------------------------
    def figures(self, cid: int, agent: str) -> AgentFigures:
        cls = self.classes[cid]
        return self.cache.get(agent, self.scenario.name, cls.agent_key, cls.agent_steps,
                              self.clients)

    def judgement(self, cid: int, agent: str) -> Judgement:
        j = self._judged.get((cid, agent))
        if j is None:
            j = judge(self.classes[cid].kernel, self.figures(cid, agent), self.truth)
            self._judged[(cid, agent)] = j
        return j

    def executions_for(self, agent: str) -> Iterator[Execution]:
        """Every execution of this driver on this scenario, judged for `agent`."""
        for ref, cid, spins in self.executions:
            cls = self.classes[cid]
            yield Execution(self.described(ref), self.judgement(cid, agent), cls.kernel,
                            self.figures(cid, agent), spins, cls.violations)

    def cell(self, agent: str) -> Cell:
        truth = self.truth
        # everything but the first execution of each verdict is per class
        rank = []
        for cid in range(len(self.classes)):
            j = self.judgement(cid, agent)
            rank.append((j.verdict, j.cause == "driver"))
        counts: Counter = Counter()
        sweep_counts: Counter = Counter()
        first: dict[tuple[Verdict, bool], tuple[ExecutionRef, int]] = {}
        by_verdict: dict[Verdict, ExecutionRef] = {}
        for ref, cid, _ in self.executions:
            r = rank[cid]
            (counts if ref.kind == "interleaving" else sweep_counts)[r[0]] += 1
            if r not in first:
                first[r] = (self.described(ref), cid)
                by_verdict.setdefault(r[0], first[r][0])
        final_rates: list[float] = []
        none_final = False
        worst_rate: float | None = None
        closed_err: list[int] = []
        failures_err: list[int] = []
        findings: Counter = Counter()
        lingering = open_at_end = wlf = 0
        for cid, n in self.class_counts.items():
            fig = self.figures(cid, agent)
            kernel = self.classes[cid].kernel
            wc = fig.worst_client(truth)
            if wc is not None:
                if wc.final_rate is None:
                    none_final = True
                else:
                    final_rates.append(wc.final_rate)
                closed_err.append(wc.closed - truth.closed)
                failures_err.append(wc.failures - truth.failure_count)
            wr = fig.worst_rate
            if wr is not None and (worst_rate is None or wr > worst_rate):
                worst_rate = wr
            for kind in kernel.kinds:
                findings[kind] += n
            lingering = max(lingering, kernel.lingering)
            open_at_end = max(open_at_end, kernel.open_count)
            wlf = max(wlf, fig.windows_lingering_flows)
        worst = max(first) if first else (Verdict.CORRECT, False)
        ref, cid = first[worst] if first else (None, -1)
        j = self.judgement(cid, agent) if cid >= 0 else Judgement(Verdict.CORRECT, None, "")
        fig = self.figures(cid, agent) if cid >= 0 else None
        wc = fig.worst_client(truth) if fig is not None else None
        il = self.interleavings
        cell = Cell(
            driver=self.driver.name, agent=agent, scenario=self.scenario.name, truth=truth,
            verdict=worst[0], cause=j.cause, reason=j.reason, first=ref,
            first_by_verdict=by_verdict,
            counts=dict(counts), sweep_counts=dict(sweep_counts),
            interleavings=len(il), exhaustive=il.exhaustive, total=il.total,
            seed=il.seed, sweep=self.sweep * len(SWEEP_STRATEGIES),
            final_rate=wc.final_rate if wc is not None else None,
            final_rates=((None if none_final else min(final_rates, default=None)),
                         max(final_rates, default=None)),
            worst_rate=worst_rate,
            closed_error=(min(closed_err, default=0), max(closed_err, default=0)),
            failures_error=(min(failures_err, default=0), max(failures_err, default=0)),
            lingering=lingering, open_at_end=open_at_end, findings=dict(findings),
            spin_steps=self.spin_steps, windows_lingering_flows=wlf,
            violation=(self.classes[cid].violations[0]
                       if cid >= 0 and self.classes[cid].violations else ""),
        )
        cell.notes = _notes(cell)
        return cell


def _fields(record) -> tuple:
    return tuple(getattr(record, f) for f in RECORD_FIELDS)


def _notes(cell: Cell) -> list[str]:
    notes = []
    total = sum(cell.counts.values()) + sum(cell.sweep_counts.values())
    bad = total - cell.counts.get(Verdict.CORRECT, 0) - cell.sweep_counts.get(Verdict.CORRECT, 0)
    if cell.verdict is not Verdict.CORRECT and cell.first is not None:
        notes.append(f"{bad} of {total} executions are not correct; the first: "
                     f"{cell.first.describe()}")
    if cell.verdict is Verdict.WRONG and cell.cause == "agent":
        notes.append("the driver delivered every close exactly once: the agent alone is wrong")
    if cell.verdict is Verdict.MASKED:
        notes.append("the backend figures are right on every execution; the kernel leaks")
    if cell.spin_steps and "livelock" not in cell.findings:
        notes.append(f"spins up to {cell.spin_steps} steps in one execution; every spin ended "
                     "or gave up (no livelock: the scenario lets the holder run)")
    return notes


# ---- the matrix ----------------------------------------------------------------------------
@dataclass
class MatrixStats:
    executions: int = 0  # kernel executions run
    seconds: float = 0.0  # spent running and judging them
    pipelines: int = 0  # agent pipelines run (the other agent results came from the cache)

    @property
    def per_second(self) -> float:
        return self.executions / self.seconds if self.seconds else 0.0


class Matrix:
    """Computes cells on demand, one (driver, scenario) at a time, and keeps them.

    ``Matrix(drivers, agents, scenarios)`` with names (built-in driver names or paths to
    proposals, agent names or ``module:Name``, scenario names or `Scenario` objects);
    ``matrix.cell(driver, agent, scenario)``; ``matrix.run()`` computes every cell."""

    def __init__(self, drivers: Iterable[str | DriverSpec] | None = None,
                 agents: Iterable[str] | None = None,
                 scenarios: Iterable[str | Scenario] | None = None, *,
                 interleavings: int | None = None, seed: int = 1,
                 sweep: int = DEFAULT_SWEEP):
        self.drivers = [d if isinstance(d, DriverSpec) else DriverSpec.of(d)
                        for d in (drivers if drivers is not None else default_drivers())]
        names = [d.name for d in self.drivers]
        self.drivers = [DriverSpec(d.spec, d.spec) if names.count(d.name) > 1 else d
                        for d in self.drivers]  # two proposals named alike: their paths
        self.agents = [check_agent(a) for a in (agents if agents is not None
                                                  else default_agents())]
        self.scenarios: list[Scenario] = [s if isinstance(s, Scenario) else get_scenario(s)
                                          for s in (scenarios if scenarios is not None
                                                    else scenario_names())]
        self.sample = DEFAULT_SAMPLE if interleavings is None else interleavings
        if self.sample < 1:
            raise FlowraceError("--interleavings must be at least 1")
        if sweep < 0:
            raise FlowraceError("the sweep cannot be negative")
        self.seed = seed
        self.sweep = sweep
        self.stats = MatrixStats()
        self._cache = _AgentCache()
        self._compiled: dict[str, CompiledScenario] = {}
        self._interleavings: dict[str, Interleavings] = {}
        self._runs: dict[tuple[str, str], DriverScenario] = {}
        self._cells: dict[tuple[str, str, str], Cell] = {}
        self._variants: dict[str, Variant] = {}
        self.cluster: dict[str, Any] | None = None  # where the cells ran (compare --cluster)

    # -- lookups -----------------------------------------------------------------------------
    def driver(self, name: str) -> DriverSpec:
        for d in self.drivers:
            if name in (d.name, d.spec):
                return d
        raise FlowraceError(f"driver {name!r} is not in this matrix; drivers: "
                            + ", ".join(d.name for d in self.drivers))

    def scenario(self, name: str) -> Scenario:
        for s in self.scenarios:
            if s.name == name:
                return s
        raise FlowraceError(f"scenario {name!r} is not in this matrix; scenarios: "
                            + ", ".join(s.name for s in self.scenarios))

    def variant(self, driver: DriverSpec) -> Variant:
        """The compiled variant (a proposal that does not compile raises ProposalBuildError)."""
        if driver.spec not in self._variants:
            self._variants[driver.spec] = load_variant(driver.spec)
        return self._variants[driver.spec]

    def compiled(self, scenario: str) -> CompiledScenario:
        if scenario not in self._compiled:
            self._compiled[scenario] = self.scenario(scenario).compile()
        return self._compiled[scenario]

    def interleavings(self, scenario: str) -> Interleavings:
        """The interleavings every driver runs on `scenario` (computed once)."""
        if scenario not in self._interleavings:
            self._interleavings[scenario] = interleavings_for(
                self.compiled(scenario), sample=self.sample, seed=self.seed)
        return self._interleavings[scenario]

    # -- running ---------------------------------------------------------------------------------
    def driver_scenario(self, driver: str, scenario: str,
                        progress: Callable[[int], None] | None = None) -> DriverScenario:
        d = self.driver(driver)
        key = (d.name, scenario)
        if key not in self._runs:
            ds = DriverScenario(d, self.variant(d), self.compiled(scenario),
                                self.interleavings(scenario), self.sweep, self.seed,
                                self._cache)
            ds.run(progress)
            self.stats.executions += len(ds.executions)
            self.stats.seconds += ds.seconds
            self._runs[key] = ds
        return self._runs[key]

    def executions_per_pair(self, scenario: str) -> int:
        return len(self.interleavings(scenario)) + self.sweep * len(SWEEP_STRATEGIES)

    def cell(self, driver: str, agent: str, scenario: str) -> Cell:
        d = self.driver(driver)
        key = (d.name, agent, scenario)
        if key not in self._cells:
            if agent not in self.agents:
                raise FlowraceError(f"agent {agent!r} is not in this matrix; agents: "
                                    + ", ".join(self.agents))
            ds = self.driver_scenario(d.name, scenario)
            t0 = time.perf_counter()
            self._cells[key] = ds.cell(agent)
            self.stats.seconds += time.perf_counter() - t0
            self.stats.pipelines = self._cache.pipelines
        return self._cells[key]

    def executions(self, driver: str, agent: str, scenario: str) -> Iterator[Execution]:
        """Every execution of a cell, judged (for tests and reports)."""
        ds = self.driver_scenario(driver, scenario)
        if ds.remote:  # the cluster sent back the cells, not the executions: run them here
            ds.remote = False
            ds.run()
        return ds.executions_for(agent)

    def install(self, driver: DriverSpec, scenario: str, cells: Sequence[Cell],
                executions: int, seconds: float, pipelines: int) -> None:
        """Keep the cells of a (driver, scenario) computed elsewhere (`compare._cluster`);
        its executions replay here on demand (`outcome`)."""
        ds = DriverScenario(driver, self.variant(driver), self.compiled(scenario),
                            self.interleavings(scenario), self.sweep, self.seed, self._cache)
        ds.remote = True
        self._runs[(driver.name, scenario)] = ds
        for c in cells:
            self._cells[(driver.name, c.agent, scenario)] = c
        self.stats.executions += executions
        self.stats.seconds += seconds
        self.stats.pipelines += pipelines

    def run(self, progress: Callable[[str, str, int], None] | None = None) -> list[Cell]:
        """Every cell, scenario by scenario, driver by driver."""
        out = []
        for s in self.scenarios:
            for d in self.drivers:
                cb = (lambda n, d=d, s=s: progress(d.name, s.name, n)) if progress else None
                self.driver_scenario(d.name, s.name, cb)
                out.extend(self.cell(d.name, a, s.name) for a in self.agents)
        return out

    def cells(self) -> list[Cell]:
        """The cells computed so far, in matrix order."""
        order = {(d.name, a, s.name): i for i, (d, a, s) in enumerate(
            (d, a, s) for s in self.scenarios for d in self.drivers for a in self.agents)}
        return sorted(self._cells.values(), key=lambda c: order.get(c.key, len(order)))

    # -- replay ------------------------------------------------------------------------------------
    def outcome(self, cell: Cell, ref: ExecutionRef | None = None) -> Outcome:
        """The full execution (with its step-level schedule) of `ref` (default: the one
        that earned the cell's verdict)."""
        ref = ref or cell.first
        if ref is None:
            raise FlowraceError(f"{cell.key}: no execution to replay")
        return self.driver_scenario(cell.driver, cell.scenario)._full(ref)

    def replayable(self, cell: Cell, directory: str | Path | None = None) -> Cell:
        """Fill in the step-level schedule of the cell's first non-correct execution (which
        `flowrace run --schedule` reproduces) and, given a directory, save it there as a
        `flowrace replay` trace."""
        if cell.verdict is Verdict.CORRECT or cell.first is None:
            return cell
        if cell.schedule is None or (directory is not None and cell.trace is None):
            outcome = self.outcome(cell)
            cell.schedule = outcome.schedule
            if directory is not None:
                path = Path(directory) / trace_name(cell)
                save_trace(outcome, path)
                cell.trace = str(path)
        return cell

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "sweep": self.sweep * len(SWEEP_STRATEGIES),
            "interleavings": {name: {"run": len(il), "total": il.total,
                                     "exhaustive": il.exhaustive, "method": il.method,
                                     "seed": il.seed}
                              for name, il in self._interleavings.items()},
            "executions": self.stats.executions,
            "seconds": round(self.stats.seconds, 3),
            "cells": [c.to_json() for c in self.cells()],
        } | ({"cluster": self.cluster} if self.cluster else {})


def trace_name(cell: Cell) -> str:
    ref = cell.first
    assert ref is not None
    stem = Path(cell.driver).stem if cell.driver.endswith(".c") else cell.driver
    what = f"i{ref.number}" if ref.kind == "interleaving" else f"{ref.kind}{ref.number}"
    return f"{stem}--{cell.scenario}--{what}.json"
