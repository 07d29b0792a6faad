"""`flowrace validate PATH.c`: one command for "is my fix right?"."""

from __future__ import annotations

import json
import sys

import click
from rich.console import Console

from .cli import Seconds, main, user_errors
from .validate import GRACE, validate


@main.command("validate")
@click.argument("proposal", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="flowrace-out",
              show_default=True, help="where the report and the counterexamples go")
@click.option("--time-budget", type=Seconds(minimum=1.0), default=120.0, show_default=True,
              help="seconds for the whole validation: it ends within this plus "
                   f"{GRACE:g} s")
@click.option("--connections", type=click.IntRange(100, 1_000_000), default=10000,
              show_default=True, help="connections in the real-thread stress run")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@user_errors
def validate_cmd(proposal, out_dir, time_budget, connections, as_json):
    """Compile PROPOSAL (one C file against the shim), explore it exhaustively and with
    PCT, compare it on identical interleavings with every agent variant, stress it on
    real threads. Exit 0 on PASS, 1 on FAIL (reasons with replayable counterexamples),
    2 on bad input or a proposal that does not compile."""
    console = Console(stderr=True)
    if as_json or not console.is_terminal:
        report = validate(proposal, out_dir, time_budget=time_budget, connections=connections)
    else:
        with console.status("validating") as status:
            report = validate(proposal, out_dir, time_budget=time_budget,
                              connections=connections,
                              progress=lambda msg: status.update(f"validating: {msg}"))
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        out = Console()
        colour = {"PASS": "green", "FAIL": "red"}.get(report.verdict, "yellow")
        out.print(f"[bold {colour}]{report.verdict}[/] {proposal} ({report.seconds:.1f} s)")
        for r in report.reasons:
            where = f" on {r.scenario}" if r.scenario else ""
            out.print(f"  [red]✗ {r.kind}[/] ({r.phase}{where}): {r.detail}")
            if r.replay:
                out.print(f"      replay: {r.replay}")
        for why in report.cut_short:
            out.print(f"  [yellow]… {why}[/]")
        for p in report.phases:
            out.print(f"  {p.name:<24} {p.seconds:6.1f} s  {p.summary}")
        out.print(f"  report: {report.report.get('html')}")
    sys.exit(0 if report.verdict == "PASS" else 1)
