from pathlib import Path

import pytest

from kernel_model import load_variant
from kernel_model.scenarios import get_scenario

C_DIR = Path(__file__).parent / "c"


@pytest.fixture(scope="session")
def lingering():
    return get_scenario("lingering-rst")


@pytest.fixture(scope="session")
def test_variant():
    """Compile one of the purpose-built test variants in tests/kernel/c/."""

    def load(stem: str):
        return load_variant(C_DIR / f"{stem}.c")

    return load
