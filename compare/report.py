"""The matrix as people read it: a rich table per scenario, Markdown, JSON."""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from pathlib import Path

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from .matrix import Cell, Matrix
from .verdict import Verdict

STYLES = {
    Verdict.CORRECT: "bold green",
    Verdict.MASKED: "bold yellow",
    Verdict.WRONG: "bold red",
    Verdict.UNSAFE: "bold white on red",
}


def rate(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} %"


def _errors(lo: int, hi: int) -> str:
    if lo == hi == 0:
        return "0"
    if lo == hi:
        return f"{lo:+d}"
    return f"{lo:+d}..{hi:+d}"


def _group(cells: Sequence[Cell]) -> dict[str, dict[str, dict[str, Cell]]]:
    """scenario -> driver -> agent -> cell, in the cells' order."""
    out: dict[str, dict[str, dict[str, Cell]]] = {}
    for c in cells:
        out.setdefault(c.scenario, {}).setdefault(c.driver, {})[c.agent] = c
    return out


def _agents(cells: Sequence[Cell]) -> list[str]:
    return list(dict.fromkeys(c.agent for c in cells))


def cell_text(cell: Cell, stacked: bool = False) -> Text:
    """The verdict, then the worst rate (under it when `stacked`)."""
    text = Text(cell.label, style=STYLES[cell.verdict])
    text.append(f"{chr(10) if stacked else ' '}{rate(cell.worst_rate)}", style="dim")
    return text


def scenario_heading(matrix: Matrix | None, cells: Sequence[Cell]) -> str:
    c = cells[0]
    truth = c.truth
    failures = ", ".join(f"{n}x errno {e}" for e, n in sorted(truth.failures.items())) or "none"
    runs = (f"all {c.interleavings:,} interleavings" if c.exhaustive
            else f"{c.interleavings:,} of {c.total:,} interleavings (seed {c.seed})"
            if c.total is not None else f"{c.interleavings:,} sampled interleavings "
            f"(seed {c.seed})")
    if c.sweep:
        runs += f" + {c.sweep} step-level seeds"
    return (f"{c.scenario}: {runs}; truth {truth.closed} closed, failures {failures} "
            f"(rate {rate(truth.rate)})")


def _findings_text(cell: Cell) -> str:
    return ", ".join(f"{k} {n:,}" for k, n in sorted(cell.findings.items())) or "—"


def tables(cells: Sequence[Cell], matrix: Matrix | None = None,
           width: int | None = None) -> list[Table | Text]:
    """One table per scenario: a row per driver, a column per agent (verdict and worst
    rate), then what the driver left behind. Narrower than 120 columns, what the driver
    left behind goes under the table, one line per driver that left something."""
    agents = _agents(cells)
    narrow = width is not None and width < 120
    out: list[Table | Text] = []
    for drivers in _group(cells).values():
        any_cells = [c for d in drivers.values() for c in d.values()]
        # the heading is a line of its own: it wraps at the screen's width, not the table's
        out.append(Text(scenario_heading(matrix, any_cells), style="bold"))
        t = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        # every column folds (words, then long words) rather than cutting: no "…"
        t.add_column("driver", overflow="fold", min_width=8)
        for a in agents:
            t.add_column(a, overflow="fold", min_width=7)
        if not narrow:
            t.add_column("lingering", justify="right", overflow="fold")
            t.add_column("findings (executions)", overflow="fold", min_width=8)
            t.add_column("spin", justify="right", overflow="fold")
        below: list[Text] = []
        for driver, by_agent in drivers.items():
            row: list[Text | str] = [driver]
            for a in agents:
                c = by_agent.get(a)
                row.append(cell_text(c, stacked=narrow) if c is not None else "")
            some = next(iter(by_agent.values()))
            if not narrow:
                row += [str(some.lingering), _findings_text(some), str(some.spin_steps)]
            elif some.findings or some.lingering:
                below.append(Text(f"  {driver}: {_findings_text(some)}"
                                  + (f"; {some.lingering} lingering" if some.lingering
                                     else "")))
            t.add_row(*row)
        out.append(t)
        if below:
            out.append(Text("findings (executions where a check fired):", style="dim"))
            out.extend(below)
            out.append(Text(""))
    return out


def replay_command(cell: Cell) -> str | None:
    if cell.trace:
        return f"flowrace replay {shlex.quote(cell.trace)}"
    if cell.schedule:
        return (f"flowrace run --driver {shlex.quote(cell.driver)} --scenario {cell.scenario} "
                f"--schedule {shlex.quote(cell.schedule)}")
    return None


def details(cells: Sequence[Cell]) -> list[str]:
    """One paragraph per (driver, scenario) whose cells are not all correct."""
    lines = []
    for scenario, drivers in _group(cells).items():
        for driver, by_agent in drivers.items():
            bad = [c for c in by_agent.values() if c.verdict is not Verdict.CORRECT]
            if not bad:
                continue
            verdicts = ", ".join(f"{c.agent} {c.label}" for c in by_agent.values())
            lines.append(f"{driver} × {scenario}: {verdicts}")
            shown: set[tuple] = set()
            for c in bad:
                why = f"    {c.agent}: {c.reason}" if c.reason else f"    {c.agent}"
                lines.append(f"{why} — final rate {rate(c.final_rate)}, worst "
                             f"{rate(c.worst_rate)}, closes {_errors(*c.closed_error)}, "
                             f"failures {_errors(*c.failures_error)}, "
                             f"windows_lingering_flows {c.windows_lingering_flows}")
                for note in c.notes:
                    lines.append(f"      {note}")
                key = (c.first.kind, c.first.number) if c.first else None
                if key in shown:
                    continue
                shown.add(key)
                if c.violation:
                    lines.append(f"      finding: {c.violation}")
                if c.first is not None and c.first.events:
                    lines.append("      events: " + " ".join(c.first.events))
                cmd = replay_command(c)
                if cmd:
                    lines.append(f"      replay: {cmd}")
    return lines


