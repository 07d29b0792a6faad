"""`flowrace validate PATH.c`: one command for "is my fix right?"."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from ..validate import GRACE, Validation, validate
from .helpers import Seconds, user_errors


@click.command("validate")
@click.argument("proposal", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="flowrace-out",
              show_default=True, help="where the report and the counterexamples go")
@click.option("--time-budget", type=Seconds(minimum=1.0), default=120.0, show_default=True,
              help="seconds for the whole validation: it ends within this plus "
                   f"{GRACE:g} s")
@click.option("--connections", type=click.IntRange(100, 1_000_000), default=10000,
              show_default=True, help="connections in the real-thread stress run")
@click.option("--cluster", metavar="ADDRESS", envvar="FLOWRACE_CLUSTER",
              help="run every phase as a task on a Dask cluster (tcp://HOST:PORT; default "
                   "$FLOWRACE_CLUSTER)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@user_errors
def validate_cmd(proposal, out_dir, time_budget, connections, cluster, as_json):
    """Compile PROPOSAL (one C file against the shim), explore it exhaustively and with
    PCT, compare it on identical interleavings with every agent variant, stress it on
    real threads. Exit 0 on PASS (every exhaustive phase completed, nothing found), 1 on
    FAIL (reasons with replayable counterexamples), 3 on INCONCLUSIVE (nothing found, but
    a search did not complete: each gap with the command that finishes it), 2 on bad
    input or a proposal that does not compile."""
    console = Console(stderr=True)
    if cluster is not None:
        from kernel_model.explore._cluster import cluster_address, connect

        cluster = cluster_address(cluster)
        connect(cluster)  # an unreachable scheduler: one line, before any work
    if as_json or not console.is_terminal:
        report = validate(proposal, out_dir, time_budget=time_budget, connections=connections,
                          cluster=cluster)
    else:
        t0 = time.monotonic()
        with console.status("validating") as status:
            report = validate(proposal, out_dir, time_budget=time_budget,
                              connections=connections, cluster=cluster,
                              progress=lambda msg: status.update(
                                  f"validating ({time.monotonic() - t0:.0f} s): {msg}"))
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        print_validation(report, proposal)
    sys.exit(report.exit_code)


def print_validation(report: Validation, proposal: str) -> None:
    """The verdict, then each reason and each gap, each command on a line of its own
    (never wrapped: a command longer than the screen goes into a file, its path shown)."""
    out = Console(highlight=False)
    colour = {"PASS": "green", "FAIL": "red"}.get(report.verdict, "yellow")
    out.print(f"[bold {colour}]{report.verdict}[/] {escape(proposal)} "
              f"({report.seconds:.1f} s)", soft_wrap=False)
    commands: list[str] = []

    def command(label: str, text: str) -> None:
        if out.is_terminal and len(text) + 6 > out.width:
            commands.append(text)
            path = Path(report.out) / "commands.sh"
            out.print(f"      {label}: see {escape(str(path))} (#{len(commands)})",
                      soft_wrap=True)
        else:
            out.print(f"      {label}:", soft_wrap=True)
            out.print(f"      {escape(text)}", soft_wrap=True)

    for r in report.reasons:
        where = f" on {r.scenario}" if r.scenario else ""
        out.print(f"  [red]✗ {r.kind}[/] ({r.phase}{where}): {escape(r.detail)}")
        if r.replay:
            command("replay", r.replay)
    for why in report.cut_short:
        out.print(f"  [yellow]… {escape(why)}[/]")
    if report.missing:
        out.print("  [yellow]not proven[/] (nothing found here, but the search did not "
                  "finish):")
    for m in report.missing:
        where = f" on {m.scenario}" if m.scenario else ""
        out.print(f"  [yellow]? {m.phase}{where}[/]: {escape(m.detail)}")
        command("finish it", m.command)
    for p in report.phases:
        out.print(f"  {p.name:<24} {p.seconds:6.1f} s  {escape(p.summary)}")
    if report.cluster:
        c = report.cluster
        out.print(f"  on the cluster {c['address']}: {c['parts']} phases on "
                  f"{c['workers']} workers")
    out.print(f"  report: {report.report.get('html')}", soft_wrap=True)
    if commands:
        path = Path(report.out) / "commands.sh"
        path.write_text("".join(f"# {k}\n{c}\n" for k, c in enumerate(commands, 1)))
