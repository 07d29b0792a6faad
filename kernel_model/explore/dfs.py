"""dfs: exhaustive depth-first search over schedules with dynamic partial-order
reduction (Source-DPOR with sleep sets, in the engine: c_src/engine/explore.c),
optionally preemption-bounded. Only interleavings that differ in the order of
dependent operations (same memory word or lock, at least one a write; same CPU; a
free and any access to the block) are explored; it reports whether the space was
covered and how many interleavings a search without reduction would have run."""

from __future__ import annotations

from typing import Any

from ._engine import Dfs, Target
from ._protocol import Found, Part, Progress


class DfsStrategy:
    name = "dfs"

    def __init__(self, preemption_bound: int | None = None, *, reduction: bool = True,
                 prefix: list[int] | None = None, prefix_sleep: int = 0,
                 count_interleavings: bool = True, record_states: bool = False,
                 stop_kinds: set[str] | None = None, spin_ops: list[int] | None = None):
        self.preemption_bound = preemption_bound
        self.reduction = reduction
        self.prefix = prefix
        self.prefix_sleep = prefix_sleep
        self.count_interleavings = count_interleavings
        self.record_states = record_states
        self.stop_kinds = stop_kinds
        self.spin_ops = spin_ops
        self._dfs: Dfs | None = None
        self._found: dict[str, Found] = {}

    def kwargs(self) -> dict[str, Any]:
        return {"preemption_bound": self.preemption_bound, "reduction": self.reduction,
                "count_interleavings": self.count_interleavings,
                "record_states": self.record_states, "stop_kinds": self.stop_kinds}

    def _make(self, target: Target, **kwargs: Any) -> Dfs:
        return Dfs(target, **kwargs)

    def start(self, target: Target) -> None:
        self._dfs = self._make(target, reduction=self.reduction,
                               preemption_bound=self.preemption_bound, prefix=self.prefix,
                               prefix_sleep=self.prefix_sleep,
                               count_interleavings=self.count_interleavings,
                               stop_kinds=self.stop_kinds, record_states=self.record_states,
                               spin_ops=self.spin_ops)
        self._found = {}

    def step(self, max_executions: int, seconds: float) -> Progress:
        assert self._dfs is not None, "start() first"
        st = self._last = self._dfs.run(max_executions, seconds)
        for kind in st.by_kind:
            w = self._dfs.witness(kind)
            if w is not None:
                self._found[kind] = Found(kind, w[0], w[1])
        bounded = self.preemption_bound is not None
        return Progress(
            executions=st.executions, violating=st.violating, steps=st.steps,
            by_kind=dict(st.by_kind), found=dict(self._found),
            complete=st.complete,
            details={
                "explored": st.maximal,
                "sleep_blocked": st.sleep_blocked,
                "interleavings": st.interleavings if st.interleavings_exact else None,
                "bound_pruned": st.bound_pruned,
                "covered": st.complete and not (bounded and st.bound_pruned),
                "coverage": st.coverage,
                "max_depth": st.max_depth,
                "stopped": st.stopped,
            })

    def parts(self, target: Target, jobs: int) -> tuple[list[Part], Progress | None]:
        """Schedule-prefix shards: the search tries every actor at the first levels
        (with sleep sets between siblings) and hands each prefix to a process. A
        search that finishes in a moment is not split."""
        probe = type(self)(**self.kwargs())
        probe.start(target)
        progress = probe.step(20000, 0.03)
        if progress.complete or progress.details["stopped"]:
            return [], progress
        # operations seen to spin wide: their beginnings read the world in every piece
        spins = probe._dfs.spin_ops()  # type: ignore[union-attr]
        shards: list[tuple[list[int], int]] = []
        split_progress = Progress()
        for depth in range(2, 40):
            splitter = self._make(target, reduction=self.reduction, split_depth=depth,
                                  count_interleavings=self.count_interleavings, spin_ops=spins)
            st = splitter.run()
            found = splitter.shards()
            if len(found) <= len(shards):
                continue  # no finer split here (executions end above this depth)
            shards = found
            split_progress = Progress(executions=0, complete=False, details={
                "interleavings": st.interleavings if st.interleavings_exact else None,
                "explored": st.maximal})
            # executions that ended above the split depth ran here: keep their findings
            split_progress.by_kind = dict(st.by_kind)
            for kind in st.by_kind:
                w = splitter.witness(kind)
                if w is not None:
                    split_progress.found[kind] = Found(kind, w[0], w[1])
            if len(shards) >= 128 * jobs:
                break
        kw = self.kwargs()
        parts = [Part(self.name, {**kw, "prefix": prefix, "prefix_sleep": sleep,
                                  "spin_ops": spins})
                 for prefix, sleep in shards]
        return parts, split_progress

    def describe(self) -> dict[str, Any]:
        return {"strategy": "dfs", "reduction": "source-dpor+sleep-sets" if self.reduction
                else "none", "preemption_bound": self.preemption_bound}
