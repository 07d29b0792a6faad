"""The pytest plugin of the comparison suite (`pytest compare/`; loaded by compare/conftest.py).

Options (registered when compare/ is collected, so `pytest tests/` is untouched):

  --fix PATH.c          add a driver-fix proposal (compiled with cffi into a cache keyed by
                        its content); repeat for several
  --agent MODULE:NAME   add an agent variant (a registered name or 'package.module:Class')
  --interleavings N     interleavings drawn from a scenario with more than 50,000
  --seed S              seed of those draws and of the step-level sweep (printed)
  --sweep N             step-level seeds per strategy (random, pct); 0: none
  --matrix-md PATH      write the summary matrix as Markdown
  --matrix-json PATH    write it as JSON
  --matrix-traces DIR   where each verdict's first bad execution is saved as a
                        `flowrace replay` trace (default: .pytest_cache/d/flowrace-traces)
  --cluster ADDRESS     compute the matrix's (driver, scenario) pairs on a Dask cluster
                        (default: $FLOWRACE_CLUSTER; none: here)

Fixtures: `driver`, `agent` and `scenario` are parametrized over every driver variant
(built-in ones, then proposals), every agent variant and every scenario; `cell` is the
judged (driver, agent, scenario); `compare_matrix` is the session's `CompareSession`.
The summary matrix is printed at the end of the session.

A user's mistake (a proposal that does not compile or does not exist, an unknown agent)
fails the tests that need it with one clear message; the rest of the session runs.
"""

from __future__ import annotations

import io
import os
import shlex
from pathlib import Path

import pytest

from kernel_model import FlowraceError, builtin_names
from kernel_model.errors import ProposalBuildError
from kernel_model.scenarios import scenario_names
from kernel_model.scenarios.interleavings import DEFAULT_SAMPLE, ENUMERATE_LIMIT

from .findings import driver_findings
from .matrix import DEFAULT_SWEEP, Cell, DriverSpec, Matrix, check_agent, default_agents
from .report import details, markdown, print_matrix, write_json

