"""explore(): run a strategy on a driver variant x scenario within a budget, then turn
what it found into minimised, replayable counterexamples."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .._checks import check_budget, check_int, check_seed
from ..errors import FlowraceError
from ..execution import Outcome, run, save_trace
from ..execution import actor_names as _actor_names
from ._engine import Target, last_trace, run_actors
from ._protocol import Found, Progress
from ._strategies import EXHAUSTIVE, STRATEGY_NAMES, make_strategy
from .minimise import minimise as _minimise

DEFAULT_EXECUTIONS = 10_000  # random and pct, when neither a count nor a time is given


@dataclass
class Counterexample:
    """A minimised, replayable execution that shows one kind of violation."""

    kind: str
    outcome: Outcome
    preemptions: int
    steps: int
    found_preemptions: int
    found_steps: int
    files: dict[str, str] = field(default_factory=dict)
    wrote: list[int] = field(default_factory=list, repr=False)
    enabled: list[int] = field(default_factory=list, repr=False)
    minimality: str = ""  # how minimal it is (Minimised.describe), "" when not minimised

    def notes(self) -> dict[int, str]:
        """Timeline notes: the steps where the schedule preempts an actor that could go on."""
        steps = self.outcome.steps
        names = [s.actor for s in steps]
        out: dict[int, str] = {}
        index = {n: i for i, n in enumerate(_actor_names(self.outcome.compiled))}
        for i in range(1, min(len(steps), len(self.enabled))):
            prev = names[i - 1]
            if names[i] != prev and self.enabled[i] >> index[prev] & 1:
                out[i] = f"preempts {prev}"
        return out

    @property
    def schedule(self) -> str:
        return self.outcome.schedule

    @property
    def violation(self):
        return next(v for v in self.outcome.violations if v.kind == self.kind)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "schedule": self.schedule, "preemptions": self.preemptions,
                "steps": self.steps, "found_preemptions": self.found_preemptions,
                "found_steps": self.found_steps, "minimality": self.minimality,
                "violation": asdict(self.violation),
                **self.files}


@dataclass
class ExploreResult:
    driver: str
    scenario: str
    strategy: str
    complete: bool
    executions: int
    seconds: float
    violating: int
    by_kind: dict[str, int]
    counterexamples: list[Counterexample]
    details: dict[str, Any]
    parameters: dict[str, Any]
    graph: Any = None

    @property
    def violations(self):
        """One violation per kind found, each from its minimised counterexample (the
        records `flowrace run --json` prints)."""
        return [c.violation for c in self.counterexamples]

    @property
    def kinds(self) -> set[str]:
        return set(self.by_kind)

    @property
    def rate(self) -> float:
        return self.executions / self.seconds if self.seconds > 0 else 0.0

    def counterexample(self, kind: str | None = None) -> Counterexample | None:
        for c in self.counterexamples:
            if kind is None or c.kind == kind:
                return c
        return None

    def to_json(self) -> dict[str, Any]:
        first = self.counterexamples[0].files.get("trace") if self.counterexamples else None
        doc = {
            "driver": self.driver,
            "scenario": self.scenario,
            "strategy": self.strategy,
            "complete": self.complete,
            "executions": self.executions,
            "seconds": round(self.seconds, 6),
            "executions_per_second": round(self.rate, 1),
            "violating_executions": self.violating,
            "by_kind": self.by_kind,
            "violations": [asdict(v) for v in self.violations],
            "counterexample": first,
            "counterexamples": [c.to_json() for c in self.counterexamples],
            **self.parameters,
            **{k: v for k, v in self.details.items() if k not in ("seeds", "stopped")},
        }
        if self.graph is not None:
            doc["state_graph"] = self.graph.summary()
        return doc


def explore(
    driver,
    scenario,
    strategy: str = "dfs",
    *,
    max_executions: int | None = None,
    time_budget: float | None = None,
    preemption_bound: int | None = None,
    depth: int = 2,
    seed: int = 0,
    jobs: int = 1,
    state_graph: bool = False,
    minimise: bool = True,
    minimise_seconds: float = 5.0,
    out: str | Path | None = None,
    pictures: bool = True,
    stop_at_first: bool = False,
    schedule: str | None = None,
    trace: str | None = None,
    max_steps: int = 20000,
    progress: Callable[[Progress], None] | None = None,
    cluster: str | None = None,
    reduction: bool = True,
) -> ExploreResult:
    """Explore the interleavings of `scenario` on driver variant `driver`.

    `strategy`: "dfs" (exhaustive, partial-order reduced; optional `preemption_bound`),
    "dfs-stateful" (exhaustive, a visited set of states, persistent-set reduction), "random" (seeded
    uniform), "pct" (bug depth `depth`), or "replay" (`trace` or `schedule`). Stops when
    the strategy is done, after `max_executions`, or after `time_budget` seconds. Each
    violation kind found becomes a minimised counterexample (written to `out`, with its
    pictures, when given). `state_graph` records the explored
    states (GraphML/DOT in `out`). `cluster`: the address of a Dask scheduler that runs
    the parts `jobs` would run (`_cluster`); None runs here. `reduction=False`: the
    exhaustive strategies without their partial-order reduction (a cross-check: every
    interleaving, or every reachable state, at a far higher cost)."""
    jobs = check_int(jobs, "jobs", 1, 4096)
    if max_executions is not None:
        max_executions = check_int(max_executions, "max_executions", 1, 10**12)
    if time_budget is not None:
        time_budget = check_budget(time_budget, "time_budget")
    if preemption_bound is not None:
        preemption_bound = check_int(preemption_bound, "preemption_bound", 0, 10_000)
    depth = check_int(depth, "depth", 1, 1000)
    seed = check_seed(seed)
    max_steps = check_int(max_steps, "max_steps", 1, 100_000_000)
    minimise_seconds = check_budget(minimise_seconds, "minimise_seconds")
    if strategy not in STRATEGY_NAMES:
        raise FlowraceError(
            f"unknown strategy {strategy!r}; strategies: {', '.join(STRATEGY_NAMES)}")
    if preemption_bound is not None and strategy != "dfs":
        raise FlowraceError("--preemption-bound applies to the dfs strategy")
    if not reduction and strategy not in EXHAUSTIVE:
        raise FlowraceError("--no-reduction applies to the dfs and dfs-stateful strategies")
    target = Target.make(driver, scenario, max_steps)
    if state_graph:
        target.lib.fr_graph_reset(1 << 21)
    stop = None
    if strategy in EXHAUSTIVE:
        kwargs: dict[str, Any] = {"preemption_bound": preemption_bound,
                                  "record_states": state_graph, "reduction": bool(reduction)}
    elif strategy == "random":
        kwargs = {"seed": seed, "record_states": state_graph}
    elif strategy == "pct":
        kwargs = {"depth": depth, "seed": seed, "record_states": state_graph}
    else:
        kwargs = {"trace": trace, "schedule": schedule}
    if stop_at_first and strategy in EXHAUSTIVE:
        from ._engine import KIND_BITS

        stop = set(KIND_BITS)
        kwargs["stop_kinds"] = stop
    strat = make_strategy(strategy, **kwargs)
    if strategy in ("random", "pct") and max_executions is None and time_budget is None:
        max_executions = DEFAULT_EXECUTIONS
    t0 = time.monotonic()
    deadline = None if time_budget is None else t0 + time_budget
    if jobs > 1 and state_graph:
        raise FlowraceError("the state graph is recorded in one process: use --jobs 1")
    address = None
    if cluster is not None:
        from ._cluster import cluster_address, connect, workers

        address = cluster_address(cluster)
        if state_graph:
            raise FlowraceError("the state graph is recorded in one process: drop --cluster")
    if address is not None and strategy in (*EXHAUSTIVE, "random", "pct"):
        threads = workers(connect(address))[1]
        result_progress, complete = _explore_parallel(strat, target, max(threads, 2), deadline,
                                                      max_executions or 0, progress,
                                                      stop_at_first, address)
    elif jobs > 1 and strategy in (*EXHAUSTIVE, "random", "pct"):
        result_progress, complete = _explore_parallel(strat, target, jobs, deadline,
                                                      max_executions or 0, progress,
                                                      stop_at_first)
    else:
        strat.start(target)
        result_progress = Progress()
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            quota = 0 if max_executions is None else max_executions - result_progress.executions
            if max_executions is not None and quota <= 0:
                break
            chunk = min(quota, 50_000) if quota else 50_000
            result_progress = strat.step(chunk, min(left or 0.25, 0.25))
            if progress:
                progress(result_progress)
            if result_progress.complete or result_progress.details.get("stopped"):
                break
            if stop_at_first and result_progress.by_kind:
                break
        complete = result_progress.complete
    if strategy in EXHAUSTIVE:
        complete = bool(complete and result_progress.details.get("covered", complete))
    elif strategy in ("random", "pct"):
        complete = False  # sampling never covers the space
    seconds = time.monotonic() - t0
    params: dict[str, Any] = {"jobs": jobs}
    if "cluster" in result_progress.details:
        params["cluster"] = result_progress.details.pop("cluster")
    elif address is not None:  # nothing to hand out (the search ended while splitting)
        params["cluster"] = {"address": address, "workers": workers(connect(address))[0],
                             "parts": 0}
    params.update(_describe(strat, target))
    cexs = _counterexamples(target, result_progress.found, minimise, minimise_seconds)
    graph = None
    if state_graph:
        from .stategraph import StateGraph

        graph = StateGraph.from_engine(target)
    res = ExploreResult(target.driver_name, target.compiled.scenario.name, strategy, complete,
                        result_progress.executions, seconds, result_progress.violating,
                        dict(sorted(result_progress.by_kind.items())), cexs,
                        dict(result_progress.details), params, graph)
    if out is not None:
        write_outputs(res, Path(out), pictures=pictures)
    return res


def _describe(strat, target: Target) -> dict[str, Any]:
    d = dict(strat.describe())
    d.pop("strategy", None)
    if "guarantee" in d:
        d["pct_guarantee"] = d.pop("guarantee")
    return d


def _explore_parallel(strat, target: Target, jobs: int, deadline, max_executions: int,
                      progress, stop_at_first: bool,
                      cluster: str | None = None) -> tuple[Progress, bool]:
    from ._parallel import merge
    from ._parallel import run_parts as run_local

    per_task = 1  # dfs: a few shards to a cluster task (about 8 tasks per worker thread)

    def run_parts(target, parts, jobs, deadline, max_executions, done, progress):
        if cluster is None:
            return run_local(target, parts, jobs, deadline, max_executions, done, progress)
        from ._cluster import run_parts as run_remote

        return run_remote(target, parts, cluster, deadline, max_executions, done, progress,
                          merge, per_task)

    if strat.name in EXHAUSTIVE:
        parts, pre = strat.parts(target, jobs)
        done = pre or Progress()
        if not parts:
            done.complete = True if pre is not None and pre.complete else done.complete
            return done, done.complete
        done.details.setdefault("shards", len(parts))
        per_task = max(1, len(parts) // (8 * jobs))
        for p in parts:
            p.max_executions = max_executions
        _, finished = run_parts(target, iter(parts), jobs, deadline, max_executions, done,
                                progress)
        done.details["covered"] = finished and not done.details.get("bound_pruned") \
            and not done.details.get("step_bound_hit")
        done.complete = finished
        return done, finished
    # random / pct: seed ranges
    if strat.name == "pct" and not strat.steps:
        from .pct import measure_steps

        strat.steps = measure_steps(target)
        strat._n = target.n_actors
    per = 20_000

    def gen():
        first = strat.seed
        handed = 0
        while not max_executions or handed < max_executions:
            n = per if not max_executions else min(per, max_executions - handed)
            yield strat.part(first, n)
            first += n
            handed += n
            if stop_at_first and done.by_kind:
                return

    done = Progress()
    run_parts(target, gen(), jobs, deadline, max_executions, done, progress)
    return done, False


def _counterexamples(target: Target, found: dict[str, Found], minimise: bool,
                     seconds: float) -> list[Counterexample]:
    out: list[Counterexample] = []
    for kind in sorted(found):
        f = found[kind]
        trace = run_actors(target, f.actors)
        if trace is None or kind not in trace.kinds:
            continue  # cannot happen for a deterministic engine; keep going
        actors, pre, steps = trace.actors, trace.preemptions, trace.steps
        found_pre, found_steps = pre, steps
        minimality = ""
        if minimise:
            m = _minimise(target, trace.actors, kind, seconds=seconds)
            actors, pre, steps = m.actors, m.preemptions, m.steps
            minimality = m.describe()
        outcome = run(target.variant, target.compiled, schedule=target.schedule_text(actors),
                      max_steps=target.max_steps)
        outcome.driver = target.driver_name
        tr = last_trace(target)
        out.append(Counterexample(kind, outcome, pre, steps, found_pre, found_steps,
                                  wrote=tr.wrote, enabled=tr.enabled, minimality=minimality))
    return out


#: a counterexample longer than this is neither tabulated nor drawn in the output files
MAX_DRAWN_STEPS = 2000


def write_outputs(res: ExploreResult, out: Path, *, pictures: bool = True,
                  formats: tuple[str, ...] = ("svg", "png")) -> None:
    """Each counterexample as a replayable trace, a timeline and pictures (`formats`: SVG
    is written directly, PNG needs matplotlib); the state graph as GraphML and DOT."""
    out.mkdir(parents=True, exist_ok=True)
    for c in res.counterexamples:
        stem = out / f"{c.kind}"
        path = save_trace(c.outcome, stem.with_suffix(".trace.json"))
        c.files["trace"] = str(path)
        from rich.console import Console

        from ..timeline import print_outcome

        long = len(c.outcome.steps) > MAX_DRAWN_STEPS  # a spin to the step bound, say
        with open(stem.with_suffix(".timeline.txt"), "w") as fh:
            if long:  # tabulating it takes longer than finding it: say how to see it
                fh.write(f"{c.outcome.driver} × {c.outcome.scenario}: {c.kind} after "
                         f"{len(c.outcome.steps):,} steps (more than {MAX_DRAWN_STEPS:,}: "
                         f"not tabulated).\nschedule {c.outcome.schedule}\n"
                         f"flowrace replay {path} shows every step.\n")
            else:
                print_outcome(c.outcome, Console(file=fh, width=160, color_system=None),
                              notes=c.notes())
        c.files["timeline"] = str(stem.with_suffix(".timeline.txt"))
        if pictures and not long:
            from .picture import render

            for ext in formats:
                p = stem.with_suffix(f".{ext}")
                render(c.outcome, p, wrote=c.wrote,
                       title=f"{c.kind}: {c.preemptions} preemption(s), {c.steps} steps")
                c.files[ext] = str(p)
    if res.graph is not None:
        res.graph.write_graphml(out / "states.graphml")
        res.graph.write_dot(out / "states.dot")
    (out / "explore.json").write_text(json.dumps(res.to_json(), indent=2) + "\n")
