"""Build hook: compile one cffi extension per built-in driver variant, and ship c_src/
inside the package so that `flowrace` can compile a user's proposal against the same
shim, engine and core."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
VARIANTS = sorted(p.stem for p in (ROOT / "c_src" / "variants").glob("*.c"))


class BuildPyWithCSources(build_py):
    def run(self):
        super().run()
        target = Path(self.build_lib) / "kernel_model" / "_csrc"
        shutil.copytree(ROOT / "c_src", target, dirs_exist_ok=True)


setup(
    cffi_modules=[f"kernel_model/_build.py:ffi_{stem}" for stem in VARIANTS],
    cmdclass={"build_py": BuildPyWithCSources},
)
