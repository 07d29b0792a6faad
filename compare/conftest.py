"""The comparison suite's pytest plugin (compare/plugin.py): options, parametrized
fixtures over driver variants, agent variants and scenarios, and the summary matrix."""

from compare.plugin import (  # noqa: F401
    cell,
    compare_matrix,
    pytest_addoption,
    pytest_collection_modifyitems,
    pytest_configure,
    pytest_generate_tests,
    pytest_terminal_summary,
)
