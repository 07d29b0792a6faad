"""Counterexample minimisation: fewest preemptions, then fewest steps, same kind.

A counterexample is a step-level schedule. Its cost is (preemptions, steps) of the
execution it produces, where a preemption is a switch away from an actor that could
have gone on. The result keeps the violation kind and is never worse than the input
on either count: never more preemptions, never more steps.

1. Bounded search: the depth-first explorer with preemption bound b = 0, 1, ... below
   the input's count, stopping at the first execution that shows the kind. It gets at
   most 40 % of the time: a random or PCT find with dozens of preemptions on a large
   scenario would otherwise spend it all on bounds that cannot complete.
2. Local shrinking, as a shrinker does with a choice sequence: cut the explicit
   schedule short (the default policy continues), drop a context switch, move a
   switch point earlier or later, swap two neighbouring segments; keep a change
   when the kind is still there and the cost went down — until no neighbour is better
   (a local minimum), then the bounded search again below the new count with what is
   left of the time.

The result says how far it got: `local_minimum` (no single change lowers the cost) and
`proven_bound` (a complete bounded search found no counterexample of this kind with that
many preemptions or fewer, so fewer than `proven_bound + 1` is impossible).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from ._engine import Dfs, Target, Trace, run_actors

T = TypeVar("T")


@dataclass
class Minimised:
    kind: str
    actors: list[int]          # the full schedule of the minimised execution
    preemptions: int
    steps: int
    original_preemptions: int
    original_steps: int
    runs: int                  # executions spent
    local_minimum: bool = False  # no neighbour of the result is better
    proven_bound: int = -1     # no counterexample with <= this many preemptions (-1: none)

    def describe(self) -> str:
        """How minimal the result is, in words."""
        if self.proven_bound >= self.preemptions - 1 and self.preemptions > 0:
            return "the fewest preemptions possible (a complete search with fewer found none)"
        if self.preemptions == 0:
            return "no preemption at all"
        parts = ["a local minimum" if self.local_minimum else "time ran out before a local "
                 "minimum"]
        if self.proven_bound >= 0:
            parts.append(f"none exists with {self.proven_bound} or fewer preemptions")
        return "; ".join(parts)


def _segments(actors: list[int]) -> list[list[int]]:
    segs: list[list[int]] = []
    for a in actors:
        if segs and segs[-1][0] == a:
            segs[-1][1] += 1
        else:
            segs.append([a, 1])
    return segs


def _flatten(segs) -> list[int]:
    out: list[int] = []
    for a, n in segs:
        if n > 0:
            out += [a] * n
    return out


def neighbours(actors: list[int]) -> Iterator[list[int]]:
    """Schedules one local change away from `actors`, as a shrinker tries them: cut the
    explicit schedule at a switch (the default policy decides the rest), drop a
    segment, move a switch point earlier or later, swap two neighbouring segments."""
    segs = _segments(actors)
    pos = 0
    for _a, n in segs[:-1]:
        pos += n
        yield actors[:pos]
    for i in range(1, len(segs)):
        s = [list(x) for x in segs]
        del s[i]
        yield _flatten(s)
        for delta in (1, 2, 4, 8, 16):
            for sign in (-1, 1):
                s = [list(x) for x in segs]
                s[i - 1][1] += sign * delta
                s[i][1] -= sign * delta
                if s[i - 1][1] >= 0 and s[i][1] >= 0:
                    yield _flatten(s)
        s = [list(x) for x in segs]
        s[i - 1], s[i] = s[i], s[i - 1]
        yield _flatten(s)


def shrink(best: T, actors_of: Callable[[T], list[int]], attempt: Callable[[list[int]], T | None],
           better: Callable[[T, T], bool], keep_going: Callable[[], bool]) -> T:
    """Local search: take the first neighbour of the best schedule that `attempt` turns
    into a result `better` than the best, until no neighbour is (or `keep_going` says
    stop). A result is whatever `attempt` makes of a schedule (a trace, the steps a
    crashing run logged); `actors_of` gives its schedule back."""
    improved = True
    while improved and keep_going():
        improved = False
        for cand in neighbours(actors_of(best)):
            if not keep_going():
                break
            got = attempt(cand)
            if got is not None and better(got, best):
                best, improved = got, True
                break
    return best


def switches(actors: list[int]) -> int:
    """Context switches in a schedule (what a crash, whose enabled sets are lost with
    the process, is minimised by in place of preemptions)."""
    return max(0, len(_segments(actors)) - 1)


def minimise(target: Target, actors: list[int], kind: str, *, seconds: float = 5.0,
             max_runs: int = 20000) -> Minimised:
    t_end = time.monotonic() + seconds
    runs = 0

    def evaluate(candidate: list[int]) -> Trace | None:
        nonlocal runs
        runs += 1
        tr = run_actors(target, candidate)
        if tr is None or kind not in tr.kinds:
            return None
        return tr

    first = evaluate(actors)
    if first is None:
        raise ValueError(f"the schedule does not show {kind}")
    best = first
    cap_pre, cap_steps = first.preemptions, first.steps

    def cost(tr: Trace) -> tuple[int, int]:
        return tr.preemptions, tr.steps

    def admissible(tr: Trace | None) -> bool:
        return tr is not None and tr.preemptions <= cap_pre and tr.steps <= cap_steps

    proven = -1  # every bound up to this one searched completely: nothing found

    def bounded(until: float) -> None:
        """The fewest preemptions by bounded search, below the best's count."""
        nonlocal best, runs, proven
        for bound in range(proven + 1, best.preemptions):
            if time.monotonic() > until:
                return
            dfs = Dfs(target, preemption_bound=bound, stop_kinds={kind},
                      count_interleavings=False)
            st = dfs.run(max_executions=max(1, (max_runs - runs) // 2),
                         seconds=max(0.02, until - time.monotonic()))
            runs += st.executions
            w = dfs.witness(kind)
            if w is not None:
                tr = evaluate(w[0])
                if admissible(tr) and cost(tr) < cost(best):
                    best = tr
                    return
            if not st.complete:
                return  # this bound did not finish: a larger one would not either
            proven = bound

    # 1. the fewest preemptions, by bounded search, with a share of the time
    start = time.monotonic()
    bounded(start + 0.4 * seconds)

    # 2. local shrinking of the explicit schedule, to a local minimum
    def better(tr: Trace, than: Trace) -> bool:
        return admissible(tr) and (cost(tr) < cost(than) or (
            cost(tr) == cost(than) and len(_segments(tr.actors)) < len(_segments(than.actors))))

    def keep_going() -> bool:
        return time.monotonic() < t_end and runs < max_runs

    best = shrink(best, lambda tr: tr.actors, evaluate, better, keep_going)
    local = keep_going()  # it stopped because no neighbour was better
    # 3. with time left, the bounded search again below the new count
    if local and proven + 1 < best.preemptions:
        before = best
        bounded(t_end)
        if best is not before:
            best = shrink(best, lambda tr: tr.actors, evaluate, better, keep_going)
            local = keep_going()
    return Minimised(kind, list(best.actors), best.preemptions, best.steps, first.preemptions,
                     first.steps, runs, local, min(proven, best.preemptions - 1))
