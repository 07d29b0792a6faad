"""Errors a user can cause. The CLI turns each into one line and exit code 2."""

from __future__ import annotations

from pathlib import Path


class FlowraceError(Exception):
    """Bad input from the user: an unknown name, a malformed schedule or trace, ..."""


class ScheduleError(FlowraceError):
    """A schedule or trace cannot be followed by this variant and scenario."""


class ProposalBuildError(FlowraceError):
    """A driver proposal did not compile; `output` holds the compiler's messages."""

    def __init__(self, source: Path, output: str):
        self.source = source
        self.output = output
        super().__init__(f"{source} does not compile:\n{output}")


class BadValue(FlowraceError, ValueError):
    """An argument out of its range (a ValueError that names the argument)."""


class BadType(FlowraceError, TypeError):
    """An argument of the wrong type (a TypeError that names the argument)."""
