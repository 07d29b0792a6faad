"""Identical interleavings: counting, enumerating and sampling linear extensions, how the
event-order scheduler follows one, and the lean execution path the matrix runs on (what the
matrix builds from it: compare/test_matrix.py)."""

from __future__ import annotations

import random
from collections import Counter

import networkx as nx
import pytest

from kernel_model import builtin_names, run
from kernel_model.execution import LeanRunner, record_key
from kernel_model.scenarios import get_scenario
from kernel_model.scenarios.interleavings import (
    _Lattice,
    _uniform,
    _walked,
    count_interleavings,
    enumerate_interleavings,
    interleavings_for,
    sample_interleavings,
)


def is_linear_extension(graph: nx.DiGraph, order) -> bool:
    pos = {e: i for i, e in enumerate(order)}
    return len(pos) == len(graph) and all(pos[u] < pos[v] for u, v in graph.edges)


@pytest.mark.parametrize("name", ["lingering-rst", "clean-close", "preempted-holder",
                                  "client-restart", "two-clients"])
def test_enumeration_is_every_linear_extension_once(name):
    compiled = get_scenario(name).compile()
    g = compiled.event_graph()
    orders = enumerate_interleavings(compiled)
    assert len(orders) == len(set(orders)) == count_interleavings(compiled)
    assert all(is_linear_extension(g, o) for o in orders)


def test_counts_of_the_built_in_scenarios():
    assert count_interleavings(get_scenario("lingering-rst").compile()) == 2475
    assert count_interleavings(get_scenario("late-packets").compile()) == 20020
    assert count_interleavings(get_scenario("clean-close").compile()) == 135
    assert count_interleavings(get_scenario("rst-storm").compile()) > 10**15


def test_small_scenarios_are_enumerated_large_ones_sampled_with_the_seed():
    small = interleavings_for(get_scenario("lingering-rst").compile(), sample=10, seed=3)
    assert small.exhaustive and len(small) == 2475 and small.seed is None
    storm = get_scenario("rst-storm").compile()
    a = interleavings_for(storm, sample=40, seed=7)
    b = interleavings_for(storm, sample=40, seed=7)
    c = interleavings_for(storm, sample=40, seed=8)
    assert not a.exhaustive and a.seed == 7 and a.method == "uniform"
    assert a.orders == b.orders != c.orders
    assert len(set(a.orders)) == 40
    g = storm.event_graph()
    assert all(is_linear_extension(g, o) for o in a.orders)
    assert "seed 7" in a.summary()


def test_uniform_sampler_is_uniform():
    """clean-close has 135 linear extensions: 13,500 draws, chi-square on the counts."""
    compiled = get_scenario("clean-close").compile()
    lattice = _Lattice(compiled.event_graph())
    rng = random.Random(11)
    counts = Counter(_uniform(lattice, rng) for _ in range(13_500))
    assert len(counts) == 135
    expected = 100.0
    chi2 = sum((n - expected) ** 2 / expected for n in counts.values())
    assert chi2 < 200, chi2  # 134 degrees of freedom: p ~ 0.0002 at 200


def test_the_walk_fallback_gives_linear_extensions():
    compiled = get_scenario("rst-storm").compile()
    orders, method = sample_interleavings(compiled, 5, seed=2, state_limit=10)
    assert method == "random walk" and len(orders) == 5
    g = compiled.event_graph()
    assert all(is_linear_extension(g, o) for o in orders)
    assert is_linear_extension(g, _walked(g, random.Random(1), 100))


def ends_in_order(outcome) -> list[str]:
    """Event labels in the order the events ended (the order of their last steps)."""
    last = {s.event: s.index for s in outcome.steps if s.event and s.actor != "settle"}
    return sorted(last, key=last.__getitem__)


def test_an_event_runs_to_its_end_when_nothing_blocks_it():
    """With no spin and no lock held across events, the events end in the given order."""
    compiled = get_scenario("lingering-rst").compile()
    il = interleavings_for(compiled)
    for k in (0, 17, 600, 2474):
        out = run("original", compiled, order=list(il[k]))
        ended = ends_in_order(out)  # an event may take no step (a late packet not found)
        assert ended == [label for label in il.describe(k) if label in ended], k


def test_a_spinning_event_lets_the_next_ones_run():
    """retry's last delete spins while the late packet holds its reference: the release
    (later in the order) runs, then the delete ends."""
    if "retry" not in builtin_names():
        pytest.skip("driver variant retry not built yet")
    compiled = get_scenario("lingering-rst").compile()
    labels = ["cpu0.classify0.ref", "cpu0.classify0.release", "cpu0.late0.ref",
              "cpu1.delete0", "cpu1.delete1", "cpu1.delete2", "cpu1.delete3",
              "cpu0.late0.release", "agent.poll0", "agent.poll1", "agent.poll2"]
    order = [compiled.label_to_event(x) for x in labels]
    out = run("retry", compiled, order=order)
    assert not out.kinds
    spins = [s for s in out.steps if s.op == "YieldProcessor"]
    assert spins and all(s.event == "cpu1.delete3" for s in spins)
    ended = ends_in_order(out)
    assert ended.index("cpu0.late0.release") < ended.index("cpu1.delete3")


@pytest.mark.parametrize("driver", ["original", "retry", "flow-lock-inverted"])
def test_lean_path_returns_what_the_full_path_does(driver):
    if driver not in builtin_names():
        pytest.skip(f"driver variant {driver} not built yet")
    compiled = get_scenario("late-packets").compile()
    il = interleavings_for(compiled)
    runner = LeanRunner(driver, compiled)
    for k in range(0, len(il), 997):
        lean = runner.run(order=il[k])
        full = run(driver, compiled, order=list(il[k]))
        assert lean.kinds == full.kinds
        assert lean.steps == len(full.steps)
        assert lean.spin_steps == sum(1 for s in full.steps if s.op in (
            "YieldProcessor", "KeStallExecutionProcessor"))
        assert runner.lingering(lean) == sum(
            1 for f in full.flows if f["where"] == "open" and f["deletes_done"] >= 4)
        read = [r for p in full.polls for r in (*p.open, *p.closed)]
        assert sorted(f for _, _, f in lean.records) == sorted(
            record_key(tuple(getattr(r, n) for n in r.__dataclass_fields__)) for r in read)
    for seed in (1, 2, 3):
        assert runner.run(seed=seed, strategy="pct").kinds == run(
            driver, compiled, seed=seed, strategy="pct").kinds
