"""Driver variants: the built-in ones (compiled at install time) and user proposals
(one C file, compiled with cffi into a cache keyed by its content)."""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import os
import re
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import _build
from .errors import FlowraceError, ProposalBuildError


@dataclass
class Variant:
    """A compiled driver variant: its name, its C source, and the cffi module."""

    name: str
    source: Path
    ffi: Any
    lib: Any
    builtin: bool
    sha256: str
    _specs: dict = field(default_factory=dict, repr=False)
    module_path: str = ""  # the compiled shared object (reports name code in it)

    def __hash__(self) -> int:  # usable as a cache key
        return hash((self.name, self.sha256))


def _stem_to_name(stem: str) -> str:
    return stem.replace("_", "-")


def _name_to_stem(name: str) -> str:
    return name.replace("-", "_")


def builtin_names() -> list[str]:
    """Names of the built-in driver variants, e.g. ``original``, ``assoc-count``."""
    return [_stem_to_name(p.stem) for p in _build.builtin_variant_files()]


_loaded: dict[str, Variant] = {}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cache_dir() -> Path:
    base = os.environ.get("FLOWRACE_CACHE")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg or Path.home() / ".cache") / "flowrace"


def _import_from(path: Path, module_name: str):
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise FlowraceError(f"cannot load compiled module {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


_COMPILE_LOCK = threading.RLock()


def _compile(source: Path, module_name: str, extra_flags: list[str] | None = None):
    """Compile `source` with the engine and core into the cache; return the module.
    One build at a time per process: the build changes directory and file descriptor 2."""
    with _COMPILE_LOCK:
        return _compile_locked(source, module_name, extra_flags)


def _compile_locked(source: Path, module_name: str, extra_flags: list[str] | None):
    digest = _build.source_digest(source, extra_flags)
    stem = re.sub(r"\W", "_", module_name.rsplit(".", 1)[-1])
    mod_name = f"_fr_{stem}_{digest}"
    out_dir = cache_dir() / "modules"
    out_dir.mkdir(parents=True, exist_ok=True)
    for existing in out_dir.glob(mod_name + ".*.so"):
        try:
            return _import_from(existing, mod_name)
        except ImportError:
            existing.unlink(missing_ok=True)  # a broken cache entry: build it again
    with tempfile.TemporaryDirectory(prefix="flowrace-build-") as tmp:
        try:
            ffi = _build.make_ffi(source, mod_name, extra_flags, obj_dir=Path(tmp))
        except _build.VariantBuildError as exc:
            raise ProposalBuildError(source, str(exc)) from None
        try:
            with _compiler_stderr_to(Path(tmp) / "compiler.txt"):
                built = ffi.compile(tmpdir=tmp, verbose=False)
        except Exception as exc:  # cffi raises VerificationError with the compiler's text
            raise ProposalBuildError(source, _compiler_output(source, extra_flags)) from exc
        target = out_dir / Path(built).name
        os.replace(built, target)
    try:
        return _import_from(target, mod_name)
    except ImportError as exc:
        # e.g. a symbol the proposal declares but never defines: never keep it cached
        target.unlink(missing_ok=True)
        raise ProposalBuildError(source, f"it compiled but cannot be loaded: {exc}") from None


@contextlib.contextmanager
def _compiler_stderr_to(path: Path):
    """The compiler writes to file descriptor 2 directly: keep it off the user's terminal
    (a build error is shown once, by _compiler_output)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "wb") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _compiler_output(source: Path, extra_flags: list[str] | None) -> str:
    """Re-run the compiler on the proposal alone to show the user its messages."""
    import subprocess

    csrc = _build.csrc_dir()
    cmd = [
        os.environ.get("CC", "cc"), "-fsyntax-only", *_build.compile_flags(extra_flags),
        f"-I{csrc}", f"-I{csrc / 'shim'}", f"-I{csrc / 'core'}", str(source),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    text = (proc.stderr or proc.stdout).strip()
    return text or "the compiler failed (no message); is a C compiler installed?"


def load_variant(name_or_path: str | os.PathLike) -> Variant:
    """Load a built-in variant by name, or compile and load a proposal (a path to a .c file)."""
    with _COMPILE_LOCK:
        return _load_variant_locked(name_or_path)


def _load_variant_locked(name_or_path: str | os.PathLike) -> Variant:
    key = str(name_or_path)
    if key in _loaded:
        return _loaded[key]
    path = Path(key)
    if key.endswith(".c") or path.suffix == ".c" or os.sep in key:
        if not path.is_file():
            raise FlowraceError(f"no such driver proposal file: {key}")
        module = _compile(path.resolve(), "prop_" + path.stem)
        variant = Variant(path.stem, path.resolve(), module.ffi, module.lib, False, _sha(path),
                          module_path=getattr(module, "__file__", "") or "")
    else:
        names = builtin_names()
        if key not in names:
            raise FlowraceError(
                f"unknown driver variant {key!r}; built-in variants: {', '.join(names)} "
                "(or give a path to a .c proposal)"
            )
        source = _build.csrc_dir() / "variants" / f"{_name_to_stem(key)}.c"
        try:
            module = importlib.import_module(_build.variant_module_name(_name_to_stem(key)))
            built_from = module.ffi.string(module.lib.fr_build_id()).decode()
        except (ImportError, AttributeError):
            module, built_from = None, ""
        if module is None or built_from != _build.source_digest(source):
            # Not installed, or the C sources changed since: build into the cache.
            module = _compile(source, key)
        variant = Variant(key, source, module.ffi, module.lib, True, _sha(source),
                          module_path=getattr(module, "__file__", "") or "")
    _register_callback(variant)
    _loaded[key] = variant
    return variant


_pick_callbacks: dict[int, Any] = {}


def _register_callback(variant: Variant) -> None:
    """Route the module's `fr_py_pick` to whatever Python strategy runs now."""

    @variant.ffi.def_extern(name="fr_py_pick")
    def _pick(step: int, enabled: int, current: int) -> int:  # pragma: no cover - via C
        fn = _pick_callbacks.get(id(variant.lib))
        if fn is None:
            return -1
        try:
            return int(fn(step, enabled, current))
        except Exception:  # an exception cannot cross into C: report a bad choice
            return -1


def set_pick_callback(variant: Variant, fn) -> None:
    if fn is None:
        _pick_callbacks.pop(id(variant.lib), None)
    else:
        _pick_callbacks[id(variant.lib)] = fn
