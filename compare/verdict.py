"""Verdicts: one execution of a (driver, agent) pair judged against the scenario's truth.

* ``correct`` — every client's backend figures equal the ground truth, nothing lingers in
  the kernel, no check fired;
* ``masked``  — the backend figures are right but the kernel leaks (a flow lingers in
  ``openFlows``, or was never freed): the agent hides the driver's bug;
* ``wrong``   — some client's backend figures (closes or failures by errno) differ from
  the ground truth;
* ``unsafe``  — any other finding of the kernel's checks: memory safety (use after free,
  out of bounds, double free, double move, refcount underflow, freed while linked), a
  data race, a livelock, a deadlock, a lock call at the wrong IRQL, and any kind a later
  check adds (every kind but ``leak`` is unsafe: `is_unsafe`).

They are ordered: a cell's verdict is the worst over its executions. A ``wrong`` verdict
names its cause: ``driver`` when the kernel did not deliver every closed connection
exactly once to the closed-flows drain (a lingering flow, a lost or duplicated close), or
``agent`` when it did and the agent still reported something else (e.g. the agent before
the workaround re-reporting the failure of a flow it saw with its RST status before the
move, once the drain returns it with moved counters).

Each client is a consumer of its own: its stream of payloads is judged on its own against
the ground truth (two clients each see every closed connection once).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum

from kernel_model.scenario import GroundTruth

#: the one finding kind that is not unsafe by itself: a flow left in openFlows (the figures
#: decide between masked and wrong). Every other kind, known today or added by a later
#: check, is unsafe: the classification never depends on a fixed list of unsafe kinds.
LEAK = "leak"


def is_unsafe(kind: str) -> bool:
    """Whether a finding of this kind makes an execution unsafe (every kind but a leak)."""
    return kind != LEAK


#: the whole-run verdicts of `flowrace validate` (and the exit codes of every command that
#: gives one): PASS is a proof claim (every exhaustive phase completed, nothing found);
#: FAIL: something was found; INCONCLUSIVE: nothing was found, but some proof is missing
PASS, FAIL, INCONCLUSIVE = "PASS", "FAIL", "INCONCLUSIVE"
EXIT_CODES = {PASS: 0, FAIL: 1, INCONCLUSIVE: 3}


def overall(found: bool, missing: bool) -> str:
    """The whole-run verdict: FAIL when anything was found, else INCONCLUSIVE when some
    proof is missing, else PASS."""
    return FAIL if found else INCONCLUSIVE if missing else PASS


class Verdict(IntEnum):
    CORRECT = 0
    MASKED = 1
    WRONG = 2
    UNSAFE = 3

    def __str__(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Verdict:
        try:
            return cls[text.upper()]
        except KeyError:
            raise ValueError(
                f"unknown verdict {text!r}; verdicts: {', '.join(str(v) for v in cls)}"
            ) from None


@dataclass(frozen=True, slots=True)
class KernelView:
    """What the driver did in one execution, as far as the verdict goes."""

    kinds: frozenset[str]
    lingering: int  # flows left in openFlows with all their associations deleted
    open_count: int  # openFlows occupancy at the end
    delivered: bool  # each closed connection drained exactly once, nothing else drained

    @property
    def findings(self) -> frozenset[str]:
        return frozenset(k for k in self.kinds if is_unsafe(k))

    @property
    def leaks(self) -> bool:
        return LEAK in self.kinds or self.lingering > 0

    @property
    def clean(self) -> bool:
        """The driver did its whole job: no check fired and every close was delivered."""
        return not self.kinds and self.lingering == 0 and self.delivered


@dataclass(frozen=True, slots=True)
class ClientFigures:
    """What one client's backend saw over one execution."""

    client: str
    closed: int
    failures_by_errno: Mapping[int, int]
    rates: tuple[float | None, ...]  # cumulative failure rate after each of its polls

    @property
    def failures(self) -> int:
        return sum(self.failures_by_errno.values())

    @property
    def final_rate(self) -> float | None:
        return self.rates[-1] if self.rates else None

    @property
    def worst_rate(self) -> float | None:
        seen = [r for r in self.rates if r is not None]
        return max(seen) if seen else None

    def matches(self, truth: GroundTruth) -> bool:
        return self.closed == truth.closed and _errnos(self.failures_by_errno) == _errnos(
            truth.failures
        )


def _errnos(m: Mapping[int, int]) -> dict[int, int]:
    return {k: v for k, v in m.items() if v}


@dataclass(frozen=True, slots=True)
class AgentFigures:
    """Every client's backend figures and the agent's telemetry for one execution."""

    clients: tuple[ClientFigures, ...]
    windows_lingering_flows: int

    def worst_client(self, truth: GroundTruth) -> ClientFigures | None:
        """The client furthest from the truth (the first one on a tie)."""
        if not self.clients:
            return None

        def distance(c: ClientFigures) -> tuple[int, int]:
            return (abs(c.closed - truth.closed) + abs(c.failures - truth.failure_count),
                    0 if c.matches(truth) else 1)

        return max(self.clients, key=distance)

    @property
    def worst_rate(self) -> float | None:
        rates = [c.worst_rate for c in self.clients if c.worst_rate is not None]
        return max(rates) if rates else None

    def matches(self, truth: GroundTruth) -> bool:
        return all(c.matches(truth) for c in self.clients)


@dataclass(frozen=True, slots=True)
class Judgement:
    verdict: Verdict
    cause: str | None  # "driver" or "agent" for a verdict other than correct
    reason: str


def judge(kernel: KernelView, figures: AgentFigures, truth: GroundTruth) -> Judgement:
    """The verdict of one execution (see the module docstring)."""
    findings = kernel.findings
    if findings:
        return Judgement(Verdict.UNSAFE, "driver", ", ".join(sorted(findings)))
    if not figures.matches(truth):
        c = figures.worst_client(truth)
        assert c is not None
        reason = (f"{c.client}: {c.closed} closed, {dict(_errnos(c.failures_by_errno))} "
                  f"failed; truth {truth.closed} closed, {dict(_errnos(truth.failures))} "
                  "failed")
        cause = "agent" if kernel.clean else "driver"
        return Judgement(Verdict.WRONG, cause, reason)
    if kernel.leaks:
        what = (f"{kernel.lingering} flow(s) lingering in openFlows" if kernel.lingering
                else "a flow never freed")
        return Judgement(Verdict.MASKED, "driver", what)
    if not kernel.delivered:
        # the backend is right but the closed-flows drain did not return each closed
        # connection exactly once: the driver lost or duplicated a close the agent hid
        return Judgement(Verdict.MASKED, "driver", "a close lost or duplicated in the kernel")
    return Judgement(Verdict.CORRECT, None, "")
