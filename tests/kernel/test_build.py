"""The C sources build warning-free, and the proposal template is a working variant."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from kernel_model import run
from kernel_model._build import csrc_dir

ROOT = csrc_dir()
SOURCES = sorted(ROOT.glob("engine/*.c")) + sorted(ROOT.glob("core/*.c")) + sorted(
    ROOT.glob("variants/*.c")) + sorted(ROOT.glob("tools/*.c")) + [
    ROOT / "template" / "proposal.c"]
COMPILERS = [c for c in ("gcc", "clang") if shutil.which(c)]


@pytest.mark.parametrize("compiler", COMPILERS)
def test_c_sources_are_werror_clean(compiler):
    for src in SOURCES:
        proc = subprocess.run(
            # compiled for real (-c): -fsyntax-only does not run the passes that find an
            # unused static function
            [compiler, "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-c", "-o", os.devnull,
             f"-I{ROOT}", f"-I{ROOT / 'shim'}", f"-I{ROOT / 'core'}", f"-I{ROOT / 'engine'}",
             str(src)], capture_output=True, text=True)
        assert proc.returncode == 0, f"{src.name}:\n{proc.stderr}"


def test_template_compiles_and_behaves_like_the_shipped_driver(lingering):
    template = Path(ROOT / "template" / "proposal.c")
    assert run(template, lingering, schedule="leak").kinds == {"leak"}
    assert run(template, lingering, schedule="clean").violations == []
