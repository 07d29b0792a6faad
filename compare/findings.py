"""What the comparison matrix found against each driver, said once for every front door.

`flowrace compare`, `pytest compare/` (with or without `--fix`) and `flowrace validate`'s
comparison phase all read a driver's cells through `driver_findings`: every finding kind
the kernel's checks reported on any execution (whatever the kind: a check added later
shows up without a change here), then the backend figures the driver made wrong, then a
kernel bug the agent masked without a check firing. `driver_summary` is the one line per
driver that the matrix prints first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .matrix import Cell
from .verdict import LEAK, Verdict, is_unsafe

#: the verdicts `--fail-on` takes; ``wrong`` counts only when the driver is to blame
FAIL_ON_CHOICES = ("unsafe", "wrong", "masked")
DEFAULT_FAIL_ON = ("unsafe", "wrong")


@dataclass(frozen=True)
class Finding:
    """One kind of thing wrong with a driver on one scenario."""

    kind: str  # a check's kind ("leak", "use_after_free", ...), or "wrong" / "masked"
    scenario: str
    agents: tuple[str, ...]  # the agents whose cells show it
    executions: int  # executions where it fired (0: a verdict on the figures)
    detail: str
    trace: str | None = None  # a replayable trace of an execution that shows it

    @property
    def unsafe(self) -> bool:
        return self.kind not in ("wrong", "masked") and is_unsafe(self.kind)


def _by_scenario(cells: Iterable[Cell], driver: str) -> dict[str, list[Cell]]:
    out: dict[str, list[Cell]] = {}
    for c in cells:
        if c.driver == driver:
            out.setdefault(c.scenario, []).append(c)
    return out


def driver_findings(cells: Iterable[Cell], driver: str) -> list[Finding]:
    """Every finding against `driver` in `cells`, scenario by scenario: each check kind
    that fired (unsafe kinds first), the figures it made wrong, a masked kernel bug."""
    out: list[Finding] = []
    for scenario, row in _by_scenario(cells, driver).items():
        kinds: dict[str, int] = {}
        for c in row:
            for kind, n in c.findings.items():
                kinds[kind] = max(kinds.get(kind, 0), n)
        for kind in sorted(kinds, key=lambda k: (not is_unsafe(k), k)):
            shows = [c for c in row if kind in c.findings]
            exact = [c for c in shows if c.violation.startswith(f"{kind}:")]
            best = (exact or shows)[0]
            detail = (best.violation.removeprefix(f"{kind}:").strip() if exact
                      else best.reason)
            out.append(Finding(kind, scenario, tuple(c.agent for c in shows), kinds[kind],
                               detail, best.trace))
        wrong = [c for c in row if c.verdict is Verdict.WRONG and c.cause == "driver"]
        if wrong:
            out.append(Finding("wrong", scenario, tuple(c.agent for c in wrong), 0,
                               wrong[0].reason, wrong[0].trace))
        masked = [c for c in row if c.verdict is Verdict.MASKED]
        if masked and LEAK not in kinds:
            out.append(Finding("masked", scenario, tuple(c.agent for c in masked), 0,
                               masked[0].reason, masked[0].trace))
    return out


def failing_cells(cells: Iterable[Cell], fail_on: Sequence[str]) -> list[Cell]:
    """The cells whose verdict is one of `fail_on` (``wrong`` only when the driver is to
    blame: a ``wrong (agent)`` cell is the agent's fault with any driver)."""
    want = set(fail_on)
    bad = []
    for c in cells:
        if (c.verdict is Verdict.UNSAFE and "unsafe" in want
                or c.verdict is Verdict.WRONG and c.cause == "driver" and "wrong" in want
                or c.verdict is Verdict.MASKED and "masked" in want):
            bad.append(c)
    return bad


def parse_fail_on(text: str) -> tuple[str, ...]:
    """`--fail-on unsafe,wrong,masked` (or `none`) as a tuple; ValueError on a bad word."""
    words = [w.strip() for w in text.split(",") if w.strip()]
    if words == ["none"]:
        return ()
    bad = [w for w in words if w not in FAIL_ON_CHOICES]
    if bad or not words:
        raise ValueError(f"--fail-on takes a comma-separated list of "
                         f"{', '.join(FAIL_ON_CHOICES)} (or none), not {text!r}")
    return tuple(dict.fromkeys(words))


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} %"


def driver_summary(cells: Sequence[Cell], driver: str) -> str:
    """One line: the driver's worst verdict with each agent across the scenarios, its
    worst backend rate, and its first finding."""
    row = [c for c in cells if c.driver == driver]
    if not row:
        return f"{driver}: no cells"
    by_agent: dict[str, Cell] = {}
    for c in row:
        have = by_agent.get(c.agent)
        if have is None or (c.verdict, c.cause == "driver") > (have.verdict,
                                                                  have.cause == "driver"):
            by_agent[c.agent] = c
    labels: dict[str, list[str]] = {}
    for agent, c in by_agent.items():
        labels.setdefault(c.label, []).append(agent)
    order = sorted(labels, key=lambda lb: -max(by_agent[a].verdict for a in labels[lb]))
    scenarios = len({c.scenario for c in row})
    parts = [f"{lb} with {', '.join(labels[lb])}" for lb in order]
    if len(labels) == 1:
        parts = [f"{order[0]} with every agent"]
    rates = [c.worst_rate for c in row if c.worst_rate is not None]
    line = (f"{driver}: {'; '.join(parts)} ({scenarios} scenario{'s' * (scenarios > 1)}); "
            f"worst rate {_rate(max(rates, default=None))}")
    found = driver_findings(row, driver)
    if found:
        line += f"; first finding: {found[0].kind} on {found[0].scenario}"
        more = len({x.kind for x in found}) - 1
        if more > 0:
            line += f" (+{more} more kind{'s' if more > 1 else ''})"
    return line


__all__ = ["DEFAULT_FAIL_ON", "FAIL_ON_CHOICES", "Finding", "driver_findings",
           "driver_summary", "failing_cells", "parse_fail_on"]
