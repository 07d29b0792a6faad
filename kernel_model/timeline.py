"""Terminal views of an execution: the timeline (one column per CPU) and summaries."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .execution import Outcome, actor_names

_SHORT_OPS = {
    "InterlockedIncrement": "Inc",
    "InterlockedDecrement": "Dec",
    "InterlockedCompareExchange": "ICX",
    "InterlockedExchange": "Xchg",
    "InterlockedExchangeAdd": "XAdd",
    "InterlockedOr": "Or",
    "InterlockedAnd": "And",
    "KeAcquireSpinLock": "acquire",
    "KeReleaseSpinLock": "release",
    "ExAllocatePoolWithTag": "alloc",
    "ExFreePoolWithTag": "free",
    "YieldProcessor": "spin",
    "KeStallExecutionProcessor": "stall",
}


def step_text(op: str, obj: str, value: int, event: str) -> str:
    if op == "begin":
        return f"▶ {event}"
    short = _SHORT_OPS.get(op, op)
    shown = f"{short}({obj})" if obj else short
    if op in ("InterlockedIncrement", "InterlockedDecrement", "InterlockedCompareExchange",
              "InterlockedExchange", "InterlockedExchangeAdd", "Read"):
        shown += f" → {value}"
    return shown


def timeline_table(outcome: Outcome, *, collapse_polls: bool = True,
                   notes: dict[int, str] | None = None) -> Table:
    """One row per scheduling step, one column per actor; violations marked on their step,
    and `notes` (step -> text, e.g. where a preemption happens) beside them."""
    names = actor_names(outcome.compiled)
    used = [n for n in names if any(s.actor == n for s in outcome.steps)]
    table = Table(box=box.SIMPLE_HEAD, title=f"{outcome.driver} × {outcome.scenario}",
                  caption=f"schedule {outcome.schedule}")
    table.add_column("step", justify="right", style="dim")
    for n in used:
        table.add_column(n)
    marks: dict[int, list[str]] = {}
    for v in outcome.violations:
        marks.setdefault(v.step, []).append(v.kind)
    table.add_column("finding", style="bold red")
    for s in outcome.steps:
        row = [str(s.index)]
        for n in used:
            row.append(step_text(s.op, s.obj, s.value, s.event) if s.actor == n else "")
        row.append(", ".join(marks.get(s.index, []) + ([notes[s.index]] if notes and
                                                       s.index in notes else [])))
        style = "bold" if s.op == "begin" else None
        table.add_row(*row, style=style)
    return table


def print_outcome(outcome: Outcome, console: Console | None = None, *, timeline: bool = True,
                  notes: dict[int, str] | None = None):
    console = console or Console()
    if timeline:
        console.print(timeline_table(outcome, notes=notes))
    if outcome.violations:
        for v in outcome.violations:
            console.print(Text.assemble(("✗ ", "bold red"), (v.kind, "bold red"),
                                        f" at step {v.step} ({v.actor}): {v.detail}"))
    else:
        console.print(Text("✓ no check fired", style="bold green"))
    for p in outcome.polls:
        who = "final poll" if p.final else f"{p.client} poll {p.poll}"
        opened = ", ".join(f"{r.cookie:#x} status {r.conn_status}" for r in p.open) or "—"
        closed = ", ".join(f"{r.cookie:#x}" for r in p.closed) or "—"
        console.print(f"  {who:>14} @ step {p.step:<4} open: {opened}   closed: {closed}")
    stats = ", ".join(f"{k} {v}" for k, v in outcome.stats.items() if v)
    console.print(f"  stats: {stats}")
    console.print(f"  schedule: {outcome.schedule}")
