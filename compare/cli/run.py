"""`flowrace run`: one controlled execution, by a schedule or a seed."""

from __future__ import annotations

import os
import sys

import click
from rich.console import Console

from kernel_model import FlowraceError, load_variant, run, save_trace
from kernel_model.scenarios import get_scenario
from kernel_model.timeline import print_outcome

from .helpers import SEED, emit_json, fail, user_errors


@click.command("run")
@click.option("--driver", required=True, help="built-in variant name, or a path to a .c proposal")
@click.option("--scenario", "scenario_name", required=True, help="scenario name (flowrace list)")
@click.option("--schedule", help="schedule SPEC (A, A*N, A*, A@LABEL) or a scenario's named "
              "schedule, e.g. 'leak' or 'clean'")
@click.option("--seed", type=SEED, help="seeded random schedule")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@click.option("--save-trace", "save_to", type=click.Path(dir_okay=False, writable=True),
              help="write the trace here")
@user_errors
def run_cmd(driver, scenario_name, schedule, seed, as_json, save_to):
    """Run one controlled execution. Exit 0 when no check fired, 1 when one did."""
    if (schedule is None) == (seed is None):
        fail("give exactly one of --schedule SPEC or --seed N")
    scenario = get_scenario(scenario_name)
    if save_to:
        _writable_file(save_to)
    variant = load_variant(driver)
    outcome = run(variant, scenario, schedule=schedule, seed=seed)
    if save_to:
        save_trace(outcome, save_to)
    if as_json:
        emit_json(outcome.to_json())
    else:
        print_outcome(outcome, Console())
        if save_to:
            click.echo(f"  trace saved to {save_to}")
    sys.exit(1 if outcome.violations else 0)


def _writable_file(path: str) -> None:
    """Fail now, not after the run, when `path` cannot be written."""
    from pathlib import Path

    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise FlowraceError(f"cannot write the trace to {path}: it is a directory")
    if (target.exists() and not os.access(target, os.W_OK)) or (
            not target.exists() and parent.is_dir() and not os.access(parent, os.W_OK | os.X_OK)):
        raise FlowraceError(f"cannot write the trace to {path}: permission denied")

