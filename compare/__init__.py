"""flowrace's comparison layer: scenarios, identical interleavings, the matrix, the CLI.

    >>> from compare import Matrix
    >>> m = Matrix(["original"], ["workaround"], ["lingering-rst"], sweep=0)
    >>> str(m.cell("original", "workaround", "lingering-rst").verdict)
    'masked'
"""

from .interleavings import Interleavings, count_interleavings, interleavings_for
from .matrix import Cell, Matrix
from .scenarios import get_scenario, register_scenario, scenario_names
from .verdict import Verdict

__all__ = [
    "Cell", "Interleavings", "Matrix", "Verdict", "count_interleavings", "get_scenario",
    "interleavings_for", "register_scenario", "scenario_names",
]
