"""flowrace's comparison layer: scenarios, identical interleavings, the matrix, the CLI.

    >>> from compare import Matrix
    >>> m = Matrix(["original"], ["workaround"], ["lingering-rst"], sweep=0)
    >>> str(m.cell("original", "workaround", "lingering-rst").verdict)
    'masked'
"""

from kernel_model.scenarios import (
    Interleavings,
    count_interleavings,
    get_scenario,
    interleavings_for,
    register_scenario,
    scenario_names,
)

from .matrix import Cell, Matrix
from .verdict import Verdict

__all__ = [
    "Cell", "Interleavings", "Matrix", "Verdict", "count_interleavings", "get_scenario",
    "interleavings_for", "register_scenario", "scenario_names",
]
