"""Throughput of the agent model: connections per second through ``NetworkState.get_delta``.

Not a test: run it on purpose.

    python benchmarks/bench_agent.py [--connections 10000] [--polls 10] [--variant workaround]
    python benchmarks/bench_agent.py --profile        # cProfile of the same run, top 20

Every poll carries ``--connections`` open connections whose byte counters all moved (so every
one is shipped: the agent's worst case), 1 % of them with a reset status; one client. The
connections of each poll are built before the clock starts; the figure is for ``get_delta``
alone. Target: at least 200,000 connections/s.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from agent_model import ConnectionStats, NetworkState, StatCounters

TARGET = 200_000


def build_polls(connections: int, polls: int) -> list[list[ConnectionStats]]:
    out = []
    for i in range(1, polls + 1):
        conns = []
        for k in range(connections):
            failed = k % 100 == 0
            conns.append(
                ConnectionStats(
                    cookie=0x10000 + k,
                    monotonic=StatCounters(
                        sent_bytes=1500 * i + k,
                        recv_bytes=200 * i,
                        sent_packets=3 * i,
                        recv_packets=2 * i,
                        tcp_established=0 if failed else 1,
                        tcp_closed=1 if failed else 0,
                    ),
                    tcp_failures={104: 1} if failed else {},
                )
            )
        out.append(conns)
    return out


def run(polls_data: list[list[ConnectionStats]], variant: str) -> tuple[float, int]:
    ns = NetworkState(variant)
    ns.register_client("bench")
    shipped = 0
    elapsed = 0.0
    for i, conns in enumerate(polls_data, start=1):
        start = time.perf_counter()
        delta = ns.get_delta("bench", conns, now=30.0 * i)
        elapsed += time.perf_counter() - start
        shipped += len(delta)
    return elapsed, shipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--polls", type=int, default=10)
    parser.add_argument("--variant", default="workaround")
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)

    polls_data = build_polls(args.connections, args.polls)
    total = args.connections * args.polls
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        run(polls_data, args.variant)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
        return 0

    best = min(run(polls_data, args.variant)[0] for _ in range(args.repeat))
    rate = total / best
    print(
        f"agent_model get_delta [{args.variant}]: {args.connections} connections x "
        f"{args.polls} polls in {best:.3f} s (best of {args.repeat}) = {rate:,.0f} connections/s "
        f"(target {TARGET:,}: {'met' if rate >= TARGET else 'MISSED'})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
