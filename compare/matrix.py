"""The (driver x agent x scenario) matrix on identical interleavings.

For each scenario, one list of interleavings (`kernel_model.scenarios.interleavings`) is
shared by every driver variant. Each interleaving runs once per driver variant (the engine's
event-order strategy); what its polls read feeds every agent variant
(`agent_model.run_pipeline`), and each (driver, agent) pair is judged against the scenario's
ground truth (`compare.verdict`). A cell's verdict is the worst over its executions, with
the first execution that earned it, replayable (`Matrix.save_trace` writes a `flowrace
replay` trace).

Event-level interleavings run each hook atomically unless it spins or blocks, so a race
*inside* a hook (two delete notifications interleaving their interlocked operations, a
release landing between a decrement and a flag) is not among them. A seeded step-level
sweep covers those: the same seeds of the engine's random and PCT strategies run on every
driver (the same seeds, not the same interleavings: where the scheduling points fall
depends on the variant's code). Its executions feed the agents and the verdict like the
others; a cell says which kind of execution earned its verdict.

Costs are kept down three ways: the lean execution path (`kernel_model.execution.LeanRunner`,
no step trace), and agent results cached by what the agents see (per poll, the records read,
without their timestamps: the agent keeps a record's timestamp only as `last_update_epoch`,
which no figure depends on), so each distinct kernel outcome goes through each agent once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_model import resolve_agent_variant
from agent_model._variants import AGENT_VARIANTS
from kernel_model import FlowraceError, builtin_names, load_variant, save_trace
from kernel_model.execution import Outcome
from kernel_model.scenario import CompiledScenario, Scenario
from kernel_model.scenarios import get_scenario, scenario_names
from kernel_model.scenarios.interleavings import DEFAULT_SAMPLE, Interleavings, interleavings_for
from kernel_model.variants import Variant

from .cell import Cell, Execution, ExecutionRef, cell_from_json
from .driver_scenario import (
    DEFAULT_SWEEP,
    SWEEP_STRATEGIES,
    DriverScenario,
    DriverSpec,
    _AgentCache,
)
from .verdict import Verdict


# ---- inputs (DriverSpec: compare.driver_scenario) --------------------------------------------
def default_drivers() -> list[DriverSpec]:
    return [DriverSpec(n, n) for n in builtin_names()]


def default_agents() -> list[str]:
    return list(AGENT_VARIANTS)


def check_agent(spec: str) -> str:
    """Resolve an agent variant spec now, so a bad one is one clear error."""
    try:
        resolve_agent_variant(spec)
    except ValueError as exc:  # UnknownAgentVariantError
        raise FlowraceError(str(exc)) from None
    return spec


# ---- the matrix ----------------------------------------------------------------------------
@dataclass
class MatrixStats:
    executions: int = 0  # kernel executions run
    seconds: float = 0.0  # spent running and judging them
    pipelines: int = 0  # agent pipelines run (the other agent results came from the cache)

    @property
    def per_second(self) -> float:
        return self.executions / self.seconds if self.seconds else 0.0


class Matrix:
    """Computes cells on demand, one (driver, scenario) at a time, and keeps them.

    ``Matrix(drivers, agents, scenarios)`` with names (built-in driver names or paths to
    proposals, agent names or ``module:Name``, scenario names or `Scenario` objects);
    ``matrix.cell(driver, agent, scenario)``; ``matrix.run()`` computes every cell."""

    def __init__(self, drivers: Iterable[str | DriverSpec] | None = None,
                 agents: Iterable[str] | None = None,
                 scenarios: Iterable[str | Scenario] | None = None, *,
                 interleavings: int | None = None, seed: int = 1,
                 sweep: int = DEFAULT_SWEEP):
        self.drivers = [d if isinstance(d, DriverSpec) else DriverSpec.of(d)
                        for d in (drivers if drivers is not None else default_drivers())]
        names = [d.name for d in self.drivers]
        self.drivers = [DriverSpec(d.spec, d.spec) if names.count(d.name) > 1 else d
                        for d in self.drivers]  # two proposals named alike: their paths
        self.agents = [check_agent(a) for a in (agents if agents is not None
                                                  else default_agents())]
        self.scenarios: list[Scenario] = [s if isinstance(s, Scenario) else get_scenario(s)
                                          for s in (scenarios if scenarios is not None
                                                    else scenario_names())]
        self.sample = DEFAULT_SAMPLE if interleavings is None else interleavings
        if self.sample < 1:
            raise FlowraceError("--interleavings must be at least 1")
        if sweep < 0:
            raise FlowraceError("the sweep cannot be negative")
        self.seed = seed
        self.sweep = sweep
        self.stats = MatrixStats()
        self._cache = _AgentCache()
        self._compiled: dict[str, CompiledScenario] = {}
        self._interleavings: dict[str, Interleavings] = {}
        self._runs: dict[tuple[str, str], DriverScenario] = {}
        self._cells: dict[tuple[str, str, str], Cell] = {}
        self._variants: dict[str, Variant] = {}
        self.cluster: dict[str, Any] | None = None  # where the cells ran (compare --cluster)

    # -- lookups -----------------------------------------------------------------------------
    def driver(self, name: str) -> DriverSpec:
        for d in self.drivers:
            if name in (d.name, d.spec):
                return d
        raise FlowraceError(f"driver {name!r} is not in this matrix; drivers: "
                            + ", ".join(d.name for d in self.drivers))

    def scenario(self, name: str) -> Scenario:
        for s in self.scenarios:
            if s.name == name:
                return s
        raise FlowraceError(f"scenario {name!r} is not in this matrix; scenarios: "
                            + ", ".join(s.name for s in self.scenarios))

    def variant(self, driver: DriverSpec) -> Variant:
        """The compiled variant (a proposal that does not compile raises ProposalBuildError)."""
        if driver.spec not in self._variants:
            self._variants[driver.spec] = load_variant(driver.spec)
        return self._variants[driver.spec]

    def compiled(self, scenario: str) -> CompiledScenario:
        if scenario not in self._compiled:
            self._compiled[scenario] = self.scenario(scenario).compile()
        return self._compiled[scenario]

    def interleavings(self, scenario: str) -> Interleavings:
        """The interleavings every driver runs on `scenario` (computed once)."""
        if scenario not in self._interleavings:
            self._interleavings[scenario] = interleavings_for(
                self.compiled(scenario), sample=self.sample, seed=self.seed)
        return self._interleavings[scenario]

    # -- running ---------------------------------------------------------------------------------
    def driver_scenario(self, driver: str, scenario: str,
                        progress: Callable[[int], None] | None = None) -> DriverScenario:
        d = self.driver(driver)
        key = (d.name, scenario)
        if key not in self._runs:
            ds = DriverScenario(d, self.variant(d), self.compiled(scenario),
                                self.interleavings(scenario), self.sweep, self.seed,
                                self._cache)
            ds.run(progress)
            self.stats.executions += len(ds.executions)
            self.stats.seconds += ds.seconds
            self._runs[key] = ds
        return self._runs[key]

    def executions_per_pair(self, scenario: str) -> int:
        return len(self.interleavings(scenario)) + self.sweep * len(SWEEP_STRATEGIES)

    def cell(self, driver: str, agent: str, scenario: str) -> Cell:
        d = self.driver(driver)
        key = (d.name, agent, scenario)
        if key not in self._cells:
            if agent not in self.agents:
                raise FlowraceError(f"agent {agent!r} is not in this matrix; agents: "
                                    + ", ".join(self.agents))
            ds = self.driver_scenario(d.name, scenario)
            t0 = time.perf_counter()
            self._cells[key] = ds.cell(agent)
            self.stats.seconds += time.perf_counter() - t0
            self.stats.pipelines = self._cache.pipelines
        return self._cells[key]

    def executions(self, driver: str, agent: str, scenario: str) -> Iterator[Execution]:
        """Every execution of a cell, judged (for tests and reports)."""
        ds = self.driver_scenario(driver, scenario)
        if ds.remote:  # the cluster sent back the cells, not the executions: run them here
            ds.remote = False
            ds.run()
        return ds.executions_for(agent)

    def install(self, driver: DriverSpec, scenario: str, cells: Sequence[Cell],
                executions: int, seconds: float, pipelines: int) -> None:
        """Keep the cells of a (driver, scenario) computed elsewhere (`compare._cluster`);
        its executions replay here on demand (`outcome`)."""
        ds = DriverScenario(driver, self.variant(driver), self.compiled(scenario),
                            self.interleavings(scenario), self.sweep, self.seed, self._cache)
        ds.remote = True
        self._runs[(driver.name, scenario)] = ds
        for c in cells:
            self._cells[(driver.name, c.agent, scenario)] = c
        self.stats.executions += executions
        self.stats.seconds += seconds
        self.stats.pipelines += pipelines

    def run(self, progress: Callable[[str, str, int], None] | None = None) -> list[Cell]:
        """Every cell, scenario by scenario, driver by driver."""
        out = []
        for s in self.scenarios:
            for d in self.drivers:
                cb = (lambda n, d=d, s=s: progress(d.name, s.name, n)) if progress else None
                self.driver_scenario(d.name, s.name, cb)
                out.extend(self.cell(d.name, a, s.name) for a in self.agents)
        return out

    def cells(self) -> list[Cell]:
        """The cells computed so far, in matrix order."""
        order = {(d.name, a, s.name): i for i, (d, a, s) in enumerate(
            (d, a, s) for s in self.scenarios for d in self.drivers for a in self.agents)}
        return sorted(self._cells.values(), key=lambda c: order.get(c.key, len(order)))

    # -- replay ------------------------------------------------------------------------------------
    def outcome(self, cell: Cell, ref: ExecutionRef | None = None) -> Outcome:
        """The full execution (with its step-level schedule) of `ref` (default: the one
        that earned the cell's verdict)."""
        ref = ref or cell.first
        if ref is None:
            raise FlowraceError(f"{cell.key}: no execution to replay")
        return self.driver_scenario(cell.driver, cell.scenario)._full(ref)

    def replayable(self, cell: Cell, directory: str | Path | None = None) -> Cell:
        """Fill in the step-level schedule of the cell's first non-correct execution (which
        `flowrace run --schedule` reproduces) and, given a directory, save it there as a
        `flowrace replay` trace."""
        if cell.verdict is Verdict.CORRECT or cell.first is None:
            return cell
        if cell.schedule is None or (directory is not None and cell.trace is None):
            outcome = self.outcome(cell)
            cell.schedule = outcome.schedule
            if directory is not None:
                path = Path(directory) / trace_name(cell)
                save_trace(outcome, path)
                cell.trace = str(path)
        return cell

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "sweep": self.sweep * len(SWEEP_STRATEGIES),
            "interleavings": {name: {"run": len(il), "total": il.total,
                                     "exhaustive": il.exhaustive, "method": il.method,
                                     "seed": il.seed}
                              for name, il in self._interleavings.items()},
            "executions": self.stats.executions,
            "seconds": round(self.stats.seconds, 3),
            "cells": [c.to_json() for c in self.cells()],
        } | ({"cluster": self.cluster} if self.cluster else {})


def trace_name(cell: Cell) -> str:
    ref = cell.first
    assert ref is not None
    stem = Path(cell.driver).stem if cell.driver.endswith(".c") else cell.driver
    what = f"i{ref.number}" if ref.kind == "interleaving" else f"{ref.kind}{ref.number}"
    return f"{stem}--{cell.scenario}--{what}.json"


__all__ = [
    "DEFAULT_SWEEP", "SWEEP_STRATEGIES", "Cell", "DriverScenario", "DriverSpec", "Execution",
    "ExecutionRef", "Matrix", "MatrixStats", "cell_from_json", "check_agent", "default_agents",
    "default_drivers", "trace_name",
]
