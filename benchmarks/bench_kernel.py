"""Kernel-model speed, printed (not a timed test).

    python3 benchmarks/bench_kernel.py [--executions N] [--connections N]

Controlled mode: seeded random executions of lingering-rst run from one Python call
(the loop is in C), per core. Stress mode: operations per second on real threads.
"""

from __future__ import annotations

import argparse
import time

from kernel_model import load_variant, run, run_batch, stress
from kernel_model.scenarios import get_scenario


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--driver", default="original")
    ap.add_argument("--executions", type=int, default=200_000)
    ap.add_argument("--connections", type=int, default=100_000)
    ap.add_argument("--threads", type=int, default=8)
    args = ap.parse_args()

    variant = load_variant(args.driver)
    scenario = get_scenario("lingering-rst").compile()
    run_batch(variant, scenario, 1000)  # warm up
    for strategy in ("random", "pct"):
        best = 0.0
        for _ in range(3):
            t0 = time.perf_counter()
            res = run_batch(variant, scenario, args.executions, strategy=strategy, pct_depth=2)
            dt = time.perf_counter() - t0
            best = max(best, res.executions / dt)
        steps = res.steps / res.executions
        print(f"controlled {strategy:>6} {args.driver} x lingering-rst: {best:,.0f} executions/s "
              f"on one core ({steps:.1f} steps each; {res.violating} of {res.executions} leak)")
    t0 = time.perf_counter()
    n = 2000
    for seed in range(n):
        run(variant, scenario, seed=seed)
    dt = time.perf_counter() - t0
    print(f"controlled single runs with full outcome (Python side included): {n / dt:,.0f}/s")
    res = stress(variant, args.connections, args.threads, seed=1)
    print(f"stress {args.driver}: {args.connections} connections, {args.threads} classify "
          f"threads: {res.operations:,} operations in {res.seconds:.2f} s = "
          f"{res.ops_per_second:,.0f} ops/s; "
          f"lingering {res.lingering}, dropped (table full) "
          f"{res.stats['flows_dropped_table_full']}")


if __name__ == "__main__":
    main()
