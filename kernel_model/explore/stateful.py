"""dfs-stateful: exhaustive depth-first search with a visited set of states.

The engine fingerprints the state at every new scheduling point (128 bits: the model's
memory, each actor's position and local state — its live coroutine stack —, spins,
bursts, events, locks, lock-order edges, the violations so far, a variant's own globals
and, once a plain access was seen, the data-race detector's state as orders of epochs)
and cuts an execution at a state it visited before: everything that can follow that state
was explored from its first visit (c_src/engine/stateful.c). So each reachable state is
expanded once, however many interleavings lead to it.

Soundness: no partial-order reduction is combined with it (every enabled actor is tried
at every new state) and no preemption bound: a plain graph search over the states, which
reaches every reachable state and runs every transition out of each. What can make it
miss something: a fingerprint collision (about n^2 / 2^129 for n states), or the step
bound (an execution that reaches it makes the run incomplete, never a proof). The
soundness harness (tests/explore/soundness) checks it against the full stateless search.

Where it pays: scenarios whose interleavings reach few distinct states (rst-storm with
3 flows on 1 CPU: 64k states in 1.3 s, where the reduced stateless dfs needs 5.4M
executions; 2 flows x 2 CPUs: 0.43M states in 10-15 s, which dfs does not finish). Where
the reduction of `dfs` already leaves few executions it costs more (it expands every
state fully), and with plain accesses (the race detector's state joins the fingerprint).
"""

from __future__ import annotations

from typing import Any

from ._engine import Dfs, Target
from ._protocol import Progress
from .dfs import DfsStrategy


class StatefulStrategy(DfsStrategy):
    name = "dfs-stateful"

    def __init__(self, preemption_bound: int | None = None, **kwargs: Any):
        if preemption_bound is not None:
            from ..errors import FlowraceError

            raise FlowraceError("--preemption-bound does not combine with dfs-stateful (a "
                                "state reached with fewer preemptions left would be cut)")
        kwargs["reduction"] = False
        kwargs["count_interleavings"] = False  # cut executions stand for no fixed number
        super().__init__(None, **kwargs)

    def _make(self, target: Target, **kwargs: Any) -> Dfs:
        return Dfs(target, stateful=True, **kwargs)

    def step(self, max_executions: int, seconds: float) -> Progress:
        progress = super().step(max_executions, seconds)
        st = self._last
        progress.details.update({
            "states": st.states,
            "revisits": st.revisits,
            "visited_bytes": st.visited_bytes,
            "step_bound_hit": st.step_bound_hit,
            "restarts": st.restarts,
        })
        if st.step_bound_hit:  # a state first reached near the bound was cut short there
            progress.details["covered"] = False
        return progress

    def describe(self) -> dict[str, Any]:
        return {"strategy": "dfs-stateful",
                "reduction": "none: visited-state fingerprints (128-bit)",
                "preemption_bound": None}
