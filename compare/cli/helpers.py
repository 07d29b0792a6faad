"""What the subcommands share: bad input as one line and exit 2, the option types
(time budgets, seeds, --jobs), JSON output. Subcommands import from here, never from the
entry point (`entry`), which imports them."""

from __future__ import annotations

import functools
import json
import os
import sys

import click

from kernel_model import FlowraceError, ProposalBuildError


def fail(message: str) -> None:
    """Bad input: one line on stderr, exit 2."""
    click.echo(f"flowrace: error: {one_line(message)}", err=True)
    sys.exit(2)


def one_line(message: str) -> str:
    """A message on one line (at most 2000 characters)."""
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
            fail(str(exc))
        except OSError as exc:  # a file the user named cannot be read or written
            if exc.filename is None:
                raise
            fail(f"{exc.filename}: {exc.strerror or exc}")

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



def emit_json(doc) -> None:
    """--json: one JSON object on stdout."""
    click.echo(json.dumps(doc, indent=2))

