"""replay: run one saved trace (or schedule) again, as a strategy: one execution."""

from __future__ import annotations

from typing import Any

from ..errors import FlowraceError
from ..execution import load_trace, parse_schedule
from ._engine import Target, run_actors
from ._protocol import Found, Part, Progress


def schedule_actors(target: Target, spec: str) -> list[int]:
    """A step-level schedule (`cpu0*9,cpu1*12,...`) as actor indices."""
    actors: list[int] = []
    for actor, kind, arg in parse_schedule(spec, target.compiled):
        if kind != 0:
            raise FlowraceError(f"a replayed schedule is step-level (A or A*N), not {spec!r}")
        actors += [actor] * arg
    return actors


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
        actors = schedule_actors(t, self.schedule)
        trace = run_actors(t, actors)
        if trace is None:
            raise FlowraceError(f"the schedule cannot be replayed on {t.driver_name}: "
                                f"{t.error_text()}")
        self._done = True
        return Progress(executions=1, violating=1 if trace.kinds else 0, steps=trace.steps,
                        by_kind={k: 1 for k in trace.kinds},
                        found={k: Found(k, trace.actors, trace.preemptions) for k in trace.kinds},
                        complete=True)

    def parts(self, target: Target, jobs: int) -> tuple[list[Part], Progress | None]:
        return [], None

    def describe(self) -> dict[str, Any]:
        return {"strategy": "replay", "schedule": self.schedule, "trace": self.trace}
