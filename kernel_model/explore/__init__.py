"""Systematic exploration of a driver variant's race interleavings on a scenario.

    >>> from kernel_model.explore import explore
    >>> res = explore("original", "lingering-rst", strategy="dfs")
    >>> res.complete, sorted(res.kinds)
    (True, ['leak'])

Strategies (one module each, behind the protocol in `_protocol`): `dfs` (exhaustive,
partial-order reduced, optionally preemption-bounded), `random`, `pct`, `replay`.
Every violation kind found becomes a minimised counterexample (fewest preemptions,
then fewest steps) that replays exactly; `picture.render` draws it, `stategraph`
records the explored states.
"""

from ._engine import Target
from ._protocol import Found, Part, Progress, Strategy
from ._session import Counterexample, ExploreResult, explore, write_outputs
from ._strategies import STRATEGY_NAMES, make_strategy
from .minimise import Minimised, minimise
from .picture import happens_before, render
from .stategraph import StateGraph

__all__ = [
    "STRATEGY_NAMES", "Counterexample", "ExploreResult", "Found", "Minimised", "Part",
    "Progress", "StateGraph", "Strategy", "Target", "explore", "happens_before", "make_strategy",
    "minimise", "render", "write_outputs",
]
