"""The state graph: hashed shared states, steps between them, exports."""

import networkx as nx

from kernel_model.explore import explore


def test_graph_of_the_original_leak(tmp_path):
    res = explore("original", "lingering-rst", state_graph=True, out=tmp_path, pictures=False)
    s = res.graph.summary()
    assert s["states"] > 0 and s["edges"] >= s["states"] - 1
    assert s["terminal_states_with_violations"] >= 1
    assert s["terminal_violations_by_kind"] == {"leak": s["terminal_states_with_violations"]}
    assert s["terminal_states"] > s["terminal_states_with_violations"]  # clean endings too
    # states merge: far fewer states than the steps the search took
    assert s["states"] < res.executions * 50 / 4
    g = nx.read_graphml(tmp_path / "states.graphml")
    assert g.number_of_nodes() == s["states"]
    initial = [n for n, d in g.nodes(data=True) if d["initial"]]
    assert len(initial) == 1
    dot = (tmp_path / "states.dot").read_text()
    assert dot.startswith("digraph states") and "leak" in dot


def test_random_strategy_records_too():
    res = explore("original", "lingering-rst", "random", max_executions=300, state_graph=True,
                  minimise=False)
    assert res.graph.summary()["states"] > 0
