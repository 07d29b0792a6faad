"""pct: probabilistic concurrency testing (Burckhardt et al., ASPLOS 2010). Each
execution gives the scenario's n actors random distinct priorities and picks d-1
priority change points among its k steps; a bug of depth d is found by one execution
with probability at least 1 / (n * k^(d-1))."""

from __future__ import annotations

import math
from typing import Any

from ._engine import Target, run_batch
from .random import RandomStrategy


def measure_steps(target: Target, samples: int = 32) -> int:
    """k: the most steps seen over a few random executions (change points are drawn
    from 1..k)."""
    from ._engine import run_seed

    return max(len(run_seed(target, "random", s).actors) for s in range(1, samples + 1))


class PctStrategy(RandomStrategy):
    name = "pct"
    engine_strategy = "pct"

    def __init__(self, depth: int = 2, seed: int = 0, *, steps: int | None = None,
                 record_states: bool = False, limit: int | None = None):
        super().__init__(seed, record_states=record_states, limit=limit)
        self.depth = depth
        self.steps = steps
        self._n = 0

    def kwargs(self) -> dict[str, Any]:
        return {**super().kwargs(), "depth": self.depth, "steps": self.steps}

    def _batch_args(self) -> dict[str, Any]:
        return {"pct_depth": self.depth, "pct_steps": self.steps or 0}

    def start(self, target: Target) -> None:
        super().start(target)
        if not self.steps:
            self.steps = measure_steps(target)
        self._n = target.n_actors

    def guarantee(self) -> float:
        """1 / (n k^(d-1)), in logarithms: a large depth underflows to 0, never overflows."""
        if not (self.steps and self._n):
            return 0.0
        return math.exp(-math.log(self._n) - (self.depth - 1) * math.log(self.steps))

    def describe(self) -> dict[str, Any]:
        return {"strategy": "pct", "seed": self.seed, "depth": self.depth, "actors": self._n,
                "steps": self.steps, "guarantee": self.guarantee(),
                "guarantee_formula": "1/(n*k^(d-1)) per execution"}


__all__ = ["PctStrategy", "measure_steps", "run_batch"]
