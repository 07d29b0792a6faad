"""`flowrace stress`: RST-terminated connections on real OS threads."""

from __future__ import annotations

import sys

import click
from rich.console import Console

from kernel_model import stress

from .helpers import SEED, Seconds, emit_json, user_errors


@click.command("stress")
@click.option("--driver", required=True, help="built-in variant name, or a path to a .c proposal")
@click.option("--connections", type=click.IntRange(1, 10_000_000), default=10000, show_default=True)
@click.option("--threads", type=click.IntRange(1, 256), default=8, show_default=True,
              help="classify threads")
@click.option("--seed", type=SEED, default=1, show_default=True)
@click.option("--noise", type=click.IntRange(0, 1000), default=500, show_default=True,
              help="per-mille chance of a yield or delay at each scheduling point")
@click.option("--capacity", type=click.IntRange(1, 10_000_000), default=32767, show_default=True,
              help="openFlows capacity")
@click.option("--max-seconds", type=Seconds(), default=600.0, show_default=True,
              help="the watchdog: a run not finished by then is stopped (a finding)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@user_errors
def stress_cmd(driver, connections, threads, seed, noise, capacity, max_seconds, as_json):
    """Run RST-terminated connections on real OS threads and count lingering flows. Exit
    0 when the run completed with nothing found, 1 on a finding (a leak, a deadlock: a
    cycle of lock waits, ...), 3 when a callback spun past its budget of CPU time with no
    deadlock cycle to show (timed out: inconclusive), 2 on bad input."""
    err = Console(stderr=True)
    show = None
    if not as_json and err.is_terminal:  # piped or --json: quiet
        def show(p: dict) -> None:  # called in the child process that runs the threads
            line = (f"stress: {p['operations']:,} operations, {p['connections']:,}/"
                    f"{connections:,} connections closed, {p['seconds']:.1f} s, "
                    f"{p['lingering']:,} lingering so far")
            sys.stderr.write("\r" + line[: max(err.width - 1, 20)].ljust(err.width - 1))
            sys.stderr.flush()

    result = stress(driver, connections, threads, seed, noise_permille=noise,
                    open_capacity=capacity, max_seconds=max_seconds, progress=show)
    if show is not None:
        sys.stderr.write("\r" + " " * (err.width - 1) + "\r")
        sys.stderr.flush()
    if as_json:
        emit_json(result.to_json())
    else:
        console = Console()
        console.print(f"[bold]{result.driver}[/]: {result.connections} connections, "
                      f"{result.threads} classify threads, seed {result.seed}")
        style = "bold red" if result.lingering else "bold green"
        console.print(f"  lingering flows: [{style}]{result.lingering}[/]   open at end: "
                      f"{result.open_at_end}   peak open: {result.open_peak}   dropped (table "
                      f"full): {result.stats['flows_dropped_table_full']}")
        console.print(f"  {result.operations} operations in {result.seconds:.2f} s "
                      f"({result.ops_per_second:,.0f} ops/s)")
        for v in result.violations:
            console.print(f"  [bold red]✗ {v.kind}[/]: {v.detail}")
        if result.timed_out and not result.violations:
            console.print(f"  [bold yellow]? timed out[/] (INCONCLUSIVE: no deadlock cycle, "
                          f"so not a finding; lingering not judged): {result.timed_out}")
    sys.exit({"PASS": 0, "FAIL": 1, "INCONCLUSIVE": 3}[result.verdict])

