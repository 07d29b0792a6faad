"""replay: run one saved trace (or any schedule SPEC, or a scenario's named schedule)
again, as a strategy: one execution."""

from __future__ import annotations

from typing import Any

from ..errors import FlowraceError
from ..execution import load_trace, run
from ._engine import Target, last_trace
from ._protocol import Found, Part, Progress


class ReplayStrategy:
    name = "replay"

    def __init__(self, trace: str | None = None, schedule: str | None = None):
        if (trace is None) == (schedule is None):
            raise FlowraceError("replay needs a trace file or a schedule")
        self.trace = trace
        self.schedule = schedule if schedule is not None else load_trace(trace)["schedule"]
        self._target: Target | None = None
        self._done = False

    def start(self, target: Target) -> None:
        self._target = target
        self._done = False

    def step(self, max_executions: int, seconds: float) -> Progress:
        assert self._target is not None, "start() first"
        t = self._target
        run(t.variant, t.compiled, schedule=self.schedule, strategy="schedule",
            max_steps=t.max_steps)
        trace = last_trace(t)
        self._done = True
        return Progress(executions=1, violating=1 if trace.kinds else 0, steps=trace.steps,
                        by_kind={k: 1 for k in trace.kinds},
                        found={k: Found(k, trace.actors, trace.preemptions) for k in trace.kinds},
                        complete=True)

    def parts(self, target: Target, jobs: int) -> tuple[list[Part], Progress | None]:
        return [], None

    def describe(self) -> dict[str, Any]:
        return {"strategy": "replay", "schedule": self.schedule, "trace": self.trace}
