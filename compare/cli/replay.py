"""`flowrace replay TRACE`: re-run a saved trace exactly."""

from __future__ import annotations

import sys

import click
from rich.console import Console

from kernel_model import load_trace, replay
from kernel_model.scenarios import get_scenario
from kernel_model.timeline import print_outcome

from .helpers import emit_json, user_errors


@click.command("replay")
@click.argument("trace", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@click.option("--use-file", is_flag=True,
              help="run the proposal file on disk even if it differs from the source the "
                   "trace embeds (default: the embedded source, as recorded)")
@user_errors
def replay_cmd(trace, as_json, use_file):
    """Re-run a saved trace exactly (the same output as the run that saved it). A
    proposal's trace embeds its source: it replays after the file moved or was deleted,
    and says so loudly (on stderr) when the file on disk differs."""
    doc = load_trace(trace)
    if doc.get("crash"):
        _replay_crash(trace, doc, use_file)
    outcome = replay(doc, get_scenario(doc["scenario"]), use_file=use_file)
    warning = outcome.__dict__.get("warning")
    if warning:
        click.echo(f"flowrace: {warning}", err=True)
    expected = set(doc.get("violations", []))
    if as_json:
        emit_json(outcome.to_json())
    else:
        print_outcome(outcome, Console())
    if expected and expected != outcome.kinds:
        click.echo(
            f"flowrace: warning: the trace recorded {sorted(expected)}, the replay found "
            f"{sorted(outcome.kinds)} (did the driver change?)", err=True)
    sys.exit(1 if outcome.violations else 0)


def _replay_crash(trace: str, doc: dict, use_file: bool = False) -> None:
    """A trace of an execution that crashed or hung the process: replay it in a child
    process and say what happened there (exit 1), instead of crashing this one."""
    import tempfile
    from pathlib import Path

    from kernel_model.execution import trace_variant

    from ..child import run_child

    variant, warning = trace_variant(doc, use_file=use_file)
    if warning:
        click.echo(f"flowrace: {warning}", err=True)
    driver = variant.name if variant.builtin else str(variant.source)
    with tempfile.TemporaryDirectory() as tmp:
        # the step log grows while the execution runs: 5 s without a step is the hang
        res = run_child("single", {"driver": driver, "scenario": doc["scenario"],
                                   "schedule": doc["schedule"], "log": f"{tmp}/steps"}, 120,
                        progress=Path(tmp) / "steps")
    if res.ok:
        click.echo(f"flowrace: {trace} recorded '{doc['crash']}', but the replay finished "
                   f"({', '.join(res.value['kinds']) or 'no violation'})", err=True)
    else:
        click.echo(f"{doc['driver']} × {doc['scenario']}: the replay {res.crash} again, as "
                   f"recorded ({doc['crash']}); schedule {doc['schedule']}")
    sys.exit(1)

