"""One (driver, scenario) of the matrix: every execution of one driver variant on one
scenario (its interleavings, then the step-level sweep), run on the lean path, sorted into
classes of executions that returned the same thing, and judged for each agent against the
scenario's ground truth (`DriverScenario.cell`). Agent results are cached by what the agent
saw, across drivers (`_AgentCache`)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agent_model import run_pipeline
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
from kernel_model.scenario import CompiledScenario, Expire, Poll, Restart
from kernel_model.scenarios.interleavings import Interleavings
from kernel_model.variants import Variant

from .cell import Cell, Execution, ExecutionRef
from .verdict import AgentFigures, ClientFigures, Judgement, KernelView, Verdict, judge

#: seeds of each step-level strategy run per (driver, scenario) unless told otherwise
DEFAULT_SWEEP = 200
SWEEP_STRATEGIES = ("random", "pct")


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
