"""dfs-stateful: exhaustive depth-first search with a visited set of states.

The engine fingerprints the state at every new scheduling point (128 bits: the model's
memory, each actor's position and local state — its live coroutine stack —, spins,
bursts, events, locks, lock-order edges, the violations so far, a variant's own globals
and, once a plain access was seen, the data-race detector's state as orders of epochs)
and cuts an execution at a state it visited before: everything that can follow that state
was explored from its first visit (c_src/engine/stateful.c). So each reachable state is
expanded at most once, however many interleavings lead to it.

Reduction (on by default): dynamic partial-order reduction with persistent sets
(Flanagan & Godefroid's rule, no sleep sets), which is what makes a cut sound: each
finished state keeps a summary, per actor, of what the steps below it touch, and a cut
reverses every race the summary may hold with the steps before it (Yang et al., SPIN
2008; c_src/engine/stateful_por.c). That combination covers acyclic state graphs: a cut at a
state still on the search path (a cycle) makes the search start over without reduction.
Without reduction (reduction=False) it is a plain graph search: every enabled actor is
tried at every new state. Either way no preemption bound, and either way an execution
that comes back to a state on its own path (a loop with no end) is a livelock, as the
step bound makes it in `dfs`.

What can make it miss something: a fingerprint collision (about n^2 / 2^129 for n
states), or the step bound (an execution that reaches it makes the run incomplete, never
a proof). The soundness harness (tests/explore/soundness) checks both modes against the
full stateless search on generated programs.

Where it pays: scenarios whose interleavings reach few distinct states (rst-storm, many
flows sharing the table lock and the polls: 2 flows x 2 CPUs complete in a few seconds,
where the reduced stateless dfs does not finish). Where the reduction of `dfs` already
leaves few executions it costs more, and with plain accesses (the race detector's state
joins the fingerprint).
"""

from __future__ import annotations

from typing import Any

from ._engine import Dfs, Target
from ._protocol import Part, Progress
from .dfs import DfsStrategy


class StatefulStrategy(DfsStrategy):
    name = "dfs-stateful"

    def __init__(self, preemption_bound: int | None = None, **kwargs: Any):
        if preemption_bound is not None:
            from ..errors import FlowraceError

            raise FlowraceError("--preemption-bound does not combine with dfs-stateful (a "
                                "state reached with fewer preemptions left would be cut)")
        kwargs.setdefault("reduction", True)
        kwargs["count_interleavings"] = False  # cut executions stand for no fixed number
        super().__init__(None, **kwargs)

    def _make(self, target: Target, **kwargs: Any) -> Dfs:
        return Dfs(target, stateful=True, **kwargs)

    def parts(self, target: Target, jobs: int) -> tuple[list[Part], Progress | None]:
        """One part, the whole search, in one worker process. Shards would each keep a
        visited set of their own and explore every state they share once per shard: on
        last-ref x split-deletes, 2 processes took 92 s and 10.6M states where one takes
        under a second and 61k. (A visited set shared between processes is not built.)"""
        return [Part(self.name, self.kwargs())], None

    def step(self, max_executions: int, seconds: float) -> Progress:
        progress = super().step(max_executions, seconds)
        st = self._last
        progress.details.update({
            "states": st.states,
            "revisits": st.revisits,
            "visited_bytes": st.visited_bytes,
            "step_bound_hit": st.step_bound_hit,
            "restarts": st.restarts,
            "reduced": st.reduced,
        })
        if st.step_bound_hit:  # a state first reached near the bound was cut short there
            progress.details["covered"] = False
        return progress

    def describe(self) -> dict[str, Any]:
        last = getattr(self, "_last", None)
        reduced = self.reduction and (last is None or last.reduced)
        reduction = "persistent sets, summaries at cuts" if reduced else "none"
        if self.reduction and not reduced:
            reduction += " (a cycle in the state graph dropped the reduction)"
        return {"strategy": "dfs-stateful",
                "reduction": f"{reduction}; visited-state fingerprints (128-bit)",
                "preemption_bound": None}
