"""`flowrace explore`: systematic exploration of one driver variant x scenario.

Exit codes: 0 no violation, 1 a violation (its minimised counterexample written to
--out, replayable with `flowrace replay`), 2 bad input (one line on stderr).
"""

from __future__ import annotations

import json
import shlex
import sys

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from kernel_model.explore import explore
from kernel_model.timeline import print_outcome

from .helpers import SEED, Seconds, jobs_option, user_errors


class _OneLineUsage(click.Command):
    """Bad options are bad input too: one line on stderr, exit 2 (no usage block)."""

    def parse_args(self, ctx, args):
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            click.echo(f"flowrace: error: {exc.format_message()}", err=True)
            sys.exit(2)


def _writable_dir(path: str) -> None:
    """Fail before the search, not after it, when --out cannot take its files (a probe
    directory is made and removed in the nearest existing ancestor)."""
    import tempfile
    from pathlib import Path

    from kernel_model import FlowraceError

    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    if not p.is_dir():
        raise FlowraceError(f"cannot write to --out {path}: {p} is not a directory")
    try:
        tempfile.TemporaryDirectory(dir=p, prefix=".flowrace-probe-").cleanup()
    except OSError as exc:
        raise FlowraceError(f"cannot write to --out {path}: {exc.strerror or exc}") from None


def _progress_bar(strategy: str, label: str, max_executions: int | None):
    console = Console(stderr=True)
    columns = [SpinnerColumn(), TextColumn(f"[bold]{label}"), BarColumn(bar_width=16),
               TextColumn("{task.fields[line]}"), TimeElapsedColumn()]
    bar = Progress(*columns, console=console, transient=True)
    exhaustive = strategy in ("dfs", "dfs-stateful")
    total = 1.0 if exhaustive else (max_executions or None)
    task = bar.add_task(label, total=total, line="")

    def update(p) -> None:
        rate = p.executions / max(bar.tasks[0].elapsed or 1e-9, 1e-9)
        found = len(p.by_kind)
        line = f"{p.executions:,} runs {rate:,.0f}/s  found {found}"
        c = p.details.get("cluster")
        if c and "in_flight" in c:
            line += (f"  parts {c['done']:,} done, {c['in_flight']} in flight, "
                     f"{c['workers']} workers")
        if strategy == "dfs-stateful":
            line += f"  states {p.details.get('states', 0):,}"
        if exhaustive:
            cov = 1.0 if p.complete else p.details.get("coverage", 0.0)
            line += f"  cover ≈{100 * cov:.0f}%"
            bar.update(task, completed=cov, line=line)
        else:
            bar.update(task, completed=p.executions, line=line)

    return bar, update


def _fmt_count(x) -> str:
    if x is None:
        return "?"
    return f"{x:,.0f}" if x < 1e12 else f"{x:.3g}"


@click.command("explore", cls=_OneLineUsage)
@click.option("--driver", required=True, help="built-in variant name, or a path to a .c proposal")
@click.option("--scenario", "scenario_name", required=True, help="scenario name (flowrace list)")
@click.option("--strategy", type=click.Choice(["dfs", "dfs-stateful", "random", "pct"]),
              default="dfs", show_default=True,
              help="dfs: exhaustive, partial-order reduced; dfs-stateful: exhaustive, a "
                   "visited set of states (and persistent-set reduction); random, pct: "
                   "sampling")
@click.option("--max-executions", type=click.IntRange(1, 10**12),
              help="stop after this many executions")
@click.option("--time-budget", type=Seconds(), help="stop after this many seconds")
@click.option("--preemption-bound", type=click.IntRange(0, 10_000),
              help="dfs: at most this many preemptions")
@click.option("--depth", type=click.IntRange(1, 1000), default=2, show_default=True,
              help="pct: bug depth d")
