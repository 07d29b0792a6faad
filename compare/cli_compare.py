"""`flowrace compare`: the (driver x agent x scenario) matrix on identical interleavings."""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from kernel_model import FlowraceError, builtin_names

from .cli import SEED, _emit_json, main, user_errors
from .interleavings import DEFAULT_SAMPLE, ENUMERATE_LIMIT
from .matrix import DEFAULT_SWEEP, SWEEP_STRATEGIES, DriverSpec, Matrix, default_agents
from .report import console_for_tables, print_matrix, to_json


@main.command("compare")
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
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@user_errors
def compare_cmd(scenarios, drivers, fixes, agents, interleavings, seed, sweep, traces, as_json):
    """Run every driver variant on the same interleavings of each scenario, feed what each
    execution's polls read to every agent variant, and judge each (driver, agent,
    scenario) cell against the scenario's ground truth: correct, masked (the backend is
    right, the kernel leaks), wrong (the backend is not) or unsafe (memory-safety finding,
    livelock, deadlock). Exit 0 whatever the verdicts; 2 on bad input."""
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

        cells = matrix.run(progress)
    for c in cells:
        matrix.replayable(c, traces)
    if as_json:
        _emit_json(to_json(cells, matrix))
    else:
        console = console_for_tables()
        print_matrix(cells, console, matrix)
        s = matrix.stats
        console.print(f"{s.executions:,} executions in {s.seconds:.1f} s "
                      f"({s.per_second:,.0f} per second), seed {seed}", style="dim",
                      highlight=False)
    sys.exit(0)
