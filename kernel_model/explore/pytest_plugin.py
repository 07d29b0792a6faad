"""pytest plugin (entry point `pytest11`): the `explore` fixture.

    def test_assoc_count_is_correct(explore):
        res = explore("assoc-count", "lingering-rst", strategy="dfs")
        assert res.complete and not res.violations

When such a test fails, the report shows each counterexample's timeline and the
command that replays it.
"""

from __future__ import annotations

import io

import pytest

_RESULTS = pytest.StashKey[list]()


@pytest.fixture
def explore(request, tmp_path):
    """kernel_model.explore.explore, remembering what it found for the failure report.
    Counterexamples are written under the test's tmp_path when `out=True`."""
    from kernel_model.explore import explore as _explore

    results: list = []
    request.node.stash[_RESULTS] = results

    def run(driver, scenario, strategy: str = "dfs", **kwargs):
        if kwargs.get("out") is True:
            kwargs["out"] = tmp_path / f"explore{len(results)}"
        res = _explore(driver, scenario, strategy, **kwargs)
        results.append(res)
        return res

    return run


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed:
        for res in item.stash.get(_RESULTS, []):
            for c in res.counterexamples:
                report.sections.append((f"flowrace: {res.driver} x {res.scenario}: {c.kind}",
                                        _timeline(c)))
    return report


def _timeline(counterexample) -> str:
    from rich.console import Console

    from kernel_model.timeline import print_outcome

    buf = io.StringIO()
    print_outcome(counterexample.outcome, Console(file=buf, width=140, color_system=None),
                  notes=counterexample.notes())
    if "trace" in counterexample.files:
        buf.write(f"replay: flowrace replay {counterexample.files['trace']}\n")
    return buf.getvalue()
