"""validate on a proposal the reduction once proved correct (issue 10): it FAILs, and
its dfs on late-packets never again ends 'complete' without the use after free, for
every retry limit. (Whether dfs gets there within its share of the budget depends on
the machine: on a busy one it may run out first — that must show, never a proof.)"""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from compare.validate import validate

PROPOSAL = Path(__file__).resolve().parents[1] / "explore" / "proposals" / "retry_under_lock.c"
LIMITS = [1, 2, 3, 4, 8]


@pytest.fixture(scope="module")
def validations(tmp_path_factory):
    base = tmp_path_factory.mktemp("reduction")
    text = PROPOSAL.read_text()

    def one(limit):
        path = base / f"retry_under_lock_{limit}.c"
        path.write_text(text.replace("#define RETRY_LIMIT 2", f"#define RETRY_LIMIT {limit}"))
        return limit, validate(path, base / f"out{limit}", time_budget=40.0, connections=2000,
                               interleavings=60, sweep=40)

    with ThreadPoolExecutor(2) as pool:
        return dict(pool.map(one, LIMITS))


@pytest.mark.parametrize("limit", LIMITS)
def test_validate_fails_the_bounded_retry_that_frees_on_drain(validations, limit):
    v = validations[limit]
    assert v.verdict == "FAIL", [(r.phase, r.kind, r.scenario) for r in v.reasons]
    (phase,) = [p for p in v.phases if p.name == "dfs late-packets"]
    if phase.data.get("complete"):
        assert "use_after_free" in phase.data["kinds"], phase.summary
        assert any(r.phase == "dfs" and r.kind == "use_after_free"
                   and r.scenario == "late-packets" for r in v.reasons)
