"""Schedules: parse a ``--schedule SPEC`` and write an execution's own.

A schedule is data: the CLI's ``--schedule SPEC`` is a list of segments

    ACTOR        one step of ACTOR
    ACTOR*N      N steps of ACTOR
    ACTOR*       ACTOR until it finishes or cannot go on
    ACTOR@LABEL  ACTOR until the event LABEL has ended (e.g. cpu0@late0.ref)

separated by commas or spaces; after the last segment the default policy runs the
current actor while it can, then the lowest-numbered one. Every execution reports
its step-level schedule in that syntax (``cpu0*7,cpu1*12,...``), which replays it
exactly.
"""

from __future__ import annotations

import re

from ..errors import FlowraceError, ScheduleError
from ..scenario import CompiledScenario
from .outcome import SETTLE


def actor_names(compiled: CompiledScenario) -> list[str]:
    return [a.name for a in compiled.scenario.actors] + [SETTLE]


#: the largest step count of one schedule segment, and the longest schedule text
MAX_SCHEDULE_STEPS = 10_000_000
MAX_SCHEDULE_CHARS = 10_000_000


def parse_schedule(spec: str, compiled: CompiledScenario) -> list[tuple[int, int, int]]:
    """Parse a schedule SPEC into (actor, kind, arg) segments; see the module docstring."""
    names = actor_names(compiled)
    segments = []
    if not isinstance(spec, str):
        raise ScheduleError(f"a schedule is a string, not {type(spec).__name__}")
    if len(spec) > MAX_SCHEDULE_CHARS:
        raise ScheduleError(f"schedule too long ({len(spec):,} characters; at most "
                            f"{MAX_SCHEDULE_CHARS:,})")
    for token in re.split(r"[,\s]+", spec.strip()):
        if not token:
            continue
        m = re.fullmatch(r"([\w.-]+?)(?:\*(\d*)|@([\w.-]+))?", token)
        if not m:
            raise ScheduleError(f"malformed schedule segment {token[:60]!r} (use A, A*N, A* or "
                                "A@LABEL)")
        who, count, label = m.group(1), m.group(2), m.group(3)
        if count and (len(count) > 9 or not 1 <= int(count) <= MAX_SCHEDULE_STEPS):
            raise ScheduleError(f"schedule segment {token[:60]!r}: a count is 1 to "
                                f"{MAX_SCHEDULE_STEPS:,} steps")
        if who in names:
            actor = names.index(who)
        elif who.isdigit() and len(who) < 4 and int(who) < len(names):
            actor = int(who)
        else:
            raise ScheduleError(f"schedule names unknown actor {who!r}; actors: {', '.join(names)}")
        if label is not None:
            try:
                ev = compiled.label_to_event(label)
            except FlowraceError:
                ev = compiled.label_to_event(f"{names[actor]}.{label}")
            segments.append((actor, 1, ev))
        elif count is None:
            segments.append((actor, 0, 1))
        elif count == "":
            segments.append((actor, 2, 0))
        else:
            segments.append((actor, 0, int(count)))
    return segments


def compress_schedule(actors: list[int], names: list[str]) -> str:
    out = []
    i = 0
    while i < len(actors):
        j = i
        while j < len(actors) and actors[j] == actors[i]:
            j += 1
        n = j - i
        out.append(names[actors[i]] if n == 1 else f"{names[actors[i]]}*{n}")
        i = j
    return ",".join(out)
