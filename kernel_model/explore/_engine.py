"""The C calls exploration needs, in one place: fast executions of a step-level
schedule, the depth-first explorer (fr_dfs_*), batches and the state graph."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import FlowraceError
from ..execution import (
    VIOLATION_KINDS,
    RunConfig,
    _run_spec,
    _scenario_spec,
    actor_names,
    compress_schedule,
)
from ..scenario import CompiledScenario, Scenario
from ..variants import Variant, load_variant

KIND_BITS = {name: bit for bit, name in VIOLATION_KINDS.items()}


def kinds_of(mask: int) -> set[str]:
    return {name for bit, name in VIOLATION_KINDS.items() if mask >> bit & 1}


def mask_of(kinds) -> int:
    m = 0
    for k in kinds:
        m |= 1 << KIND_BITS[k]
    return m


@dataclass
class Target:
    """What is explored: one compiled driver variant on one compiled scenario."""

    variant: Variant
    scenario: Scenario
    compiled: CompiledScenario
    max_steps: int = 20000
    _keep: list[Any] = field(default_factory=list, repr=False)

    @classmethod
    def make(cls, driver, scenario, max_steps: int = 20000) -> Target:
        from ..scenario import CompiledScenario as CS

        variant = driver if isinstance(driver, Variant) else load_variant(driver)
        if isinstance(scenario, CS):
            compiled, sc = scenario, scenario.scenario
        elif isinstance(scenario, Scenario):
            sc, compiled = scenario, scenario.compile()
        else:
            from ..scenarios import get_scenario

            sc = get_scenario(str(scenario))
            compiled = sc.compile()
        return cls(variant, sc, compiled, max_steps)

    @property
    def ffi(self):
        return self.variant.ffi

    @property
    def lib(self):
        return self.variant.lib

    @property
    def names(self) -> list[str]:
        return actor_names(self.compiled)

    @property
    def n_actors(self) -> int:
        """The scenario's actors (the settle actor is not one of them)."""
        return len(self.compiled.scenario.actors)

    @property
    def driver_name(self) -> str:
        v = self.variant
        return v.name if v.builtin else str(v.source)

    def spec(self):
        return _scenario_spec(self.variant, self.compiled)[0]

    def run_spec(self, strategy: str = "schedule", *, seed: int = 0, pct_depth: int = 2,
                 pct_steps: int = 0, stop_on_violation: bool = False, record_states: bool = False):
        cfg = RunConfig(strategy, seed, None, None, pct_depth, pct_steps, self.max_steps,
                        stop_on_violation)
        run, keep = _run_spec(self.variant, self.compiled, cfg)
        run.record_states = 1 if record_states else 0
        self._keep = keep
        return run

    def error_text(self) -> str:
        return self.ffi.string(self.lib.fr_error_text()).decode()

    def schedule_text(self, actors: list[int]) -> str:
        return compress_schedule(list(actors), self.names)


@dataclass
class Trace:
    """The schedule of the execution that just ran, from the engine."""

    actors: list[int]
    enabled: list[int]
    kinds: set[str]
    wrote: list[int] = field(default_factory=list)

    @property
    def steps(self) -> int:
        return len(self.actors)

    @property
    def preemptions(self) -> int:
        return preemptions(self.actors, self.enabled)


def preemptions(actors: list[int], enabled: list[int]) -> int:
    """Steps at which the scheduler switched away from an actor that could go on."""
    return sum(1 for i in range(1, len(actors))
               if actors[i] != actors[i - 1] and enabled[i] >> actors[i - 1] & 1)


def last_trace(target: Target) -> Trace:
    lib, ffi = target.lib, target.ffi
    n = lib.fr_steps()
    actors = ffi.new("int[]", max(n, 1))
    enabled = ffi.new("uint32_t[]", max(n, 1))
    wrote = ffi.new("unsigned char[]", max(n, 1))
    lib.fr_trace_bulk(actors, enabled, wrote, n)
    return Trace(list(actors[0:n]), list(enabled[0:n]), kinds_of(lib.fr_violation_kinds()),
                 list(wrote[0:n]))


def run_actors(target: Target, actors: list[int], *, record_states: bool = False) -> Trace | None:
    """Run a step-level schedule (then the default policy). None if the schedule names
    an actor that cannot run where it says."""
    ffi = target.ffi
    segs: list[tuple[int, int]] = []
    for a in actors:
        if segs and segs[-1][0] == a:
            segs[-1] = (a, segs[-1][1] + 1)
        else:
            segs.append((a, 1))
    arr = ffi.new("FR_SEGMENT[]", max(1, len(segs)))
    for i, (a, n) in enumerate(segs):
        arr[i].actor, arr[i].kind, arr[i].arg = a, 0, n
    run = target.run_spec("schedule", record_states=record_states)
    run.n_segments = len(segs)
    run.segments = arr
    rc = target.lib.fr_run(target.spec(), run)
    if rc == 1:
        return None
    if rc != 0:
        raise FlowraceError(target.error_text() or f"the engine failed (code {rc})")
    return last_trace(target)


def run_seed(target: Target, strategy: str, seed: int, *, pct_depth: int = 2,
             pct_steps: int = 0) -> Trace:
    """Re-run one seeded execution of a batch exactly (batches stop at a violation)."""
    run = target.run_spec(strategy, seed=seed, pct_depth=pct_depth, pct_steps=pct_steps,
                          stop_on_violation=True)
    rc = target.lib.fr_run(target.spec(), run)
    if rc != 0:
        raise FlowraceError(target.error_text() or f"the engine failed (code {rc})")
    return last_trace(target)


@dataclass
class BatchOut:
    executions: int
    violating: int
    steps: int
    by_kind: dict[str, int]
    first_seed: dict[str, int]


