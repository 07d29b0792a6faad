"""The exploration strategies by name: one module each (`dfs`, `dfs-stateful`, `random`,
`pct`, `replay`) behind the protocol in `_protocol`. A new strategy is a module here and a name
below; `explore(strategy=...)`, --jobs workers and cluster tasks all make theirs with
`make_strategy`."""

from __future__ import annotations

from ..errors import FlowraceError

STRATEGY_NAMES = ("dfs", "dfs-stateful", "random", "pct", "replay")
EXHAUSTIVE = ("dfs", "dfs-stateful")  # a complete run is a proof


def make_strategy(name: str, **kwargs):
    if name == "dfs":
        from .dfs import DfsStrategy

        return DfsStrategy(**kwargs)
    if name == "dfs-stateful":
        from .stateful import StatefulStrategy

        return StatefulStrategy(**kwargs)
    if name == "random":
        from .random import RandomStrategy

        return RandomStrategy(**kwargs)
    if name == "pct":
        from .pct import PctStrategy

        return PctStrategy(**kwargs)
    if name == "replay":
        from .replay import ReplayStrategy

        return ReplayStrategy(**kwargs)
    raise FlowraceError(f"unknown strategy {name!r}; strategies: {', '.join(STRATEGY_NAMES)}")
