"""random: seeded uniform random scheduling; execution i uses seed `seed + i`. The
batches run inside the engine; a violating seed is re-run to get its schedule."""

from __future__ import annotations

from typing import Any

from ._engine import Target, run_batch, run_seed
from ._protocol import Found, Part, Progress

CHUNK = 20000
#: the first batch of a step: its rate sizes the next ones
FIRST_CHUNK = 256


class RandomStrategy:
    name = "random"
    engine_strategy = "random"

    def __init__(self, seed: int = 0, *, record_states: bool = False, limit: int | None = None):
        self.seed = seed
        self.record_states = record_states
        self.limit = limit  # executions this instance may run (a part of a --jobs run)
        self._target: Target | None = None
        self._progress = Progress()
        self._next = seed

    def kwargs(self) -> dict[str, Any]:
        return {"seed": self.seed, "record_states": self.record_states}

    def _batch_args(self) -> dict[str, Any]:
        return {}

    def start(self, target: Target) -> None:
        self._target = target
        self._progress = Progress()
        self._next = self.seed

    def step(self, max_executions: int, seconds: float) -> Progress:
        assert self._target is not None, "start() first"
        import time

        t0 = time.monotonic()
        left = max_executions if max_executions > 0 else 1 << 40
        if self.limit is not None:
            left = min(left, self.limit - self._progress.executions)
        p = self._progress
        chunk = FIRST_CHUNK
        while left > 0:
            n = min(chunk, left)
            t_batch = time.monotonic()
            out = run_batch(self._target, self.engine_strategy, self._next, n,
                            record_states=self.record_states, **self._batch_args())
            for kind, first in out.first_seed.items():
                if kind not in p.found:
                    trace = run_seed(self._target, self.engine_strategy, first,
                                     **self._batch_args())
                    p.found[kind] = Found(kind, trace.actors, trace.preemptions)
                    p.details.setdefault("seeds", {})[kind] = first
            p.executions += out.executions
            p.violating += out.violating
            p.steps += out.steps
            for k, v in out.by_kind.items():
                p.by_kind[k] = p.by_kind.get(k, 0) + v
            self._next += n
            left -= n
            now = time.monotonic()
            if seconds and now - t0 >= seconds:
                break
            # a batch runs inside C without looking at the clock: size the next one to
            # what the time left allows at the rate seen (executions that spin to the
            # step bound take milliseconds each, not microseconds)
            per = (now - t_batch) / max(n, 1)
            room = (seconds - (now - t0)) if seconds else 0.5
            chunk = max(1, min(CHUNK, int(min(room, 0.5) / per) if per > 0 else CHUNK))
        if self.limit is not None and p.executions >= self.limit:
            p.complete = True
        return p

    def parts(self, target: Target, jobs: int) -> tuple[list[Part], Progress | None]:
        return [], None  # the parallel runner hands out seed ranges itself

    def part(self, first_seed: int, n: int) -> Part:
        return Part(self.name, {**self.kwargs(), "seed": first_seed, "limit": n}, n)

    def describe(self) -> dict[str, Any]:
        return {"strategy": self.name, "seed": self.seed,
                "seeds": "execution i runs seed + i"}