@click.option("--seed", type=SEED, default=0, show_default=True, help="random/pct: first seed")
@click.option("--jobs", type=click.IntRange(1, 4096), default=1, show_default=True,
              help="processes (dfs: schedule-prefix shards; random/pct: seed ranges; "
                   "dfs-stateful runs in one, its visited set is not shared); at most the "
                   "CPUs available")
@click.option("--cluster", metavar="ADDRESS", envvar="FLOWRACE_CLUSTER",
              help="run the parts --jobs would run on a Dask cluster, split for its worker "
                   "threads (tcp://HOST:PORT; default $FLOWRACE_CLUSTER)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="flowrace-out",
              show_default=True, help="where counterexamples (and the state graph) go")
@click.option("--state-graph", is_flag=True,
              help="record the explored states; write GraphML and DOT to --out")
@click.option("--no-minimise", is_flag=True, help="keep counterexamples as found")
@click.option("--no-pictures", is_flag=True, help="no pictures")
@click.option("--png", is_flag=True, help="a PNG of each counterexample too (the SVG is "
              "always written; PNG needs matplotlib, a second of start-up)")
@click.option("--stop-at-first", is_flag=True, help="stop at the first violation")
@click.option("--no-reduction", is_flag=True,
              help="dfs, dfs-stateful: no partial-order reduction (a cross-check of the "
                   "reduced search: every interleaving, or every reachable state)")
@user_errors
def explore_cmd(driver, scenario_name, strategy, max_executions, time_budget, preemption_bound,
                depth, seed, jobs, cluster, as_json, out_dir, state_graph, no_minimise, no_pictures,
                png, stop_at_first, no_reduction):
    """Explore the interleavings of a scenario on a driver variant. Exit 0 when no
    violation was found (for dfs: in a complete search, a proof), 1 when one was (its
    minimised counterexample is written to --out), 3 when a dfs found nothing but did not
    complete (INCONCLUSIVE), 2 on bad input."""
    from kernel_model import load_variant
    from kernel_model.scenarios import get_scenario

    scenario = get_scenario(scenario_name)
    jobs = jobs_option(jobs)
    _writable_dir(out_dir)
    variant = load_variant(driver)
    if cluster is not None:
        from kernel_model.explore._cluster import cluster_address, connect

        cluster = cluster_address(cluster)
        connect(cluster)  # an unreachable scheduler: one line, before any work
    show_bar = not as_json and sys.stderr.isatty()
    bar, update = (None, None)
    if show_bar:
        bar, update = _progress_bar(strategy, strategy, max_executions)
        bar.start()
    try:
        res = explore(variant, scenario, strategy, max_executions=max_executions,
                      time_budget=time_budget, preemption_bound=preemption_bound, depth=depth,
                      seed=seed, jobs=jobs, state_graph=state_graph, minimise=not no_minimise,
                      out=None, stop_at_first=stop_at_first, progress=update,
                      cluster=cluster, reduction=not no_reduction)
    finally:
        if bar is not None:
            bar.stop()
    if res.counterexamples or res.graph is not None:
        from kernel_model.explore import write_outputs

        write_outputs(res, __import__("pathlib").Path(out_dir), pictures=not no_pictures,
                      formats=("svg", "png") if png else ("svg",))
    if as_json:
        click.echo(json.dumps(res.to_json(), indent=2))
    else:
        # piped output is read in a file or a log: do not squeeze the timeline into 80 columns
        _print_human(res, Console() if sys.stdout.isatty() else Console(width=160))
    if res.counterexamples or res.details.get("crashed_parts"):
        sys.exit(1)
    unfinished = strategy in ("dfs", "dfs-stateful") and not res.complete
    if unfinished and not as_json:
        click.echo(f"INCONCLUSIVE: the {strategy} did not complete ({res.executions:,} "
                   "executions); nothing found so far. A larger --time-budget / "
                   "--max-executions (or --jobs) finishes it.")
    sys.exit(3 if unfinished else 0)


