"""The `flowrace` command line: the group every subcommand registers on.

Exit codes: 0 nothing found, 1 a check fired (a finding), 2 bad input (one line on
stderr, never a traceback).

One module per subcommand (`run`, `replay`, `stress`, `sanitize`, `explore`, `compare`,
`validate`, `list_`); what they share is in `helpers`. They never import this module:
it imports them.
"""

from __future__ import annotations

import os
import sys

import click

from . import compare, explore, list_, replay, run, sanitize, stress, validate
from .helpers import one_line

#: exit code of flowrace's own failure (an exception no check foresaw): sysexits' EX_SOFTWARE
EXIT_INTERNAL = 70


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
            click.echo(f"flowrace: error: {one_line(exc.format_message())}", err=True)
            sys.exit(2)
        except click.Abort:
            sys.exit(130)
        except Exception as exc:
            if os.environ.get("FLOWRACE_DEBUG"):
                raise
            click.echo(f"flowrace: internal error: {type(exc).__name__}: "
                       f"{one_line(str(exc))[:300]} (please report it; FLOWRACE_DEBUG=1 "
                       "shows the traceback)", err=True)
            sys.exit(EXIT_INTERNAL)
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(cls=_Flowrace, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="flowrace")
def main() -> None:
    """flowrace: explore, replay and stress the flow-lifecycle race of a Windows network
    driver, and compare driver fixes with the agent-side workaround."""


for _command in (list_.list_cmd, run.run_cmd, replay.replay_cmd, stress.stress_cmd,
                 sanitize.sanitize_cmd, explore.explore_cmd, compare.compare_cmd,
                 validate.validate_cmd):
    main.add_command(_command)
