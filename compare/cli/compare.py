"""`flowrace compare`: the (driver x agent x scenario) matrix on identical interleavings."""

from __future__ import annotations

import sys
from dataclasses import asdict

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from kernel_model import FlowraceError, builtin_names
from kernel_model.scenarios.interleavings import DEFAULT_SAMPLE, ENUMERATE_LIMIT

from ..findings import (
    DEFAULT_FAIL_ON,
    driver_findings,
    driver_summary,
    failing_cells,
    parse_fail_on,
)
from ..matrix import DEFAULT_SWEEP, SWEEP_STRATEGIES, DriverSpec, Matrix, default_agents
from ..report import console_for_tables, print_matrix, to_json
from .helpers import SEED, emit_json, user_errors


@click.command("compare")
@click.option("--scenario", "scenarios", multiple=True, metavar="NAME",
              help="a scenario (repeat for several; default: every built-in scenario)")
@click.option("--driver", "drivers", multiple=True, metavar="NAME",
              help="a built-in driver variant (repeat; default: every built-in one)")
@click.option("--fix", "fixes", multiple=True, metavar="PATH.c",
              type=click.Path(dir_okay=False),
              help="a driver-fix proposal to add (a C file; repeat for several)")
@click.option("--agent", "agents", multiple=True, metavar="MODULE:NAME",
              help="an agent variant to add: a registered name or 'package.module:Class'")
@click.option("--interleavings", type=click.IntRange(1, 10_000_000), default=DEFAULT_SAMPLE,
              show_default=True, metavar="N",
              help=f"interleavings drawn from a scenario with more than "
                   f"{ENUMERATE_LIMIT:,} (smaller ones run all of theirs)")
@click.option("--seed", type=SEED, default=1, show_default=True, metavar="S",
              help="seed of the sampled interleavings and of the step-level sweep")
@click.option("--sweep", type=click.IntRange(0, 10_000_000), default=DEFAULT_SWEEP,
              show_default=True,
              metavar="N", help="step-level seeds per strategy (random, pct) per driver and "
                                "scenario, for races inside a hook; 0: none")
@click.option("--traces", type=click.Path(file_okay=False), metavar="DIR",
              help="save each verdict's first bad execution here as a `flowrace replay` trace")
@click.option("--fail-on", "fail_on", default=",".join(DEFAULT_FAIL_ON), show_default=True,
              metavar="VERDICTS",
              help="exit 1 when a cell has one of these verdicts: a comma-separated list of "
                   "unsafe, wrong (by the driver: a `wrong (agent)` cell never counts), "
                   "masked; or none")
@click.option("--details", is_flag=True,
              help="each bad cell's reason, first bad execution and replay command")
@click.option("--cluster", metavar="ADDRESS", envvar="FLOWRACE_CLUSTER",
              help="compute the (driver, scenario) pairs on a Dask cluster (tcp://HOST:PORT; "
                   "default $FLOWRACE_CLUSTER)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@user_errors
def compare_cmd(scenarios, drivers, fixes, agents, interleavings, seed, sweep, traces,
                fail_on, details, cluster, as_json):
    """Run every driver variant on the same interleavings of each scenario, feed what each
    execution's polls read to every agent variant, and judge each (driver, agent,
    scenario) cell against the scenario's ground truth: correct, masked (the backend is
    right, the kernel leaks), wrong (the backend is not) or unsafe (memory-safety finding,
    livelock, deadlock, any other check). Exit 1 when a cell's verdict is one of
    --fail-on (default: unsafe, or wrong by the driver), else 0; 2 on bad input."""
    try:
        fail_verdicts = parse_fail_on(fail_on)
    except ValueError as exc:
        raise FlowraceError(str(exc)) from None
    if cluster is not None:
        from kernel_model.explore._cluster import cluster_address, connect

        cluster = cluster_address(cluster)
        connect(cluster)  # an unreachable scheduler: one line, before any work
    known = builtin_names()
    for d in drivers:
        if d not in known:
            raise FlowraceError(f"unknown driver variant {d!r}; built-in variants: "
                                f"{', '.join(known)} (a proposal goes with --fix PATH.c)")
    chosen = [DriverSpec(d, d) for d in (drivers or known)]
    chosen += [DriverSpec.of(f) for f in fixes]
    for f in fixes:
        if not f.endswith(".c"):
            raise FlowraceError(f"--fix takes a C file (PATH.c), not {f!r}")
    agent_list = list(dict.fromkeys([*default_agents(), *agents]))
    matrix = Matrix(chosen, agent_list, list(scenarios) or None,
                    interleavings=interleavings, seed=seed, sweep=sweep)
    for d in matrix.drivers:  # compile proposals first: a broken one is one clear error
        matrix.variant(d)
    err = Console(stderr=True)
    total = sum(matrix.executions_per_pair(s.name) for s in matrix.scenarios) * len(
        matrix.drivers)
    sampled = [matrix.interleavings(s.name) for s in matrix.scenarios]
    note = "; ".join(f"{il.scenario}: {il.summary()}" for il in sampled if not il.exhaustive)
    err.print(f"flowrace compare: seed {seed}"
              + (f", sweep {sweep} x {'+'.join(SWEEP_STRATEGIES)}" if sweep else "")
              + (f"; {note}" if note else ""), highlight=False)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=True,
                  disable=not err.is_terminal) as bar:
        task = bar.add_task("executions", total=total)

        def progress(driver: str, scenario: str, n: int) -> None:
            bar.update(task, advance=n, description=f"{driver} × {scenario}")

        if cluster is not None:
            from .._cluster import run_matrix

            def status(st) -> None:
                bar.update(task, description=f"cluster: {st['done']} pairs done, "
                                             f"{st['in_flight']} in flight, "
                                             f"{st['workers']} workers")

            run_matrix(matrix, cluster, None, status)
            bar.update(task, completed=total)
        cells = matrix.run(progress)
    for c in cells:
        matrix.replayable(c, traces)
    failing = failing_cells(cells, fail_verdicts)
    if as_json:
        doc = to_json(cells, matrix)
        doc["fail_on"] = list(fail_verdicts)
        doc["failing_cells"] = len(failing)
        doc["drivers"] = {d.name: {"summary": driver_summary(cells, d.name),
                                   "findings": [asdict(f) for f in
                                                driver_findings(cells, d.name)]}
                          for d in matrix.drivers}
        emit_json(doc)
    else:
        console = console_for_tables()
        print_matrix(cells, console, matrix, show_details=details)
        s = matrix.stats
        console.print(f"{s.executions:,} executions in {s.seconds:.1f} s "
                      f"({s.per_second:,.0f} per second), seed {seed}", style="dim",
                      highlight=False)
        if matrix.cluster:
            c = matrix.cluster
            console.print(f"on the cluster {c['address']}: {c['parts']} (driver, scenario) "
                          f"pairs on {c['workers']} workers", style="dim", highlight=False)
        if failing:
            console.print(f"exit 1: {len(failing)} cell(s) {'/'.join(fail_verdicts)} "
                          f"(--fail-on {','.join(fail_verdicts)})", highlight=False)
    sys.exit(1 if failing else 0)
