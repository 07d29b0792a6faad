"""cffi (API mode, out of line) builders: one extension module per driver variant.

Each module links the same engine, shim and driver core with one variant file.
`setup.py` lists one builder per built-in variant (compiled at install time);
`kernel_model.variants` uses `make_ffi` to compile a user's proposal into a cache.

The variant alone is compiled with the compiler's access instrumentation
(`-fsanitize=thread`, see `instrument_flags`) into an object of its own, linked into
the module with the engine, shim and core compiled without it: every load and store
of the variant's C code calls an entry point that c_src/engine/access.c defines (the
module never links a sanitizer runtime). Builds with a real sanitizer in
FLOWRACE_CFLAGS (`flowrace sanitize`'s AddressSanitizer build) compile the variant
like the rest, without it.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import subprocess
import tempfile
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent


def csrc_dir() -> Path:
    """The C sources: the repository's c_src/, or the copy shipped in the package."""
    for candidate in (HERE.parent / "c_src", HERE / "_csrc"):
        if (candidate / "fr_api.h").is_file():
            return candidate
    raise FileNotFoundError("flowrace's C sources (c_src/) are missing from this installation")


# The generic engine (c_src/engine/, compiles without the core; see c_src/README.md's
# map for what each file owns), then the driver core that registers itself with it.
ENGINE_SOURCES = (
    "engine/engine.c",
    "engine/points.c",
    "engine/spin.c",
    "engine/strategy.c",
    "engine/locks.c",
    "engine/pool.c",
    "engine/results.c",
    "engine/sched_view.c",
    "engine/stress_runtime.c",
    "engine/fr_ctx.c",
    "engine/shim.c",
    "engine/explore.c",
    "engine/footprint.c",
    "engine/stateful_por.c",
    "engine/count.c",
    "engine/stategraph.c",
    "engine/stateful.c",
    "engine/checkpoint.c",
    "engine/access.c",
    "engine/race.c",
)

CORE_SOURCES = (
    *ENGINE_SOURCES,
    "core/flowcore.c",
    "core/harness.c",
    "core/stress.c",
)

WARNINGS = ["-Wall", "-Wextra", "-Wno-unused-parameter"]


# The module's own C: the callback strategy's hook is fr_py_pick, which cffi defines
# (extern "Python+C", see cdef_text) and the module registers with the engine when
# it is loaded (the engine knows no caller: fr_model.h).
MODULE_SOURCE = """#include "fr_api.h"
#include "fr_model.h"
int fr_py_pick(int step, uint32_t enabled, int current);
__attribute__((constructor)) static void fr_py_register_pick(void)
{
    fr_set_pick_hook(fr_py_pick);
}
"""


def cdef_text(csrc: Path | None = None) -> str:
    text = ((csrc or csrc_dir()) / "fr_api.h").read_text()
    body = text.split("/* CDEF-BEGIN */", 1)[1].split("/* CDEF-END */", 1)[0]
    return body + '\nextern "Python+C" int fr_py_pick(int step, uint32_t enabled, int current);\n'


class VariantBuildError(Exception):
    """The variant cannot be compiled with the access instrumentation; the message is
    the compiler's output or names the offending line."""


def variant_module_name(stem: str) -> str:
    return f"kernel_model._variants._fr_{stem}"


def compile_flags(extra: list[str] | None = None) -> list[str]:
    flags = ["-std=c11", "-O2", "-fvisibility=hidden", "-fno-strict-aliasing", *WARNINGS]
    env = os.environ.get("FLOWRACE_CFLAGS")
    if env:
        flags += env.split()
    return flags + (extra or [])


def compiler() -> str:
    return os.environ.get("CC", "cc")


@functools.lru_cache(maxsize=8)
def _is_clang(cc: str) -> bool:
    try:
        out = subprocess.run([cc, "--version"], capture_output=True, text=True).stdout
    except OSError:
        return False
    return "clang" in out.lower()


def instrumented(extra: list[str] | None = None) -> bool:
    """Is the variant compiled with flowrace's access instrumentation? Not when a real
    sanitizer is asked for (it would clash with the ThreadSanitizer entry points)."""
    return not any(f.startswith("-fsanitize") for f in compile_flags(extra))


def instrument_flags() -> list[str]:
    """Every load and store a __tsan_* call, volatile ones told apart, no function
    entry/exit calls; implicit declarations (a non-GCC builtin such as MSVC's
    _InterlockedIncrement) are errors with file:line, not an unresolved symbol."""
    if _is_clang(compiler()):
        params = ["-mllvm", "-tsan-distinguish-volatile=1",
                  "-mllvm", "-tsan-instrument-func-entry-exit=0"]
    else:
        params = ["--param", "tsan-distinguish-volatile=1",
                  "--param", "tsan-instrument-func-entry-exit=0"]
    return ["-fsanitize=thread", *params, "-g", "-Werror=implicit-function-declaration"]


_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_ASM = re.compile(r"\b(?:__asm__|__asm|asm)\b")
_ASM_EMPTY = re.compile(r"\b(?:__asm__|__asm|asm)\b\s*(?:(?:volatile|__volatile__|inline|goto)\s*)*"
                        r"\(\s*\"\s*\"\s*[:)]")


