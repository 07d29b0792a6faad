"""Exploration speed, printed (not a timed test).

    python3 benchmarks/bench_explore.py [--executions N] [--dfs-budget S] [--skip-jobs]
                                        [--repeat R] [--scenario NAME ...]

* random and pct executions/s on one core (lingering-rst, the loop in C);
* dfs on lingering-rst (or each --scenario) for every built-in variant: time to cover
  it, executions, the interleavings they stand for;
* --jobs 2 against --jobs 1: pct seed ranges, dfs schedule-prefix shards (a search of
  several seconds, and one of about one second).

Scaling figures mean something only on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import os
import time

from kernel_model import builtin_names
from kernel_model.explore import explore
from kernel_model.explore._engine import Target, run_batch


def per_core(strategy: str, n: int) -> float:
    target = Target.make("original", "lingering-rst")
    run_batch(target, strategy, 1, 2000, pct_steps=60)
    best = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        run_batch(target, strategy, 1, n, pct_depth=2, pct_steps=60)
        best = max(best, n / (time.perf_counter() - t0))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--executions", type=int, default=300_000)
    ap.add_argument("--dfs-budget", type=float, default=60.0,
                    help="seconds a dfs may take before it is reported incomplete")
    ap.add_argument("--skip-jobs", action="store_true")
    ap.add_argument("--repeat", type=int, default=3, help="runs per --jobs figure (the best)")
    ap.add_argument("--scenario", action="append",
                    help="scenario of the dfs table (repeatable; default lingering-rst)")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    for strategy in ("random", "pct"):
        print(f"{strategy:>6} original x lingering-rst: {per_core(strategy, args.executions):,.0f} "
              "executions/s on one core")
    for scenario in args.scenario or ["lingering-rst"]:
        dfs_table(scenario, args.dfs_budget)
    if args.skip_jobs:
        return
    jobs_figures(args.repeat)


def dfs_table(scenario: str, budget: float) -> None:
    print(f"dfs x {scenario} (Source-DPOR + sleep sets, interleavings counted):")
    for driver in builtin_names():
        res = explore(driver, scenario, "dfs", time_budget=budget, minimise=False)
        d = res.details
        inter = d.get("interleavings")
        print(f"  {driver:26} {'complete' if res.complete else 'INCOMPLETE':10} "
              f"{res.seconds:7.2f} s  {res.executions:>9,} executions  "
              f"{inter if inter is None else f'{inter:.3g}':>9} interleavings  "
              f"{sorted(res.kinds) or '-'}")


def jobs_figures(repeat: int) -> None:
    print(f"--jobs 2 against --jobs 1 (best of {repeat} each):")
    for label, kw in (("pct original x rst-storm, 1,000,000 executions",
                       dict(driver="original", scenario="rst-storm", strategy="pct",
                            max_executions=1_000_000, depth=3)),
                      ("dfs dec-and-lock x late-packets",
                       dict(driver="dec-and-lock", scenario="late-packets", strategy="dfs")),
                      ("dfs last-ref x lingering-rst",
                       dict(driver="last-ref", scenario="lingering-rst", strategy="dfs"))):
        times = {}
        for jobs in (1, 2):
            best = None
            for _ in range(repeat):
                t0 = time.perf_counter()
                res = explore(**kw, jobs=jobs, minimise=False)
                took = time.perf_counter() - t0
                best = took if best is None else min(best, took)
            times[jobs] = best
            print(f"  {label}, --jobs {jobs}: {best:.2f} s, {res.executions:,} "
                  f"executions, complete={res.complete}")
        print(f"  speed-up with 2 jobs: {times[1] / times[2]:.2f}x")


if __name__ == "__main__":
    main()
