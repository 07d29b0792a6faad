"""The state graph of the explored executions: nodes are hashed shared states of the
model (shared memory with position-independent pointers and without the step-number
timestamp, ended events, each actor's position, violations so far), edges are steps.
Recorded in the engine (FR_RUN_SPEC.record_states); exported as GraphML and DOT."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..execution import OP_NAMES, _obj_name
from ._engine import Target, kinds_of

if TYPE_CHECKING:  # networkx is imported where it is used: not on every start-up
    import networkx as nx


class StateGraph:
    def __init__(self, graph: nx.MultiDiGraph, truncated: bool):
        self.graph = graph
        self.truncated = truncated

    @classmethod
    def from_engine(cls, target: Target) -> StateGraph:
        lib, ffi = target.lib, target.ffi
        import networkx as nx  # only when a state graph is asked for

        g = nx.MultiDiGraph()
        node = ffi.new("FR_GRAPH_NODE *")
        for i in range(lib.fr_graph_nodes()):
            lib.fr_graph_node(i, node)
            kinds = sorted(kinds_of(node.kinds))
            g.add_node(f"s{i}", hash=f"{node.hash:016x}", initial=bool(node.initial),
                       terminal=bool(node.terminal), violations=",".join(kinds),
                       visits=int(node.visits))
        edge = ffi.new("FR_GRAPH_EDGE *")
        names = target.names
        for i in range(lib.fr_graph_edges()):
            lib.fr_graph_edge(i, edge)
            obj = _obj_name(target.variant, edge.obj_kind, edge.obj_index, edge.obj_offset)
            op = OP_NAMES.get(edge.op, str(edge.op))
            g.add_edge(f"s{edge.src}", f"s{edge.dst}", actor=names[edge.actor],
                       op=op, object=obj, count=int(edge.count),
                       label=f"{names[edge.actor]}: {op}" + (f"({obj})" if obj else ""))
        return cls(g, bool(lib.fr_graph_truncated()))

    def summary(self) -> dict[str, Any]:
        g = self.graph
        terminal = [n for n, d in g.nodes(data=True) if d["terminal"]]
        bad = [n for n in terminal if g.nodes[n]["violations"]]
        by_kind: dict[str, int] = {}
        for n in bad:
            for k in g.nodes[n]["violations"].split(","):
                by_kind[k] = by_kind.get(k, 0) + 1
        return {"states": g.number_of_nodes(), "edges": g.number_of_edges(),
                "terminal_states": len(terminal), "terminal_states_with_violations": len(bad),
                "terminal_violations_by_kind": by_kind, "truncated": self.truncated}

    def write_graphml(self, path: str | Path) -> Path:
        path = Path(path)
        import networkx as nx

        nx.write_graphml(self.graph, path)
        return path

    def write_dot(self, path: str | Path) -> Path:
        path = Path(path)
        lines = ["digraph states {", "  rankdir=TB;", "  node [shape=circle, label=\"\", "
                 "width=0.15, style=filled, fillcolor=\"#dddddd\"];"]
        for n, d in self.graph.nodes(data=True):
            attrs = []
            if d["initial"]:
                attrs.append('fillcolor="#70a0ff"')
            if d["terminal"]:
                attrs.append('shape=doublecircle')
                attrs.append('fillcolor="#ff6060"' if d["violations"] else 'fillcolor="#60c060"')
                if d["violations"]:
                    attrs.append(f'xlabel="{d["violations"]}"')
            lines.append(f"  {n}" + (f" [{', '.join(attrs)}]" if attrs else "") + ";")
        for u, v, d in self.graph.edges(data=True):
            label = d["label"].replace('"', "'")
            lines.append(f'  {u} -> {v} [label="{label}", fontsize=8];')
        lines.append("}")
        path.write_text("\n".join(lines) + "\n")
        return path
