"""Pictures of an interleaving: one column per actor (CPU), one row per step, the
harness labels and shared operations named, and the happens-before edges between
actors (the same object, at least one write; a lock handed over; an event another
operation waited for) drawn as arrows. SVG is written directly (no plotting library to
import: a counterexample's picture costs milliseconds); PNG with matplotlib, imported only
when one is asked for."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from ..execution import Outcome, actor_names
from ..timeline import causal_steps, step_text

if TYPE_CHECKING:
    import networkx as nx

WRITE_OPS = {"InterlockedIncrement", "InterlockedDecrement", "InterlockedExchange",
             "InterlockedExchangeAdd", "InterlockedOr", "InterlockedAnd", "Write",
             "KeAcquireSpinLock", "KeReleaseSpinLock", "InsertList", "RemoveEntryList",
             "ExAllocatePoolWithTag", "ExFreePoolWithTag", "InterlockedCompareExchange"}


def _key(obj: str) -> str:
    if obj.startswith("openFlows[") or obj == "closedFlows":
        return "lists"
    return obj


def hb_edges(outcome: Outcome, wrote: list[int] | None = None) -> list[tuple[int, int, dict]]:
    """The execution's happens-before order, transitively reduced: edges (u, v, data)
    over step indices, data["why"] one of "program", "memory" (data["obj"]: the object
    name) or "event". Step indices are a topological order, so the reduction is a pass
    over reachability bitsets (no graph library)."""
    steps = outcome.steps
    edges: dict[tuple[int, int], dict] = {}
    last_of: dict[str, int] = {}
    for s in steps:
        if s.actor in last_of:
            edges[(last_of[s.actor], s.index)] = {"why": "program"}
        last_of[s.actor] = s.index

    def writes(i: int) -> bool:
        if wrote is not None and i < len(wrote):
            op = steps[i].op
            return bool(wrote[i]) or op in ("KeAcquireSpinLock", "KeReleaseSpinLock")
        return steps[i].op in WRITE_OPS

    by_key: dict[str, list[int]] = {}
    for s in steps:
        if not s.obj or s.op == "begin":
            continue
        k = _key(s.obj)
        for i in by_key.get(k, []):
            o = steps[i]
            if o.actor != s.actor and (writes(i) or writes(s.index)):
                edges.setdefault((i, s.index), {"why": "memory", "obj": k})
        by_key.setdefault(k, []).append(s.index)
    # events: an operation that waits for another's end starts after its last step
    compiled = outcome.compiled
    labels = [e.label for e in compiled.events]
    end_step: dict[str, int] = {}
    for s in steps:
        end_step[s.event] = s.index
    first_of_event: dict[str, int] = {}
    for s in steps:
        first_of_event.setdefault(s.event, s.index)
    for k, deps in enumerate(compiled.after):
        begin = first_of_event.get(labels[compiled.op_events[k]])
        for d in deps:
            src = end_step.get(labels[d])
            if begin is not None and src is not None and src < begin:
                edges.setdefault((src, begin), {"why": "event"})
    succ: dict[int, list[int]] = {}
    for u, v in edges:
        succ.setdefault(u, []).append(v)
    reach: dict[int, int] = {}  # bitset of the steps reachable from each step
    for u in sorted({s.index for s in steps}, reverse=True):
        r = 0
        for v in succ.get(u, ()):
            r |= reach.get(v, 0) | (1 << v)
        reach[u] = r
    kept = []
    for (u, v), data in sorted(edges.items()):
        # redundant when another successor of u already reaches v
        if not any(w != v and reach.get(w, 0) >> v & 1 for w in succ[u]):
            kept.append((u, v, data))
    return kept


def happens_before(outcome: Outcome, wrote: list[int] | None = None) -> nx.DiGraph:
    """The execution's happens-before order as a DAG over step indices (networkx; see
    `hb_edges`). Edge attribute `why`: "program", "memory" (object name), or "event"."""
    import networkx as nx

    g = nx.DiGraph()
    for s in outcome.steps:
        g.add_node(s.index, actor=s.actor, label=step_text(s.op, s.obj, s.value, s.event))
    for u, v, data in hb_edges(outcome, wrote):
        g.add_edge(u, v, **data)
    return g


_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22", "#17becf")


def render_svg(outcome: Outcome, path: str | Path, *, wrote: list[int] | None = None,
               title: str | None = None) -> Path:
    """The picture as SVG, written directly: a column per actor, a row per step, the
    finding (✗) where its check fired and its cause (◇) where it was caused, and the
    happens-before arrows between actors (orange: a shared object, blue: event order)."""
    path = Path(path)
    names = actor_names(outcome.compiled)
    used = [n for n in names if any(s.actor == n for s in outcome.steps)]
    col = {n: i for i, n in enumerate(used)}
    colw, rowh, left, top = 300, 20, 40, 56
    width = left + colw * len(used) + 20
    height = top + rowh * len(outcome.steps) + 40

    def x(actor: str) -> float:
        return left + col[actor] * colw + 10

    def y(step: int) -> float:
        return top + step * rowh

    marks: dict[int, list[str]] = {}
    for v in outcome.violations:
        marks.setdefault(v.step, []).append(v.kind)
    causes = causal_steps(outcome)
    head = f"{outcome.driver} × {outcome.scenario}" + (f" — {title}" if title else "")
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans Mono, monospace" '
           'font-size="11">',
           '<defs><marker id="a" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" '
           'markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" '
           'fill="context-stroke"/></marker></defs>',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="8" y="18" font-size="14" font-family="DejaVu Sans, sans-serif">'
           f'{escape(head)}</text>']
    for n, c in col.items():
        colour = _PALETTE[c % len(_PALETTE)]
        out.append(f'<text x="{x(n)}" y="{top - 16}" font-weight="bold" fill="{colour}">'
                   f'{escape(n)}</text>')
        out.append(f'<line x1="{x(n)}" y1="{top - 8}" x2="{x(n)}" '
                   f'y2="{y(len(outcome.steps))}" stroke="#dddddd"/>')
    for u, v, data in hb_edges(outcome, wrote):
        su, sv = outcome.steps[u], outcome.steps[v]
        if su.actor == sv.actor:
            continue
        colour = "#e08000" if data.get("why") == "memory" else "#3070c0"
        out.append(f'<path d="M{x(su.actor)},{y(u)} Q{(x(su.actor) + x(sv.actor)) / 2 + 12},'
                   f'{(y(u) + y(v)) / 2} {x(sv.actor)},{y(v)}" fill="none" '
                   f'stroke="{colour}" stroke-opacity="0.8" marker-end="url(#a)"/>')
    for s in outcome.steps:
        colour = _PALETTE[col[s.actor] % len(_PALETTE)]
        cx, cy = x(s.actor), y(s.index)
        out.append(f'<text x="4" y="{cy + 4}" font-size="9" fill="#999999">{s.index}</text>')
        out.append(f'<circle cx="{cx}" cy="{cy}" r="3.5" fill="{colour}"/>')
        weight = ' font-weight="bold"' if s.op == "begin" else ""
        out.append(f'<text x="{cx + 8}" y="{cy + 4}"{weight}>'
                   f'{escape(step_text(s.op, s.obj, s.value, s.event))}</text>')
        if s.index in marks:
            out.append(f'<text x="{cx - 6}" y="{cy + 5}" fill="red" font-size="15">★</text>')
            out.append(f'<text x="{cx + 8}" y="{cy + 15}" fill="red" font-weight="bold">'
                       f'✗ {escape(", ".join(marks[s.index]))}</text>')
        if s.index in causes:  # where it was caused, beside where the check fired
            out.append(f'<rect x="{cx - 6}" y="{cy - 6}" width="12" height="12" '
                       f'transform="rotate(45 {cx} {cy})" fill="none" stroke="#b000b0" '
                       'stroke-width="1.5"/>')
            out.append(f'<text x="{cx + 8}" y="{cy + 15}" fill="#b000b0" font-weight="bold">'
                       f'{escape(causes[s.index])}</text>')
    out.append(f'<text x="8" y="{height - 10}" font-size="9" fill="#555555">schedule '
               f'{escape(outcome.schedule)}    orange: shared object (one writes), blue: '
               'event order</text>')
    out.append("</svg>")
    path.write_text("\n".join(out) + "\n")
    return path


def render(outcome: Outcome, path: str | Path, *, wrote: list[int] | None = None,
           title: str | None = None) -> Path:
    """Draw the interleaving to `path` (.svg directly, .png with matplotlib)."""
    if Path(path).suffix != ".png":
        return render_svg(outcome, path, wrote=wrote, title=title)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch

    path = Path(path)
    names = actor_names(outcome.compiled)
    used = [n for n in names if any(s.actor == n for s in outcome.steps)]
    col = {n: i for i, n in enumerate(used)}
    n = len(outcome.steps)
    width = 3.6 * len(used) + 0.8
    height = 0.26 * n + 1.6
    fig, ax = plt.subplots(figsize=(width, height))
    ax.set_xlim(-0.4, len(used) - 0.05)
    ax.set_ylim(n + 0.5, -1.5)
    ax.axis("off")
    palette = plt.get_cmap("tab10")
    for name, c in col.items():
        ax.text(c, -1.0, name, ha="left", va="center", fontsize=10, fontweight="bold",
                color=palette(c % 10))
        ax.plot([c, c], [-0.5, n - 0.5], color="#dddddd", lw=1, zorder=0)
    marks = {}
    for v in outcome.violations:
        marks.setdefault(v.step, []).append(v.kind)
    causes = causal_steps(outcome)
    for s in outcome.steps:
        c = col[s.actor]
        bold = s.op == "begin"
        ax.plot(c, s.index, "o", ms=4, color=palette(c % 10), zorder=3)
        ax.text(c + 0.06, s.index, step_text(s.op, s.obj, s.value, s.event), va="center",
                fontsize=7, fontweight="bold" if bold else "normal", family="monospace")
        ax.text(-0.38, s.index, str(s.index), va="center", fontsize=6, color="#999999")
        if s.index in marks:
            ax.plot(c, s.index, "*", ms=12, color="red", zorder=4)
            ax.text(c + 0.06, s.index + 0.45, "✗ " + ", ".join(marks[s.index]), fontsize=7,
                    color="red", fontweight="bold")
        if s.index in causes:  # where it was caused, beside where the check fired
            ax.plot(c, s.index, "D", ms=8, mfc="none", mec="#b000b0", mew=1.5, zorder=4)
            ax.text(c + 0.06, s.index + 0.45, causes[s.index], fontsize=7, color="#b000b0",
                    fontweight="bold")
    for u, v, data in hb_edges(outcome, wrote):
        su, sv = outcome.steps[u], outcome.steps[v]
        if su.actor == sv.actor:
            continue
        colour = "#e08000" if data.get("why") == "memory" else "#3070c0"
        arrow = FancyArrowPatch((col[su.actor], u), (col[sv.actor], v), arrowstyle="-|>",
                                mutation_scale=8, lw=0.8, color=colour, alpha=0.8,
                                connectionstyle="arc3,rad=0.08", zorder=2)
        ax.add_patch(arrow)
    head = f"{outcome.driver} × {outcome.scenario}"
    ax.set_title(head + (f" — {title}" if title else ""), fontsize=11, loc="left")
    fig.text(0.01, 0.003, f"schedule {outcome.schedule}    orange: shared object (one "
             "writes), blue: event order", fontsize=7, color="#555555")
    fig.tight_layout()
    fig.savefig(path, format=path.suffix.lstrip(".") or "svg", dpi=110)
    plt.close(fig)
    return path