def run_batch(target: Target, strategy: str, first_seed: int, n: int, *, pct_depth: int = 2,
              pct_steps: int = 0, record_states: bool = False) -> BatchOut:
    run = target.run_spec(strategy, seed=first_seed, pct_depth=pct_depth, pct_steps=pct_steps,
                          stop_on_violation=True, record_states=record_states)
    out = target.ffi.new("FR_BATCH_RESULT *")
    rc = target.lib.fr_run_batch(target.spec(), run, first_seed, n, out)
    if rc != 0:
        raise FlowraceError(target.error_text() or f"the engine failed (code {rc})")
    by_kind = {name: out.by_kind[b] for b, name in VIOLATION_KINDS.items() if out.by_kind[b]}
    first = {name: int(out.first_seed[b]) for b, name in VIOLATION_KINDS.items()
             if out.by_kind[b]}
    return BatchOut(out.executions, out.violating, out.steps, by_kind, first)


# ---- the depth-first explorer ---------------------------------------------------------
@dataclass
class DfsStatus:
    executions: int
    maximal: int
    sleep_blocked: int
    bound_pruned: int
    steps: int
    violating: int
    by_kind: dict[str, int]
    interleavings: float
    interleavings_exact: bool
    complete: bool
    stopped: bool
    max_depth: int
    coverage: float
    shards: int
    states: int = 0          # stateful: distinct states visited
    revisits: int = 0        # stateful: executions cut at a visited state
    visited_bytes: int = 0   # stateful: memory of the visited set
    step_bound_hit: int = 0  # executions that reached the step bound
    restarts: int = 0
    reduced: bool = False    # stateful: the reduction held to the end (no cycle dropped it)
    resumed: int = 0         # stateful: executions resumed at a checkpoint, not replayed


class Dfs:
    """One depth-first search in the engine (one per process at a time)."""

    def __init__(self, target: Target, *, reduction: bool = True, preemption_bound: int | None
                 = None, prefix: list[int] | None = None, prefix_sleep: int = 0,
                 split_depth: int = 0, count_interleavings: bool = True,
                 stop_kinds: set[str] | None = None, record_states: bool = False,
                 spin_ops: list[int] | None = None, stateful: bool = False,
                 checkpoints: bool = True, checkpoint_check: bool = False):
        self.target = target
        ffi = target.ffi
        self._run = target.run_spec("schedule", record_states=record_states)
        self._spec = ffi.new("FR_DFS_SPEC *")
        s = self._spec
        s.reduction = 1 if reduction else 0
        s.preemption_bound = -1 if preemption_bound is None else preemption_bound
        s.split_depth = split_depth
        self._prefix = ffi.new("int[]", list(prefix or []) or [0])
        s.n_prefix = len(prefix or [])
        s.prefix = self._prefix
        s.prefix_sleep = prefix_sleep
        s.count_interleavings = 1 if count_interleavings else 0
        s.stop_kinds = mask_of(stop_kinds or ())
        self._spins = ffi.new("unsigned char[]", list(spin_ops or []) or [0])
        s.n_spin_ops = len(spin_ops or [])
        s.spin_ops = self._spins
        s.stateful = 1 if stateful else 0
        s.no_checkpoints = 0 if checkpoints else 1  # (stateful: resume, not replay)
        s.checkpoint_check = 1 if checkpoint_check else 0
        rc = target.lib.fr_dfs_start(target.spec(), self._run, s)
        if rc != 0:
            raise FlowraceError(target.error_text() or f"the explorer could not start (code {rc})")
        self._status = ffi.new("FR_DFS_STATUS *")

    def run(self, max_executions: int = 0, seconds: float = 0.0) -> DfsStatus:
        t = self.target
        rc = t.lib.fr_dfs_run(max_executions, seconds, self._status)
        if rc != 0:
            raise FlowraceError(t.error_text() or f"the explorer failed (code {rc})")
        s = self._status
        return DfsStatus(
            s.executions, s.maximal, s.sleep_blocked, s.bound_pruned, s.steps, s.violating,
            {name: s.by_kind[b] for b, name in VIOLATION_KINDS.items() if s.by_kind[b]},
            s.interleavings, bool(s.interleavings_exact), bool(s.complete), bool(s.stopped),
            s.max_depth, s.coverage, s.shards, s.states, s.revisits, s.visited_bytes,
            s.step_bound_hit, s.restarts, bool(s.reduced), s.resumed)

    def witness(self, kind: str) -> tuple[list[int], int] | None:
        t = self.target
        cap = max(t.lib.fr_steps(), 1) + self._status.max_depth + 16
        buf = t.ffi.new("int[]", cap)
        pre = t.ffi.new("int *")
        n = t.lib.fr_dfs_witness(KIND_BITS[kind], buf, cap, pre)
        if n < 0:
            return None
        if n > cap:  # longer than any execution so far (a cycle's, run to the step bound)
            buf = t.ffi.new("int[]", n)
            n = t.lib.fr_dfs_witness(KIND_BITS[kind], buf, n, pre)
        return list(buf[0:n]), pre[0]

    def spin_ops(self) -> list[int]:
        t = self.target
        cap = len(t.compiled.ops) + 1
        buf = t.ffi.new("unsigned char[]", cap)
        n = t.lib.fr_dfs_spin_ops(buf, cap)
        return list(buf[0:n])

    def shards(self) -> list[tuple[list[int], int]]:
        t = self.target
        out = []
        depth = self._spec.split_depth
        buf = t.ffi.new("int[]", max(depth, 1))
        sleep = t.ffi.new("uint32_t *")
        for i in range(self._status.shards):
            n = t.lib.fr_dfs_shard(i, buf, depth, sleep)
            out.append((list(buf[0:n]), int(sleep[0])))
        return out
