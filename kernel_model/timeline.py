"""Terminal views of an execution: the timeline (one column per CPU) and summaries."""

from __future__ import annotations

from rich.cells import cell_len
from rich.console import Console
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


def _wrap(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width` cells: at spaces where it can, else anywhere
    (a cell wraps, it is never cut)."""
    if cell_len(text) <= width:
        return [text]
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        while cell_len(word) > width:  # a word longer than the column: fold it
            room = width - cell_len(line) - (1 if line else 0)
            if room < 3 and line:
                lines.append(line)
                line, room = "", width
            cut = max((word.rfind(ch, 0, room) + 1 for ch in "(.,"), default=0)
            cut = cut if cut >= room // 2 else room  # after "(", "." or "," if one is near
            lines_word, word = word[:cut], word[cut:]
            line = f"{line} {lines_word}" if line else lines_word
            lines.append(line)
            line = ""
        if not word:
            continue
        if line and cell_len(line) + 1 + cell_len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        lines.append(line)
    return lines or [""]


def timeline_lines(outcome: Outcome, width: int = 100,
                   notes: dict[int, str] | None = None) -> list[Text]:
    """The timeline as lines at most `width` cells wide: one row per scheduling step, one
    column per actor, the findings (and the causal steps, and `notes` such as where a
    preemption happens) in the last column. A cell too long for its column wraps onto
    the next lines; nothing is cut. (Plain text laid out here, not a rich Table: a
    counterexample's timeline is printed in milliseconds.)"""
    names = actor_names(outcome.compiled)
    used = [n for n in names if any(s.actor == n for s in outcome.steps)]
    marks: dict[int, list[str]] = {}
    for v in outcome.violations:
        marks.setdefault(v.step, []).append(v.kind)
    for step, note in causal_steps(outcome).items():
        marks.setdefault(step, []).append(note)
    rows = []
    for s in outcome.steps:
        cells = [step_text(s.op, s.obj, s.value, s.event) if s.actor == n else ""
                 for n in used]
        extra = marks.get(s.index, []) + ([notes[s.index]] if notes and s.index in notes
                                          else [])
        rows.append((s, cells, ", ".join(extra)))
    step_w = max(4, len(str(len(outcome.steps))))
    natural = [max([cell_len(n)] + [cell_len(c[k]) for _, c, _ in rows])
               for k, n in enumerate(used)]
    find_nat = max([7] + [cell_len(f) for _, _, f in rows])
    gap = 2
    room = width - step_w - gap * (len(used) + 1)
    find_w = min(find_nat, max(12, room // 3))
    widths = list(natural)
    while sum(widths) + find_w > room and max(widths) > 8:  # shrink the widest first
        k = widths.index(max(widths))
        widths[k] -= 1
    find_w = max(7, min(find_nat, room - sum(widths)))
    pad = " " * gap
    title = f"{outcome.driver} × {outcome.scenario}"
    out = [Text(title, style="bold"),
           Text(" " * step_w + pad + pad.join(n.ljust(w) for n, w in zip(used, widths,
                                                                          strict=True))
                + pad + "finding", style="bold"),
           Text("─" * min(width, step_w + gap * (len(used) + 1) + sum(widths) + find_w))]
    for s, cells, finding in rows:
        wrapped = [_wrap(c, w) for c, w in zip(cells, widths, strict=True)]
        fwrapped = _wrap(finding, find_w) if finding else [""]
        height = max([len(fwrapped)] + [len(w) for w in wrapped])
        for i in range(height):
            text = Text(str(s.index).rjust(step_w) if i == 0 else " " * step_w, style="dim")
            for w, lines in zip(widths, wrapped, strict=True):
                cell = lines[i] if i < len(lines) else ""
                text.append(pad + cell + " " * (w - cell_len(cell)),
                            style="bold" if s.op == "begin" else None)
            f = fwrapped[i] if i < len(fwrapped) else ""
            if f:
                text.append(pad + f, style="bold red")
            text.rstrip()
            out.append(text)
    return out


def print_outcome(outcome: Outcome, console: Console | None = None, *, timeline: bool = True,
                  notes: dict[int, str] | None = None):
    console = console or Console()
    if timeline:
        for line in timeline_lines(outcome, console.width, notes):
            console.print(line, soft_wrap=True)
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
