"""`flowrace sanitize`: a variant under the compilers' sanitizers."""

from __future__ import annotations

import sys

import click
from rich.console import Console

from .helpers import user_errors


@click.command("sanitize")
@click.option("--driver", required=True, help="built-in variant name, or a path to a .c proposal")
@click.option("--tool", type=click.Choice(["address", "thread", "both"]), default="both",
              show_default=True, help="address: ASan+UBSan over every scenario in controlled "
              "mode; thread: TSan on the real-thread stress run")
@click.option("--executions", type=click.IntRange(1, 1_000_000), default=200,
              show_default=True, help="random and PCT executions per scenario under ASan")
@click.option("--connections", type=click.IntRange(1, 1_000_000), default=2000,
              show_default=True, help="stress connections under TSan")
@user_errors
def sanitize_cmd(driver, tool, executions, connections):
    """Run a variant under the compilers' sanitizers. Exit 0 when nothing was found, 1
    when a sanitizer or one of flowrace's own checks (listed too) found something."""
    from kernel_model.sanitize import asan_run, tsan_stress

    results = []
    if tool in ("address", "both"):
        results.append(asan_run(driver, executions))
    if tool in ("thread", "both"):
        results.append(tsan_stress(driver, connections))
    console = Console()
    dirty = False
    for res in results:
        name = {"address": "ASan+UBSan", "thread": "TSan"}[res.tool]
        if res.clean:
            console.print(f"[bold green]✓ {name}[/]: no sanitizer report"
                          + ("" if res.findings else ", clean"))
        else:
            dirty = True
            console.print(f"[bold red]✗ {name}[/]: "
                          + ("; ".join(dict.fromkeys(res.reports)) or "the run did not finish"))
            if not res.reports:
                console.print(res.output[-3000:], markup=False)
        if res.findings:
            dirty = True  # flowrace's own checks found something: a finding like any other
            console.print(f"[bold red]✗ flowrace's checks[/] in the {name} run:")
        for finding in res.findings:
            console.print(f"    {finding}", markup=False)
    sys.exit(1 if dirty else 0)