def _print_human(res, console: Console) -> None:
    d = res.details
    head = (f"[bold]{res.strategy}[/] {res.driver} × {res.scenario}: {res.executions:,} "
            f"executions in {res.seconds:.2f} s ({res.rate:,.0f}/s)")
    console.print(head)
    if res.strategy == "dfs":
        bound = res.parameters.get("preemption_bound")
        if res.complete:
            cover = "[green]complete[/]: every interleaving covered"
        elif d.get("stopped") or not d.get("covered", True) and bound is not None:
            cover = f"[yellow]not complete[/] (preemption bound {bound})" if bound is not None \
                else "[yellow]stopped at the first violation[/]"
        else:
            cover = f"[yellow]not complete[/] (coverage ≈ {100 * d.get('coverage', 0):.1f}%)"
        console.print(f"  {cover}; {d.get('explored', 0):,} executions stand for "
                      f"{_fmt_count(d.get('interleavings'))} interleavings without reduction "
                      f"({d.get('sleep_blocked', 0):,} cut as redundant)")
    if res.strategy == "dfs-stateful":
        if res.complete:
            cover = ("[green]complete[/]: every execution covered, up to the order of "
                     "independent steps" if d.get("reduced") else
                     "[green]complete[/]: every reachable state explored")
        elif d.get("stopped"):
            cover = "[yellow]stopped at the first violation[/]"
        elif d.get("step_bound_hit"):
            cover = "[yellow]not complete[/] (executions reached the step bound)"
        else:
            cover = f"[yellow]not complete[/] (coverage ≈ {100 * d.get('coverage', 0):.1f}%)"
        console.print(f"  {cover}; {d.get('states', 0):,} distinct states (visited set "
                      f"{d.get('visited_bytes', 0) / 2**20:.0f} MiB), {d.get('revisits', 0):,} "
                      "executions cut at a state seen before")
    if res.strategy in ("random", "pct"):
        seed = res.parameters["seed"]
        console.print(f"  seed {seed} (execution i runs seed {seed} + i; --seed changes it)")
    if res.strategy == "pct":
        p = res.parameters
        console.print(f"  depth d={p['depth']}, n={p['actors']} actors, k={p['steps']} steps: "
                      f"each execution finds a depth-{p['depth']} bug with probability ≥ "
                      f"{p['pct_guarantee']:.2e}")
    c = res.parameters.get("cluster")
    if c:
        console.print(f"  cluster {c['address']}: {c['parts']:,} parts on {c['workers']} workers")
    for crash in d.get("crashed_parts", []):
        console.print(f"[bold red]✗ crash[/]: the proposal {crash['crash']} twice in "
                      f"{crash['part']} (those executions are not covered)")
    if not res.counterexamples:
        if d.get("crashed_parts"):
            return
        console.print("[bold green]✓ no violation found[/]")
        if res.graph is not None:
            _print_graph(res, console)
        return
    for c in res.counterexamples:
        console.print()
        console.print(f"[bold red]✗ {c.kind}[/] in {res.by_kind.get(c.kind, 0):,} executions; "
                      f"minimised from {c.found_preemptions} preemption(s) / {c.found_steps} "
                      f"steps to {c.preemptions} / {c.steps}"
                      + (f" ({c.minimality})" if c.minimality else "") + ":")
        print_outcome(c.outcome, console, notes=c.notes())
        for what in ("trace", "svg", "png"):
            if what in c.files:
                console.print(f"  {what}: {c.files[what]}")
        if "trace" in c.files:
            console.print(f"  replay: flowrace replay {shlex.quote(str(c.files['trace']))}")
    if res.graph is not None:
        _print_graph(res, console)


def _print_graph(res, console: Console) -> None:
    s = res.graph.summary()
    console.print(f"  state graph: {s['states']:,} states, {s['edges']:,} edges, "
                  f"{s['terminal_states']:,} terminal ({s['terminal_states_with_violations']:,} "
                  "with violations)" + (" [truncated]" if s["truncated"] else ""))
