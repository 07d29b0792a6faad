"""Identical interleavings: the linear extensions of a scenario's event DAG.

A scenario's events are the harness's labels around the variant hooks: a classify took
its reference / released it (``cpu0.late0.ref``, ``cpu0.late0.release``), delete
notification k (``cpu1.delete3``), poll k (``agent.poll1``), a restart or an expiry. They
exist in every driver variant. Program order and the environment's causality (a classify
through an association ends before that association's delete, ``after=`` constraints) make
them a DAG (`CompiledScenario.event_graph`); every linear extension of it is one
*interleaving*, and the same list of interleavings runs on every driver variant.

How the scheduler follows an interleaving (the engine's event-order strategy,
``pick_event_order`` in ``c_src/engine/strategy.c``). At every scheduling point:

* the owner of the earliest unfinished event of the order runs (its actor is in that event,
  or about to begin the operation that opens it), one shared-memory operation at a time,
  until the event ends: an event is atomic unless its owner cannot go on;
* if it cannot run — it spins (``YieldProcessor`` / ``KeStallExecutionProcessor``) on
  something only another actor can change, it waits for a spin lock, its CPU is owned by a
  DISPATCH-level actor (a DPC that preempted it), or it waits for an event of another actor
  — the owners of the *next* events of the order run, earliest first, until it can run
  again (a spinner can run again once another actor wrote shared memory);
  when none of them can run, the lowest-numbered runnable actor runs;
* when nobody can run and someone spins, the spinners spin on without progress; a spin
  that nobody else can end for 64 rounds in a row is a ``livelock`` (e.g. a DPC spinning
  on a reference held by the PASSIVE actor it preempted on its own CPU), everyone blocked
  is a ``deadlock``; the execution stops there;
* once the scenario's actors are done, one more user-space poll (``settle``) reads both
  tables, then the leak check runs.

So a race *between* hooks (a late packet holding its reference across the last delete
notification) is an interleaving; a race *inside* one hook (two delete notifications
interleaving their interlocked operations) is not, by construction: the comparison adds a
seeded step-level sweep for those (`compare.matrix`).

Small scenarios are enumerated completely (networkx's ``all_topological_sorts``, in its
deterministic order: interleaving #k is the same for every variant and every run). Large
ones are sampled with a seed: exactly uniformly over linear extensions when the lattice of
the DAG's down-sets is small enough to count (it is for scenarios made of a few actors: at
most the product of (events per actor + 1) states), otherwise by a weighted random
topological sort refined by a random walk of adjacent transpositions (Bubley-Dyer).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kernel_model.scenario import CompiledScenario

if TYPE_CHECKING:  # networkx is imported where it is used: not on every start-up
    import networkx as nx

#: scenarios with at most this many interleavings are enumerated completely
ENUMERATE_LIMIT = 50_000
#: interleavings drawn from a larger scenario unless told otherwise (--interleavings N)
DEFAULT_SAMPLE = 500
#: down-sets the exact counter may memoise before giving up
COUNT_STATE_LIMIT = 2_000_000


@dataclass(frozen=True)
class Interleavings:
    """The interleavings of one scenario that every driver variant runs.

    `orders[k]` is interleaving #k: event ids in order. `total` is the number of linear
    extensions (None when too many to count); `exhaustive` says whether `orders` is all of
    them; `seed` is the seed of a sample (None when exhaustive)."""

    scenario: str
    labels: tuple[str, ...]
    orders: tuple[tuple[int, ...], ...]
    total: int | None
    exhaustive: bool
    seed: int | None
    method: str = "enumerated"
    _index: dict = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.orders)

    def __iter__(self) -> Iterator[tuple[int, ...]]:
        return iter(self.orders)

    def __getitem__(self, k: int) -> tuple[int, ...]:
        return self.orders[k]

    def describe(self, k: int) -> list[str]:
        """Interleaving #k as event labels."""
        return [self.labels[e] for e in self.orders[k]]

    def index_of(self, labels: Sequence[str]) -> int:
        """The number of the interleaving with these event labels (ValueError if absent)."""
        if not self._index:
            self._index.update({o: k for k, o in enumerate(self.orders)})
        ids = {label: i for i, label in enumerate(self.labels)}
        key = tuple(ids[label] for label in labels)
        if key not in self._index:
            raise ValueError(f"not one of the {len(self)} interleavings of {self.scenario}")
        return self._index[key]

    def summary(self) -> str:
        if self.exhaustive:
            return f"all {len(self)} interleavings"
        total = f"{self.total:,}" if self.total is not None else "too many to count"
        return f"{len(self)} of {total} interleavings, {self.method}, seed {self.seed}"


# ---- counting --------------------------------------------------------------------------
class _Lattice:
    """Down-sets of the event DAG as bitmasks, with the number of ways to finish each."""

    def __init__(self, graph: nx.DiGraph, state_limit: int = COUNT_STATE_LIMIT):
        self.nodes = sorted(graph.nodes)
        pos = {n: i for i, n in enumerate(self.nodes)}
        self.n = len(self.nodes)
        self.pred = [0] * self.n
        for u, v in graph.edges:
            self.pred[pos[v]] |= 1 << pos[u]
        self.full = (1 << self.n) - 1
        self.memo: dict[int, int] = {self.full: 1}
        self.state_limit = state_limit

    def sources(self, done: int) -> list[int]:
        return [i for i in range(self.n)
                if not done >> i & 1 and self.pred[i] & done == self.pred[i]]

    def count(self, done: int = 0) -> int:
        """Linear extensions of the events not in `done` (iterative, memoised)."""
        memo = self.memo
        if done in memo:
            return memo[done]
        stack = [done]
        while stack:
            d = stack[-1]
            if d in memo:
                stack.pop()
                continue
            nexts = [d | 1 << i for i in self.sources(d)]
            missing = [x for x in nexts if x not in memo]
            if missing:
                if len(memo) + len(missing) > self.state_limit:
                    raise OverflowError("too many down-sets to count")
                stack.extend(missing)
                continue
            memo[d] = sum(memo[x] for x in nexts)
            stack.pop()
        return memo[done]


