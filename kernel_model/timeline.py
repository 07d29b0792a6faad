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


_INTERLOCKED = ("InterlockedIncrement", "InterlockedDecrement", "InterlockedCompareExchange",
                "InterlockedExchange", "InterlockedExchangeAdd", "InterlockedOr",
                "InterlockedAnd", "Read")


def causal_steps(outcome: Outcome) -> dict[int, str]:
    """Where each finding was *caused*, beside where its check fired: step -> note.

    * use after free, double free: the free of that flow before the check fired;
    * leak: the decision of the flow's last delete notification — its last
      compare-exchange on the flow (else its last interlocked call on it), whose returned
      value took the branch that did not move the flow.
    Findings of other kinds, or on no flow, have no note."""
    out: dict[int, str] = {}
    for v in outcome.violations:
        if v.flow < 0:
            continue
        name = f"flow{v.flow}"

        def on_flow(s, name=name) -> bool:
            return s.obj == name or s.obj.startswith(name + ".")

        before = [s for s in outcome.steps if s.index < v.step and on_flow(s)]
        if v.kind in ("use_after_free", "double_free"):
            frees = [s for s in before if s.op == "ExFreePoolWithTag"]
            if frees:
                out[frees[-1].index] = f"← {name} freed here (cause of {v.kind} at " \
                                       f"step {v.step})"
        elif v.kind == "leak":
            ops = [s for s in before if s.op in _INTERLOCKED and ".delete" in s.event]
            if not ops:
                continue
            last = [s for s in ops if s.event == ops[-1].event]
            pick = ([s for s in last if s.op == "InterlockedCompareExchange"] or last)[-1]
            out.setdefault(pick.index, f"← returned {pick.value}: the last delete's "
                                       f"decision, {name} not moved (leak at step {v.step})")
    return out


def timeline_table(outcome: Outcome, *, collapse_polls: bool = True,
                   notes: dict[int, str] | None = None) -> Table:
    """One row per scheduling step, one column per actor; violations marked on their step,
    and `notes` (step -> text, e.g. where a preemption happens) beside them."""
    names = actor_names(outcome.compiled)
    used = [n for n in names if any(s.actor == n for s in outcome.steps)]
    # every cell wraps (at spaces, then anywhere) rather than being cut with "…"; the
    # schedule is printed whole under the table (print_outcome), not squeezed in here
    table = Table(box=box.SIMPLE_HEAD, title=f"{outcome.driver} × {outcome.scenario}",
                  pad_edge=False)
    table.add_column("step", justify="right", style="dim", no_wrap=True)
    for n in used:
        table.add_column(n, overflow="fold", min_width=6)
    marks: dict[int, list[str]] = {}
    for v in outcome.violations:
        marks.setdefault(v.step, []).append(v.kind)
    for step, note in causal_steps(outcome).items():
        marks.setdefault(step, []).append(note)
    table.add_column("finding", style="bold red", overflow="fold", min_width=6, max_width=28)
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
    # a schedule is an argument to copy (--schedule): one line, never wrapped
    console.print("  schedule:")
    console.print(f"  {outcome.schedule}", soft_wrap=True, highlight=False)
