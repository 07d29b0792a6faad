"""cffi (API mode, out of line) builders: one extension module per driver variant.

Each module links the same engine, shim and driver core with one variant file.
`setup.py` lists one builder per built-in variant (compiled at install time);
`kernel_model.variants` uses `make_ffi` to compile a user's proposal into a cache.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent


def csrc_dir() -> Path:
    """The C sources: the repository's c_src/, or the copy shipped in the package."""
    for candidate in (HERE.parent / "c_src", HERE / "_csrc"):
        if (candidate / "fr_api.h").is_file():
            return candidate
    raise FileNotFoundError("flowrace's C sources (c_src/) are missing from this installation")


CORE_SOURCES = (
    "engine/engine.c",
    "engine/fr_ctx.c",
    "engine/shim.c",
    "engine/explore.c",
    "core/flowcore.c",
    "core/harness.c",
    "core/stress.c",
)

WARNINGS = ["-Wall", "-Wextra", "-Wno-unused-parameter"]


def cdef_text(csrc: Path | None = None) -> str:
    text = ((csrc or csrc_dir()) / "fr_api.h").read_text()
    body = text.split("/* CDEF-BEGIN */", 1)[1].split("/* CDEF-END */", 1)[0]
    return body + '\nextern "Python+C" int fr_py_pick(int step, uint32_t enabled, int current);\n'


def variant_module_name(stem: str) -> str:
    return f"kernel_model._variants._fr_{stem}"


def compile_flags(extra: list[str] | None = None) -> list[str]:
    flags = ["-std=c11", "-O2", "-fvisibility=hidden", "-fno-strict-aliasing", *WARNINGS]
    env = os.environ.get("FLOWRACE_CFLAGS")
    if env:
        flags += env.split()
    return flags + (extra or [])


HEADERS = (
    "fr_api.h",
    "shim/wdm_shim.h",
    "core/flowdata.h",
    "core/flowcore.h",
    "engine/fr_engine.h",
    "engine/fr_ctx.h",
    "engine/fr_sched.h",
)


def source_digest(variant_c: Path, extra_flags: list[str] | None = None) -> str:
    """What a compiled module was built from: the variant, the engine, core and flags.
    A module whose digest differs from the sources on disk is stale."""
    csrc = csrc_dir()
    key = hashlib.sha256()
    key.update(Path(variant_c).read_bytes())
    for rel in (*CORE_SOURCES, *HEADERS):
        key.update((csrc / rel).read_bytes())
    key.update(" ".join(compile_flags(extra_flags)).encode())
    return key.hexdigest()[:16]


def make_ffi(
    variant_c: Path,
    module_name: str,
    extra_flags: list[str] | None = None,
    relative_to: Path | None = None,
) -> FFI:
    """A builder for `variant_c` linked with the engine and core. setuptools wants
    source paths relative to setup.py (`relative_to`); a cache build takes absolute ones."""
    digest = source_digest(variant_c, extra_flags)
    csrc = csrc_dir()
    if relative_to is not None:
        csrc = Path(os.path.relpath(csrc, relative_to))
        variant_c = Path(os.path.relpath(variant_c, relative_to))
    ffi = FFI()
    ffi.cdef(cdef_text(csrc))
    ldflags = os.environ.get("FLOWRACE_LDFLAGS", "").split()
    ffi.set_source(
        module_name,
        '#include "fr_api.h"\n',
        sources=[str(csrc / s) for s in CORE_SOURCES] + [str(variant_c)],
        include_dirs=[str(csrc), str(csrc / "shim"), str(csrc / "core"), str(csrc / "engine")],
        extra_compile_args=compile_flags(extra_flags),
        extra_link_args=ldflags,
        define_macros=[("FR_BUILD_ID", f'"{digest}"')],
        libraries=["pthread"],
    )
    return ffi


def builtin_variant_files() -> list[Path]:
    return sorted((csrc_dir() / "variants").glob("*.c"))


if __name__ == "__cffi__":  # executed by cffi's setuptools hook (setup.py)
    for _path in builtin_variant_files():
        globals()["ffi_" + _path.stem] = make_ffi(
            _path, variant_module_name(_path.stem), relative_to=HERE.parent
        )