def count_interleavings(compiled: CompiledScenario,
                        state_limit: int = COUNT_STATE_LIMIT) -> int | None:
    """The number of linear extensions of the scenario's event DAG (None: too many
    down-sets to count exactly)."""
    try:
        return _Lattice(compiled.event_graph(), state_limit).count()
    except OverflowError:
        return None


# ---- enumeration and sampling ---------------------------------------------------------------
def enumerate_interleavings(compiled: CompiledScenario) -> list[tuple[int, ...]]:
    """Every linear extension, in networkx's deterministic order."""
    import networkx as nx

    return [tuple(o) for o in nx.all_topological_sorts(compiled.event_graph())]


def _uniform(lattice: _Lattice, rng: random.Random) -> tuple[int, ...]:
    """One linear extension drawn exactly uniformly: from down-set D, the next event s is
    chosen with probability count(D + s) / count(D)."""
    done = 0
    out = []
    for _ in range(lattice.n):
        total = lattice.count(done)
        pick = rng.randrange(total)
        for i in lattice.sources(done):
            c = lattice.count(done | 1 << i)
            if pick < c:
                done |= 1 << i
                out.append(lattice.nodes[i])
                break
            pick -= c
    return tuple(out)


def _walked(graph: nx.DiGraph, rng: random.Random, steps: int) -> tuple[int, ...]:
    """A weighted random topological sort (an available event is chosen with weight
    1 + its number of descendants, exact for independent chains), then `steps` steps of
    the adjacent-transposition walk whose stationary law is uniform."""
    import networkx as nx

    desc = {n: len(nx.descendants(graph, n)) for n in graph}
    indeg = {n: graph.in_degree(n) for n in graph}
    ready = [n for n in graph if indeg[n] == 0]
    order: list[int] = []
    while ready:
        weights = [1 + desc[n] for n in ready]
        n = rng.choices(ready, weights)[0]
        ready.remove(n)
        order.append(n)
        for m in graph.successors(n):
            indeg[m] -= 1
            if indeg[m] == 0:
                ready.append(m)
    reach = {n: nx.descendants(graph, n) for n in graph}
    for _ in range(steps):
        i = rng.randrange(len(order) - 1)
        a, b = order[i], order[i + 1]
        if rng.random() < 0.5 and b not in reach[a]:
            order[i], order[i + 1] = b, a
    return tuple(order)


def sample_interleavings(compiled: CompiledScenario, n: int, seed: int, *,
                         state_limit: int = COUNT_STATE_LIMIT
                         ) -> tuple[list[tuple[int, ...]], str]:
    """`n` distinct interleavings drawn with `seed` (fewer if the scenario has fewer).
    Returns them and the method used."""
    rng = random.Random(seed)
    graph = compiled.event_graph()
    lattice = _Lattice(graph, state_limit)
    try:
        total = lattice.count()
        draw = lambda: _uniform(lattice, rng)  # noqa: E731
        method = "uniform"
    except OverflowError:
        total = None
        steps = 4 * len(graph) ** 2
        draw = lambda: _walked(graph, rng, steps)  # noqa: E731
        method = "random walk"
    want = n if total is None else min(n, total)
    seen: dict[tuple[int, ...], None] = {}
    attempts = 0
    while len(seen) < want and attempts < 20 * want + 100:
        seen.setdefault(draw(), None)
        attempts += 1
    return list(seen), method


_MEMO: dict[tuple, Interleavings] = {}


def interleavings_for(compiled: CompiledScenario, *, sample: int | None = None,
                      seed: int = 1, enumerate_limit: int = ENUMERATE_LIMIT) -> Interleavings:
    """The interleavings every variant runs on this scenario: all of them when there are at
    most max(`enumerate_limit`, `sample`), else `sample` (default `DEFAULT_SAMPLE`)
    distinct ones drawn with `seed`. Remembered per event DAG (the list is data)."""
    sample = DEFAULT_SAMPLE if sample is None else sample
    if sample < 1:
        raise ValueError("the number of interleavings to sample must be at least 1")
    graph = compiled.event_graph()
    key = (compiled.scenario.name, tuple(e.label for e in compiled.events),
           tuple(sorted(graph.edges)), sample, seed, enumerate_limit)
    if key not in _MEMO:
        _MEMO[key] = _interleavings(compiled, sample, seed, enumerate_limit)
    return _MEMO[key]


def _interleavings(compiled: CompiledScenario, sample: int, seed: int,
                   enumerate_limit: int) -> Interleavings:
    labels = tuple(e.label for e in compiled.events)
    total = count_interleavings(compiled)
    name = compiled.scenario.name
    if total is not None and total <= max(enumerate_limit, sample):
        orders = enumerate_interleavings(compiled)
        return Interleavings(name, labels, tuple(orders), total, True, None)
    orders, method = sample_interleavings(compiled, sample, seed)
    return Interleavings(name, labels, tuple(orders), total, False, seed, method)