def instrumentation_problems(text: str) -> list[str]:
    """What in a variant's source the access instrumentation cannot see: inline
    assembly (other than an empty compiler barrier, `asm volatile("" ::: "memory")`)."""
    blanked = _COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
    problems = []
    for m in _ASM.finditer(blanked):
        before = blanked[blanked.rfind("\n", 0, m.start()) + 1:m.start()]
        if len(re.findall(r'(?<!\\)"', before)) % 2 or _ASM_EMPTY.match(blanked, m.start()):
            continue  # inside a string literal, or an empty compiler barrier
        line = blanked.count("\n", 0, m.start()) + 1
        problems.append(
            f"line {line}: inline assembly: flowrace cannot see the memory it reads or writes "
            "(nor schedule, check or race-check it); use the shim's Interlocked*, "
            "ReadAcquire/WriteRelease or YieldProcessor, or plain C")
    return problems


def compile_variant_object(variant_c: Path, obj_dir: Path,
                           extra_flags: list[str] | None = None) -> Path:
    """Compile the variant alone with the access instrumentation into obj_dir."""
    variant_c = Path(variant_c)
    try:
        text = variant_c.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        raise VariantBuildError(f"cannot read {variant_c}: {exc}") from None
    problems = instrumentation_problems(text)
    if problems:
        raise VariantBuildError("\n".join(f"{variant_c}:{p[len('line '):]}" for p in problems))
    csrc = csrc_dir()
    obj_dir.mkdir(parents=True, exist_ok=True)
    obj = obj_dir / f"{variant_c.stem}.tsan.o"
    cmd = [compiler(), "-c", "-fPIC", *compile_flags(extra_flags), *instrument_flags(),
           f"-I{csrc}", f"-I{csrc / 'shim'}", f"-I{csrc / 'core'}", str(variant_c),
           "-o", str(obj)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise VariantBuildError((proc.stderr or proc.stdout).strip()
                                or "the compiler failed (no message)")
    unhandled = _unhandled_hooks(obj)
    if unhandled:
        lines = [f"{variant_c}:{n}" for n, text in enumerate(text.splitlines(), 1)
                 if re.search(r"\b__(atomic|sync)_\w+|__int128", text)]
        raise VariantBuildError(
            f"{variant_c}: the compiler turned an access into {', '.join(unhandled)}, which "
            "flowrace's instrumentation does not handle (a 128-bit atomic?)"
            + (f"; look at {', '.join(lines[:5])}" if lines else ""))
    return obj


_HANDLED = re.compile(
    r"__tsan_(init|func_entry|func_exit|(unaligned_)?(volatile_)?(read|write)(1|2|4|8|16)"
    r"|(read|write)_range|vptr_(update|read)|atomic(8|16|32|64)_(load|store|exchange|fetch_\w+"
    r"|compare_exchange_(strong|weak|val))|atomic_(thread|signal)_fence)$")


def _unhandled_hooks(obj: Path) -> list[str]:
    """Instrumentation entry points the object calls that c_src/engine/access.c lacks."""
    try:
        out = subprocess.run(["nm", "-u", str(obj)], capture_output=True, text=True).stdout
    except OSError:
        return []  # no binutils: the module's load will name the symbol
    names = {line.split()[-1] for line in out.splitlines() if "__tsan_" in line}
    return sorted(n for n in names if not _HANDLED.match(n))


HEADERS = (
    "fr_api.h",
    "shim/wdm_shim.h",
    "core/flowdata.h",
    "core/flowcore.h",
    "engine/fr_engine.h",
    "engine/fr_ctx.h",
    "engine/fr_sched.h",
    "engine/fr_internal.h",
    "engine/fr_model.h",
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
    if instrumented(extra_flags):
        key.update(" ".join(instrument_flags()).encode())
    return key.hexdigest()[:16]


def make_ffi(
    variant_c: Path,
    module_name: str,
    extra_flags: list[str] | None = None,
    relative_to: Path | None = None,
    obj_dir: Path | None = None,
) -> FFI:
    """A builder for `variant_c` linked with the engine and core. setuptools wants
    source paths relative to setup.py (`relative_to`); a cache build takes absolute ones.
    The instrumented variant object is compiled now, into `obj_dir` (setup builds:
    build/flowrace-variants). Raises VariantBuildError when it does not compile."""
    digest = source_digest(variant_c, extra_flags)
    csrc = csrc_dir()
    objects: list[str] = []
    sources = [str(variant_c)]
    if instrumented(extra_flags):
        if obj_dir is None:
            obj_dir = (relative_to / "build" / "flowrace-variants" if relative_to is not None
                       else Path(tempfile.mkdtemp(prefix="flowrace-obj-")))
        obj = compile_variant_object(Path(variant_c).resolve(), obj_dir, extra_flags)
        objects = [str(obj if relative_to is None else os.path.relpath(obj, relative_to))]
        sources = []
    if relative_to is not None:
        csrc = Path(os.path.relpath(csrc, relative_to))
        sources = [os.path.relpath(s, relative_to) for s in sources]
    ffi = FFI()
    ffi.cdef(cdef_text(csrc))
    ldflags = os.environ.get("FLOWRACE_LDFLAGS", "").split()
    ffi.set_source(
        module_name,
        MODULE_SOURCE,
        sources=[str(csrc / s) for s in CORE_SOURCES] + sources,
        extra_objects=objects,
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