_KEY = pytest.StashKey["CompareSession"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("flowrace", "flowrace comparison suite (compare/)")
    group.addoption("--fix", action="append", default=[], metavar="PATH.c",
                    help="add a driver-fix proposal (a C file) to the matrix; repeatable")
    group.addoption("--agent", action="append", default=[], metavar="MODULE:NAME",
                    help="add an agent variant ('package.module:Class' or a registered name)")
    group.addoption("--interleavings", type=int, default=DEFAULT_SAMPLE, metavar="N",
                    help=f"interleavings drawn from a scenario with more than "
                         f"{ENUMERATE_LIMIT:,} (default {DEFAULT_SAMPLE})")
    group.addoption("--seed", type=int, default=1, metavar="S",
                    help="seed of the sampled interleavings and of the step-level sweep")
    group.addoption("--sweep", type=int, default=DEFAULT_SWEEP, metavar="N",
                    help=f"step-level seeds per strategy (random, pct) per driver and "
                         f"scenario (default {DEFAULT_SWEEP}; 0: none)")
    group.addoption("--matrix-md", metavar="PATH", help="write the summary matrix as Markdown")
    group.addoption("--matrix-json", metavar="PATH", help="write the summary matrix as JSON")
    group.addoption("--matrix-traces", metavar="DIR",
                    help="save each verdict's first bad execution here as a replay trace")
    group.addoption("--cluster", metavar="ADDRESS", default=os.environ.get("FLOWRACE_CLUSTER"),
                    help="compute the matrix on a Dask cluster (tcp://HOST:PORT; default "
                         "$FLOWRACE_CLUSTER)")


class CompareSession:
    """The session's matrix, its inputs, and the user errors met along the way."""

    def __init__(self, config: pytest.Config):
        opt = config.option
        if opt.interleavings < 1:
            raise pytest.UsageError("--interleavings must be at least 1")
        if opt.sweep < 0:
            raise pytest.UsageError("--sweep cannot be negative")
        self.errors: dict[str, str] = {}
        drivers = [DriverSpec(n, n) for n in builtin_names()]
        drivers += [DriverSpec.of(path) for path in opt.fix]
        agents = list(default_agents())
        for spec in opt.agent:
            if spec in agents:
                continue
            agents.append(spec)
            try:
                check_agent(spec)
            except FlowraceError as exc:
                self.errors[spec] = f"--agent {spec}: {exc}"
        valid_agents = [a for a in agents if a not in self.errors]
        self.matrix = Matrix(drivers, valid_agents, scenario_names(),
                             interleavings=opt.interleavings, seed=opt.seed, sweep=opt.sweep)
        for d in self.matrix.drivers:
            if d.spec in opt.fix and not Path(d.spec).is_file():
                self.errors[d.name] = f"--fix {d.spec}: no such driver proposal file"
            elif d.spec in opt.fix and not d.spec.endswith(".c"):
                self.errors[d.name] = f"--fix takes a C file (PATH.c), not {d.spec!r}"
        self.driver_names = [d.name for d in self.matrix.drivers]
        self.agent_names = agents
        self.scenario_names = scenario_names()
        self.traces = Path(opt.matrix_traces) if opt.matrix_traces else _default_traces(config)
        self.config = config
        self.cluster: str | None = None
        self.wanted: set[tuple[str, str]] | None = None  # the pairs the selected tests use
        if opt.cluster is not None:
            from kernel_model.explore._cluster import cluster_address

            try:
                self.cluster = cluster_address(opt.cluster)
            except FlowraceError as exc:
                raise pytest.UsageError(str(exc)) from None

    def _on_cluster(self) -> None:
        """The first cell asked for: every pair of every driver that compiles, on the
        cluster, at once (the rest of the session reads the cells)."""
        address, self.cluster = self.cluster, None
        ok = []
        for d in self.matrix.drivers:
            if d.name in self.errors:
                continue
            try:
                self.matrix.variant(d)
                ok.append(d)
            except ProposalBuildError as exc:
                self.errors[d.name] = f"{exc.source} does not compile:\n{exc.output}"
            except FlowraceError as exc:
                self.errors[d.name] = str(exc)
        from ._cluster import run_matrix

        names = {d.name for d in ok}
        pairs = {p for p in self.wanted if p[0] in names} if self.wanted is not None else {
            (d, s) for d in names for s in self.scenario_names}
        try:
            run_matrix(self.matrix, address, pairs=pairs)
        except FlowraceError as exc:  # a pair crashed twice: its driver's tests fail
            for d, s in pairs:
                if (d, s) not in self.matrix._runs:
                    self.errors.setdefault(d, str(exc))

    def fail_for_user_error(self, *names: str) -> None:
        for name in names:
            if name in self.errors:
                pytest.fail(self.errors[name], pytrace=False)

    def cell(self, driver: str, agent: str, scenario: str) -> Cell:
        """The judged cell, its first bad execution saved as a replay trace; a user error
        fails the calling test with one message."""
        self.fail_for_user_error(driver, agent)
        if self.cluster is not None:
            self._on_cluster()
            self.fail_for_user_error(driver)
        try:
            cell = self.matrix.cell(driver, agent, scenario)
        except ProposalBuildError as exc:
            self.errors[driver] = f"{exc.source} does not compile:\n{exc.output}"
        except FlowraceError as exc:
            self.errors[driver] = str(exc)
        self.fail_for_user_error(driver)  # outside the except: no chained traceback
        return self.matrix.replayable(cell, self.traces)


def _default_traces(config: pytest.Config) -> Path:
    cache = getattr(config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir("flowrace-traces"))
    return Path(os.environ.get("TMPDIR", "/tmp")) / "flowrace-traces"


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config.option, "sweep"):
        return  # the options were not registered: compare/ is not part of this session
    config.stash[_KEY] = CompareSession(config)


