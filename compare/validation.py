"""What `flowrace validate` found: the verdict's parts (`Validation`), each reason with the
execution that shows it (`Reason`), each missing proof with the command that finishes it
(`Missing`), and the phases that ran (`Phase`). Written to validation.json and the
report (`compare.validate_report`)."""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass, field
from typing import Any

from .verdict import EXIT_CODES, overall


@dataclass
class Reason:
    """One thing wrong with the proposal, with the execution that shows it."""

    phase: str
    kind: str
    scenario: str | None
    detail: str
    trace: str | None = None
    files: dict[str, str] = field(default_factory=dict)  # timeline, svg, png

    @property
    def replay(self) -> str | None:
        return f"flowrace replay {shlex.quote(self.trace)}" if self.trace else None

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"replay": self.replay}


@dataclass
class Missing:
    """A proof that is not there: nothing was found, but this part did not complete."""

    phase: str
    scenario: str | None
    detail: str  # how far it got
    command: str  # what finishes it

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Phase:
    name: str
    seconds: float
    summary: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Validation:
    proposal: str
    out: str
    reasons: list[Reason] = field(default_factory=list)
    missing: list[Missing] = field(default_factory=list)
    phases: list[Phase] = field(default_factory=list)
    cells: list[dict[str, Any]] = field(default_factory=list)
    stress: dict[str, dict[str, Any]] = field(default_factory=dict)
    rates: dict[str, Any] = field(default_factory=dict)
    #: the same for every scenario: one panel each, on the interleaving where the shipped
    #: driver first went wrong (a dict like `rates` per scenario)
    rate_panels: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    report: dict[str, str] = field(default_factory=dict)
    #: phases the time budget cut short or left out: no PASS without them
    cut_short: list[str] = field(default_factory=list)
    cluster: dict[str, Any] | None = None  # where the phases ran (validate --cluster)

    @property
    def verdict(self) -> str:
        """PASS, FAIL or INCONCLUSIVE (`compare.verdict.overall`): a phase the time budget
        cut short is a missing proof too."""
        return overall(bool(self.reasons), bool(self.missing or self.cut_short))

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def to_json(self) -> dict[str, Any]:
        return {
            "proposal": self.proposal,
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "reasons": [r.to_json() for r in self.reasons],
            "missing": [m.to_json() for m in self.missing],
            "phases": [asdict(p) | {"seconds": round(p.seconds, 3)} for p in self.phases],
            "stress": self.stress,
            "seconds": round(self.seconds, 3),
            "cut_short": self.cut_short,
            "report": self.report,
            "out": self.out,
        } | ({"cluster": self.cluster} if self.cluster else {})
