"""Comparison speed, printed (not a timed test).

    python3 benchmarks/bench_compare.py [--scenario NAME ...] [--sweep N] [--seed S]

1. Interleavings per second of one driver on one scenario, three ways: `run()` with the
   full outcome (step trace read back), the lean path the matrix uses, and the bare C
   call (the floor).
2. The whole matrix (every built-in driver x every agent x every scenario, as
   `pytest compare/` computes it): interleavings enumerated or sampled, executions run,
   agent pipelines run (the rest come from the cache), cells judged, with the time of
   each phase and executions per second end to end.
"""

from __future__ import annotations

import argparse
import time

from compare.matrix import DEFAULT_SWEEP, SWEEP_STRATEGIES, Matrix
from kernel_model import builtin_names, load_variant, run
from kernel_model.execution import LeanRunner
from kernel_model.scenarios import get_scenario, scenario_names
from kernel_model.scenarios.interleavings import _MEMO as interleavings_memo
from kernel_model.scenarios.interleavings import interleavings_for


def per_interleaving(driver: str, scenario: str) -> None:
    compiled = get_scenario(scenario).compile()
    t0 = time.perf_counter()
    il = interleavings_for(compiled)
    t_enum = time.perf_counter() - t0
    print(f"{scenario}: {il.summary()} (computed in {t_enum:.2f} s)")
    runner = LeanRunner(driver, compiled)
    orders = list(il)
    n_full = min(len(orders), 2000)
    t0 = time.perf_counter()
    for o in orders[:n_full]:
        run(runner.variant, compiled, order=list(o))
    full = n_full / (time.perf_counter() - t0)
    best = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        for o in orders:
            runner.run(order=o)
        best = max(best, len(orders) / (time.perf_counter() - t0))
    lib, spec, buf, n = runner.variant.lib, runner._spec, runner._order, len(compiled.events)
    runner.run(order=orders[0])  # sets the event-order strategy in the run spec
    t0 = time.perf_counter()
    for o in orders:
        buf[0:n] = o
        lib.fr_run(spec, runner._run)
    bare = len(orders) / (time.perf_counter() - t0)
    print(f"  {driver}: full outcome {full:,.0f}/s, lean path {best:,.0f}/s, "
          f"bare C call {bare:,.0f}/s (interleavings per second, one core)")


def whole_matrix(scenarios: list[str] | None, sweep: int, seed: int) -> None:
    for d in builtin_names():
        load_variant(d)  # compile outside the clock
    interleavings_memo.clear()  # count the enumeration again
    m = Matrix(scenarios=scenarios, sweep=sweep, seed=seed)
    t0 = time.perf_counter()
    for s in m.scenarios:
        m.interleavings(s.name)
    t_il = time.perf_counter() - t0
    t0 = time.perf_counter()
    for s in m.scenarios:
        for d in m.drivers:
            m.driver_scenario(d.name, s.name)
    t_run = time.perf_counter() - t0
    t0 = time.perf_counter()
    cells = [m.cell(d.name, a, s.name) for s in m.scenarios for d in m.drivers for a in m.agents]
    t_cells = time.perf_counter() - t0
    n = m.stats.executions
    interleavings = sum(len(m.interleavings(s.name)) for s in m.scenarios) * len(m.drivers)
    total = t_il + t_run + t_cells
    print(f"matrix: {len(m.drivers)} drivers x {len(m.agents)} agents x {len(m.scenarios)} "
          f"scenarios = {len(cells)} cells, seed {seed}, sweep {sweep} x "
          f"{len(SWEEP_STRATEGIES)} strategies")
    print(f"  interleavings: {t_il:6.2f} s  (enumerated or sampled once per scenario)")
    print(f"  executions:    {t_run:6.2f} s  {n:,} executions ({interleavings:,} interleavings "
          f"+ {n - interleavings:,} sweep) = {n / t_run:,.0f}/s")
    print(f"  agents, cells: {t_cells:6.2f} s  {m.stats.pipelines:,} agent pipelines for "
          f"{n * len(m.agents):,} (execution, agent) pairs; {len(cells)} cells judged")
    print(f"  total:         {total:6.2f} s  = {n / total:,.0f} executions/s end to end, "
          f"{n * len(m.agents) / total:,.0f} judged (execution, agent) pairs/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--driver", default="original")
    ap.add_argument("--scenario", action="append", help="restrict the matrix (repeatable)")
    ap.add_argument("--sweep", type=int, default=DEFAULT_SWEEP)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    for scenario in ("late-packets", "rst-storm"):
        per_interleaving(args.driver, scenario)
    unknown = [s for s in args.scenario or () if s not in scenario_names()]
    if unknown:
        ap.error(f"unknown scenario(s): {', '.join(unknown)}")
    whole_matrix(args.scenario, args.sweep, args.seed)


if __name__ == "__main__":
    main()
