"""Exhaustive search on rst-storm by size, printed (not a timed test): the stateless,
partial-order reduced `dfs` against `dfs-stateful` (a visited set of state fingerprints).

    python3 benchmarks/bench_stateful.py [--budget S] [--sizes 1x1,2x1,...] [--drivers a,b]
                                         [--strategies dfs,dfs-stateful] [--no-correct]

One row per flows x CPUs (rst_storm(flows, cpus): each flow's RST and late packet on a
classify CPU, its four delete notifications spread over as many delete CPUs, the agent
polling twice), driver and strategy: executions (dfs) or distinct states (dfs-stateful),
seconds, the visited set's memory and the cell's peak resident memory, and whether the
search completed within --budget seconds. Then every correct built-in variant on the
4 x 2 storm. Each cell runs in its own child process (its own peak memory); one core.
Figures are noisy on a shared machine: run it on an idle one, or compare best-of-N.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import time

SIZES = ["1x1", "2x1", "2x2", "3x1", "3x2", "4x1", "4x2"]
CORRECT = ("retry", "retry-bounded-sweep", "assoc-count", "last-ref", "dec-and-lock",
           "flow-lock")


def cell(driver: str, size: str, strategy: str, budget: float, out) -> None:
    from compare.scenarios import rst_storm
    from kernel_model.explore._engine import Dfs, Target

    flows, cpus = map(int, size.split("x"))
    target = Target.make(driver, rst_storm(flows, cpus))
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    dfs = Dfs(target, count_interleavings=False, stateful=strategy == "dfs-stateful")
    st = dfs.run(0, budget)
    seconds = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out.put({"executions": st.executions, "states": st.states, "complete": st.complete,
             "seconds": seconds, "visited_mib": st.visited_bytes / 2**20,
             "rss_mib": rss / 1024, "rss_growth_mib": (rss - rss0) / 1024,
             "kinds": sorted(st.by_kind)})


def run_cell(driver: str, size: str, strategy: str, budget: float) -> dict:
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=cell, args=(driver, size, strategy, budget, q))
    p.start()
    res = q.get()
    p.join()
    return res


def row(driver: str, size: str, strategy: str, r: dict) -> str:
    what = (f"{r['states']:>11,} states" if strategy == "dfs-stateful"
            else f"{r['executions']:>11,} execs ")
    done = "complete" if r["complete"] else "NOT complete"
    return (f"{size:>5} {driver:<20} {strategy:<13} {what} {r['seconds']:8.2f} s "
            f"{r['visited_mib']:8.0f} MiB set {r['rss_mib']:7.0f} MiB peak  {done:<12} "
            f"{','.join(r['kinds']) or '-'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=60.0, help="seconds per cell")
    ap.add_argument("--sizes", default=",".join(SIZES))
    ap.add_argument("--drivers", default="original,assoc-count")
    ap.add_argument("--strategies", default="dfs,dfs-stateful")
    ap.add_argument("--no-correct", action="store_true",
                    help="leave out the correct built-ins on 4 x 2")
    args = ap.parse_args()
    from kernel_model import load_variant

    drivers = args.drivers.split(",")
    strategies = args.strategies.split(",")
    for d in {*drivers, *CORRECT}:
        load_variant(d)  # build before timing
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; "
          f"budget {args.budget:g} s per cell")
    print(f"{'size':>5} {'driver':<20} {'strategy':<13} {'executions/states':>17} "
          f"{'time':>10} {'visited set':>12} {'memory':>12}  result")
    for size in args.sizes.split(","):
        for driver in drivers:
            for strategy in strategies:
                print(row(driver, size, strategy, run_cell(driver, size, strategy, args.budget)),
                      flush=True)
    if args.no_correct:
        return
    print("every correct built-in variant on rst-storm 4 x 2:")
    for driver in CORRECT:
        for strategy in strategies:
            print(row(driver, "4x2", strategy, run_cell(driver, "4x2", strategy, args.budget)),
                  flush=True)


if __name__ == "__main__":
    main()
