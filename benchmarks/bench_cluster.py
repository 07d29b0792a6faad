"""The cost of the Dask engine, printed (not a timed test).

    python3 benchmarks/bench_cluster.py [--executions N] [--repeat R]

A `distributed.LocalCluster` of 2 worker processes (one thread each) on this machine
against `--jobs 2` (the local process pool) on the same searches of several seconds:

* pct (depth 2) on rst-storm, N executions in seed ranges of 20,000;
* dfs on split-deletes for `original`, in schedule-prefix shards.

Each figure is the best of R runs, after one run that lets the workers compile the
variant into their caches (the cluster's start-up is printed apart). The ratio is the
cluster's time over the pool's: the overhead of the engine (task scheduling, pickling
the source and the results, one child process per worker thread). Figures mean
something only on an otherwise idle machine; the load average is printed.
"""

from __future__ import annotations

import argparse
import logging
import os
import time


def best(repeat: int, fn) -> tuple[float, object]:
    out, fastest = None, float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        fastest = min(fastest, time.perf_counter() - t0)
    return fastest, out


def main() -> None:
    from distributed import LocalCluster

    from kernel_model.explore import explore

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--executions", type=int, default=400_000, help="pct executions")
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure (the best)")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    t0 = time.perf_counter()
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                      dashboard_address=None, silence_logs=logging.ERROR) as lc:
        address = lc.scheduler_address
        print(f"LocalCluster of 2 workers up in {time.perf_counter() - t0:.1f} s ({address})")
        searches = {
            f"pct rst-storm x {args.executions:,}": dict(
                driver="original", scenario="rst-storm", strategy="pct", depth=2, seed=1,
                max_executions=args.executions, minimise=False),
            "dfs split-deletes (original)": dict(
                driver="original", scenario="split-deletes", strategy="dfs", minimise=False),
        }
        for label, kw in searches.items():
            driver, scenario, strategy = kw.pop("driver"), kw.pop("scenario"), kw.pop("strategy")

            def pool(driver=driver, scenario=scenario, strategy=strategy, kw=kw):
                return explore(driver, scenario, strategy, jobs=2, **kw)

            def cluster(driver=driver, scenario=scenario, strategy=strategy, kw=kw):
                return explore(driver, scenario, strategy, cluster=address, **kw)

            t0 = time.perf_counter()
            cluster()  # the workers compile and keep the variant
            first = time.perf_counter() - t0
            t_pool, r_pool = best(args.repeat, pool)
            t_cluster, r_cluster = best(args.repeat, cluster)
            same = (r_pool.by_kind == r_cluster.by_kind
                    and r_pool.executions == r_cluster.executions)
            print(f"{label}:")
            print(f"  --jobs 2        {t_pool:7.2f} s  {r_pool.executions:>10,} executions  "
                  f"{r_pool.executions / t_pool:>9,.0f}/s")
            print(f"  --cluster (2)   {t_cluster:7.2f} s  {r_cluster.executions:>10,} executions  "
                  f"{r_cluster.executions / t_cluster:>9,.0f}/s  "
                  f"({r_cluster.parameters['cluster']['parts']} parts; first run {first:.2f} s)")
            print(f"  cluster / pool  {t_cluster / t_pool:7.2f}x  "
                  f"({100 * (t_cluster / t_pool - 1):+.0f} %)  same result: {same}")
    print(f"load average now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