def console_for_tables(stderr: bool = False) -> Console:
    """A console as wide as the terminal (or $COLUMNS), 100 columns when the output is
    not a terminal and $COLUMNS is not set."""
    import os

    probe = Console(stderr=stderr)
    if probe.is_terminal or os.environ.get("COLUMNS", "").isdigit():
        return probe
    return Console(stderr=stderr, width=100)


LEGEND = (
    ("correct", Verdict.CORRECT, "backend = truth, no leak, no finding"),
    ("masked", Verdict.MASKED, "backend right, but the kernel leaks"),
    ("wrong", Verdict.WRONG, "backend ≠ truth because of the driver"),
    ("wrong (agent)", Verdict.WRONG, "backend ≠ truth although the driver delivered every "
     "close once: the agent's fault (the agent before the workaround), with any driver"),
    ("unsafe", Verdict.UNSAFE, "a check fired: memory safety, data race, livelock, deadlock, IRQL"),
)


def legend() -> Group:
    """What the verdicts mean, one line each (printed before the tables)."""
    lines = [Text.assemble((f"{word:<14}", STYLES[v]), f" {meaning}")
             for word, v, meaning in LEGEND]
    lines.append(Text("each agent column: the cell's verdict, then the worst backend failure "
                      "rate seen (100 % is the truth of an RST scenario)", style="dim"))
    return Group(*lines)


def summary_lines(cells: Sequence[Cell]) -> list[str]:
    """One line per driver: its verdict with each agent, worst rate, first finding."""
    from .findings import driver_summary

    return [driver_summary(cells, d) for d in dict.fromkeys(c.driver for c in cells)]


def print_matrix(cells: Sequence[Cell], console: Console | None = None,
                 matrix: Matrix | None = None, *, show_details: bool = True) -> None:
    """The conclusion first (one line per driver), then the legend, then a table per
    scenario; each bad cell's reason and replay command only with `show_details`."""
    console = console or console_for_tables()
    console.print(Text("Per driver (worst verdict over the scenarios, by agent):",
                       style="bold"))
    for line in summary_lines(cells):
        console.print(Text("  " + line))
    console.print()
    console.print(legend())
    console.print()
    console.print(Group(*tables(cells, matrix, console.width)))
    if show_details:
        lines = details(cells)
        if lines:
            console.print()
            for line in lines:
                if line.lstrip().startswith("replay: "):
                    # a command is never wrapped: on a line of its own, as it is
                    head, _, cmd = line.partition("replay: ")
                    console.print(Text(head + "replay:"))
                    console.print(Text(cmd), soft_wrap=True)
                else:
                    console.print(Text(line))
    elif details(cells):
        console.print(Text("each bad cell's reason, first bad execution and replay command: "
                           "--details (or --json)", style="dim"))


def markdown(cells: Sequence[Cell], matrix: Matrix | None = None) -> str:
    agents = _agents(cells)
    out = ["# flowrace comparison matrix", ""]
    if matrix is not None:
        out.append(f"Seed {matrix.seed}; {matrix.stats.executions:,} executions in "
                   f"{matrix.stats.seconds:.1f} s ({matrix.stats.per_second:,.0f} per second).")
        out.append("")
    for scenario, drivers in _group(cells).items():
        any_cells = [c for d in drivers.values() for c in d.values()]
        out.append(f"## {scenario}")
        out.append("")
        out.append(scenario_heading(matrix, any_cells))
        out.append("")
        out.append("| driver | " + " | ".join(agents) + " | lingering | findings | spin |")
        out.append("|---|" + "---|" * len(agents) + "---:|---|---:|")
        for driver, by_agent in drivers.items():
            some = next(iter(by_agent.values()))
            row = [driver] + [f"{by_agent[a].label} ({rate(by_agent[a].worst_rate)})"
                              if a in by_agent else "" for a in agents]
            row += [str(some.lingering),
                    ", ".join(f"{k} {n}" for k, n in sorted(some.findings.items())) or "—",
                    str(some.spin_steps)]
            out.append("| " + " | ".join(row) + " |")
        out.append("")
    lines = details(cells)
    if lines:
        out.append("## Executions that earned a verdict other than correct")
        out.append("")
        out.append("```")
        out.extend(lines)
        out.append("```")
        out.append("")
    return "\n".join(out)


def write_markdown(path: str | Path, cells: Sequence[Cell], matrix: Matrix | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown(cells, matrix))
    return path


def to_json(cells: Sequence[Cell], matrix: Matrix | None = None) -> dict:
    doc = matrix.to_json() if matrix is not None else {}
    doc["cells"] = [c.to_json() for c in cells]
    return doc


def write_json(path: str | Path, cells: Sequence[Cell], matrix: Matrix | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_json(cells, matrix), indent=2) + "\n")
    return path
