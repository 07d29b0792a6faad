"""`flowrace list`: the built-in driver variants and scenarios."""

from __future__ import annotations

import click

from kernel_model import builtin_names
from kernel_model.scenarios import scenario_names


@click.command("list")
def list_cmd() -> None:
    """List the built-in driver variants and scenarios."""
    click.echo("drivers:   " + " ".join(builtin_names()))
    click.echo("scenarios: " + " ".join(scenario_names()))
