"""The one small interface every exploration strategy implements (as shuttle's
`Scheduler`), and the plain data they report.

The loops themselves run inside the C engine (a strategy hands the engine a batch,
a search or a schedule, not one decision at a time: an execution costs a few
microseconds, a Python call per scheduling point would cost more than the
execution). So the protocol is chunk-level:

    start(target)                 prepare on one driver variant x scenario
    step(max_executions, seconds) run up to that much, return the progress so far
    parts(target, jobs)           independent pieces for other processes (--jobs, or
                                  Dask workers with --cluster: `_cluster`): dfs
                                  returns schedule-prefix shards; random and pct hand
                                  out seed ranges with part(first_seed, n)
    describe()                    the strategy's parameters and what it guarantees

A violating execution is reported as `Found`: its kind and the step-level
schedule that reproduces it (the default policy continues after it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from ._engine import Target


@dataclass
class Found:
    kind: str
    actors: list[int]
    preemptions: int | None = None


@dataclass
class Progress:
    """Cumulative figures of one strategy run."""

    executions: int = 0
    violating: int = 0
    steps: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    found: dict[str, Found] = field(default_factory=dict)
    complete: bool = False
    details: dict[str, Any] = field(default_factory=dict)

    def merge(self, other: Progress) -> None:
        """Add a piece that ran elsewhere (another process, another shard)."""
        self.executions += other.executions
        self.violating += other.violating
        self.steps += other.steps
        for k, n in other.by_kind.items():
            self.by_kind[k] = self.by_kind.get(k, 0) + n
        for k, f in other.found.items():
            mine = self.found.get(k)
            if mine is None or _better(f, mine):
                self.found[k] = f


def _better(a: Found, b: Found) -> bool:
    pa = a.preemptions if a.preemptions is not None else 1 << 30
    pb = b.preemptions if b.preemptions is not None else 1 << 30
    return (pa, len(a.actors)) < (pb, len(b.actors))


@dataclass
class Part:
    """A piece of work for another process: which strategy, built how, with what budget
    share. Plain data (picklable)."""

    strategy: str
    kwargs: dict[str, Any]
    max_executions: int = 0


class Strategy(Protocol):
    name: str

    def start(self, target: Target) -> None: ...

    def step(self, max_executions: int, seconds: float) -> Progress: ...

    def parts(self, target: Target, jobs: int) -> tuple[list[Part], Progress | None]: ...

    def describe(self) -> dict[str, Any]: ...
