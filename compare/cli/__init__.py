"""The `flowrace` command line: `entry.main` is the console script."""

from .entry import main

__all__ = ["main"]
