"""`python -m compare.cli ...`: the same as `flowrace ...`."""

from .entry import main

main()