@pytest.hookimpl(trylast=True)  # after -k and -m deselected theirs
def pytest_collection_modifyitems(session, config: pytest.Config, items) -> None:
    cs = config.stash.get(_KEY, None)
    if cs is None or cs.cluster is None:
        return
    wanted = set()
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "driver" in params and "scenario" in params:
            wanted.add((params["driver"], params["scenario"]))
    cs.wanted = wanted


def session_of(config: pytest.Config) -> CompareSession:
    return config.stash[_KEY]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    session = metafunc.config.stash.get(_KEY, None)
    if session is None:
        return
    for name, values in (("driver", session.driver_names), ("agent", session.agent_names),
                         ("scenario", session.scenario_names)):
        if name in metafunc.fixturenames and not _parametrized(metafunc, name):
            metafunc.parametrize(name, values, ids=[str(v) for v in values])


def _parametrized(metafunc: pytest.Metafunc, name: str) -> bool:
    return any(name in m.args[0] if isinstance(m.args[0], (list, tuple)) else
               name in str(m.args[0]).replace(" ", "").split(",")
               for m in metafunc.definition.iter_markers("parametrize"))


@pytest.fixture(scope="session")
def compare_matrix(pytestconfig: pytest.Config) -> CompareSession:
    return session_of(pytestconfig)


@pytest.fixture
def cell(compare_matrix: CompareSession, driver: str, agent: str, scenario: str) -> Cell:
    return compare_matrix.cell(driver, agent, scenario)


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    session = config.stash.get(_KEY, None)
    if session is None:
        return
    cells = session.matrix.cells()
    tr = terminalreporter
    if session.errors:
        tr.write_sep("=", "flowrace: input errors")
        for name, message in session.errors.items():
            tr.write_line(f"{name}: " + " ".join(message.splitlines()[:2]))
    if not cells:
        return
    from rich.console import Console

    m = session.matrix
    tr.write_sep("=", "flowrace comparison matrix")
    buf = io.StringIO()
    console = Console(file=buf, width=tr._tw.fullwidth,
                      force_terminal=bool(getattr(tr._tw, "hasmarkup", False)))
    print_matrix(cells, console, m, show_details=config.option.verbose > 0)
    # every finding against each proposal, kind by kind: the same classification as
    # `flowrace validate`'s comparison phase (compare.findings)
    for d in m.drivers:
        if d.spec not in config.option.fix:
            continue
        found = driver_findings(cells, d.name)
        console.print(f"{d.name}: " + ("no finding on these executions" if not found else
                                       f"{len(found)} finding(s)"), highlight=False)
        for f in found:
            console.print(f"  {f.kind} on {f.scenario} (agents {', '.join(f.agents)}): "
                          f"{f.detail}", highlight=False, markup=False)
            if f.trace:
                console.print(f"    replay: flowrace replay {shlex.quote(f.trace)}",
                              soft_wrap=True, highlight=False, markup=False)
    tr.write(buf.getvalue())
    s = m.stats
    tr.write_line(f"seed {m.seed} (--seed); {s.executions:,} executions in {s.seconds:.1f} s "
                  f"({s.per_second:,.0f} per second); {s.pipelines:,} agent runs "
                  f"(the rest came from the cache)")
    if m.cluster:
        tr.write_line(f"computed on the cluster {m.cluster['address']}: {m.cluster['parts']} "
                      f"(driver, scenario) pairs on {m.cluster['workers']} workers")
    tr.write_line(f"replay traces of each verdict's first bad execution: {session.traces}")
    if config.option.verbose <= 0 and details(cells):
        tr.write_line("each bad cell's reason and first bad execution: -v, or --matrix-md PATH")
    if config.option.matrix_md:
        path = Path(config.option.matrix_md)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(markdown(cells, m))
        tr.write_line(f"matrix written to {path}")
    if config.option.matrix_json:
        tr.write_line(f"matrix written to {write_json(config.option.matrix_json, cells, m)}")
