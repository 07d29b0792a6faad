"""Pictures of an interleaving: one column per actor (CPU), one row per step, the
harness labels and shared operations named, and the happens-before edges between
actors (the same object, at least one write; a lock handed over; an event another
operation waited for) drawn as arrows. SVG and PNG (matplotlib)."""

from __future__ import annotations

from pathlib import Path

import networkx as nx

from ..execution import Outcome, actor_names
from ..timeline import causal_steps, step_text

WRITE_OPS = {"InterlockedIncrement", "InterlockedDecrement", "InterlockedExchange",
             "InterlockedExchangeAdd", "InterlockedOr", "InterlockedAnd", "Write",
             "KeAcquireSpinLock", "KeReleaseSpinLock", "InsertList", "RemoveEntryList",
             "ExAllocatePoolWithTag", "ExFreePoolWithTag", "InterlockedCompareExchange"}


def _key(obj: str) -> str:
    if obj.startswith("openFlows[") or obj == "closedFlows":
        return "lists"
    return obj


def happens_before(outcome: Outcome, wrote: list[int] | None = None) -> nx.DiGraph:
    """The execution's happens-before order as a DAG over step indices. Edge attribute
    `why`: "program", "memory" (object name), or "event"."""
    steps = outcome.steps
    g = nx.DiGraph()
    last_of: dict[str, int] = {}
    for s in steps:
        g.add_node(s.index, actor=s.actor, label=step_text(s.op, s.obj, s.value, s.event))
        if s.actor in last_of:
            g.add_edge(last_of[s.actor], s.index, why="program")
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
                g.add_edge(i, s.index, why="memory", obj=k)
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
                g.add_edge(src, begin, why="event")
    reduced = nx.transitive_reduction(g)
    reduced.add_nodes_from(g.nodes(data=True))
    reduced.add_edges_from((u, v, g.edges[u, v]) for u, v in reduced.edges)
    return reduced


def render(outcome: Outcome, path: str | Path, *, wrote: list[int] | None = None,
           title: str | None = None) -> Path:
    """Draw the interleaving to `path` (.svg or .png)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch

    path = Path(path)
    hb = happens_before(outcome, wrote)
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
    for u, v, data in hb.edges(data=True):
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
