"""The `flowrace` command line.

Exit codes: 0 nothing found, 1 a check fired (a finding), 2 bad input (one line on
stderr, never a traceback).
"""

from __future__ import annotations

import functools
import json
import os
import sys

import click
from rich.console import Console

from kernel_model import (
    FlowraceError,
    ProposalBuildError,
    builtin_names,
    load_trace,
    load_variant,
    replay,
    run,
    save_trace,
    stress,
)
from kernel_model.scenarios import get_scenario, scenario_names
from kernel_model.timeline import print_outcome

#: exit code of flowrace's own failure (an exception no check foresaw): sysexits' EX_SOFTWARE
EXIT_INTERNAL = 70


def _fail(message: str) -> None:
    click.echo(f"flowrace: error: {_one_line(message)}", err=True)
    sys.exit(2)


def _one_line(message: str) -> str:
    return " ".join(str(message).split())[:2000]


def user_errors(fn):
    """Turn a user's mistake into one line on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ProposalBuildError as exc:
            click.echo(f"flowrace: error: {exc.source} does not compile", err=True)
            click.echo(exc.output, err=True)
            sys.exit(2)
        except FlowraceError as exc:
            _fail(str(exc))
        except OSError as exc:  # a file the user named cannot be read or written
            if exc.filename is None:
                raise
            _fail(f"{exc.filename}: {exc.strerror or exc}")

    return wrapper


class Seconds(click.ParamType):
    """A time budget: a finite, positive number of seconds (at most a million)."""

    name = "SECONDS"

    def __init__(self, minimum: float = 0.0):
        self.minimum = minimum

    def convert(self, value, param, ctx):
        from kernel_model._checks import check_budget

        try:
            x = check_budget(float(value), param.opts[-1] if param else "seconds")
        except ValueError as exc:
            self.fail(str(exc) if "must" in str(exc) else f"{value!r} is not a number", param,
                      ctx)
        if x < self.minimum:
            self.fail(f"at least {self.minimum:g} seconds, not {x:g}", param, ctx)
        return x


#: a seed: 0 .. 2**64-1, never taken modulo anything
SEED = click.IntRange(0, (1 << 64) - 1)


def jobs_option(value: int) -> int:
    """--jobs: more processes than CPUs only slow a search down: capped, with a message."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    limit = max(cpus, 1)
    if value > limit:
        click.echo(f"flowrace: --jobs {value} capped at {limit} (the CPUs this process may "
                   "use)", err=True)
        return limit
    return value


class _Flowrace(click.Group):
    """Bad usage of any command is one line on stderr and exit 2 (no usage block); an
    exception nothing foresaw is one line and exit 70 (FLOWRACE_DEBUG=1: the traceback)."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True,
             **extra):
        if args is None:  # the real command line (not a test's CliRunner)
            # Ctrl-C (exit 130) and SIGTERM (exit 143) end flowrace at once, even inside
            # C code, and kill every child process it started
            from kernel_model._children import exit_on_interrupt

            exit_on_interrupt()
        args = list(sys.argv[1:] if args is None else args)
        if not args:
            args = ["--help"]
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as exc:
            click.echo(f"flowrace: error: {_one_line(exc.format_message())}", err=True)
            sys.exit(2)
        except click.Abort:
            sys.exit(130)
        except Exception as exc:
            if os.environ.get("FLOWRACE_DEBUG"):
                raise
            click.echo(f"flowrace: internal error: {type(exc).__name__}: "
                       f"{_one_line(str(exc))[:300]} (please report it; FLOWRACE_DEBUG=1 "
                       "shows the traceback)", err=True)
            sys.exit(EXIT_INTERNAL)
        sys.exit(rv if isinstance(rv, int) else 0)


def _emit_json(doc) -> None:
    click.echo(json.dumps(doc, indent=2))


@click.group(cls=_Flowrace, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="flowrace")
def main() -> None:
    """flowrace: explore, replay and stress the flow-lifecycle race of a Windows network
    driver, and compare driver fixes with the agent-side workaround."""


@main.command("list")
def list_cmd() -> None:
    """List the built-in driver variants and scenarios."""
    click.echo("drivers:   " + " ".join(builtin_names()))
    click.echo("scenarios: " + " ".join(scenario_names()))


@main.command("run")
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
        _fail("give exactly one of --schedule SPEC or --seed N")
    scenario = get_scenario(scenario_name)
    if save_to:
        _writable_file(save_to)
    variant = load_variant(driver)
    outcome = run(variant, scenario, schedule=schedule, seed=seed)
    if save_to:
        save_trace(outcome, save_to)
    if as_json:
        _emit_json(outcome.to_json())
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


@main.command("replay")
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
        _emit_json(outcome.to_json())
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

    from ..validate import run_child

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


@main.command("stress")
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
        _emit_json(result.to_json())
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


@main.command("sanitize")
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


# the subcommands that live in modules of their own register themselves on `main`
from . import compare, explore, validate  # noqa: E402, F401, I001

if __name__ == "__main__":  # pragma: no cover
    # `python -m compare.cli` runs this file as __main__; the subcommands registered
    # themselves on the importable module's group
    from compare.cli import main as _main

    _main()
