"""Driver variants: the built-in ones (compiled at install time) and user proposals
(one C file, compiled with cffi into a cache keyed by its content)."""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import os
import re
import stat
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
    """The proposal cache: $FLOWRACE_CACHE, else $XDG_CACHE_HOME/flowrace, else
    ~/.cache/flowrace. Not created or checked here: see `trusted_dir`."""
    base = os.environ.get("FLOWRACE_CACHE")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg or Path.home() / ".cache") / "flowrace"


_HINT = "set FLOWRACE_CACHE to a directory of your own"


def trusted_dir(path: Path) -> Path:
    """Create `path` (mode 0700) if needed, and refuse it unless it is a directory owned
    by this user that nobody else can write to: what another user plants in a cache runs
    as whoever loads it."""
    try:
        missing = []
        p = path
        while not p.exists() and p != p.parent:
            missing.append(p)
            p = p.parent
        for d in reversed(missing):  # each one private (mkdir's parents= would not be)
            d.mkdir(mode=0o700, exist_ok=True)
        st = path.lstat()
    except OSError as exc:
        raise FlowraceError(f"cannot use the proposal cache {path}: {exc.strerror or exc}; "
                            f"{_HINT}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise FlowraceError(f"refusing the proposal cache {path}: not a directory; {_HINT}")
    if st.st_uid != os.getuid():
        raise FlowraceError(f"refusing the proposal cache {path}: it belongs to user id "
                            f"{st.st_uid}, not to you; {_HINT}")
    if st.st_mode & 0o022:
        raise FlowraceError(f"refusing the proposal cache {path}: it is writable by "
                            f"{_writers(st.st_mode)} (mode {stat.S_IMODE(st.st_mode):04o}); "
                            f"`chmod 700 {path}` or {_HINT}")
    return path


def _writers(mode: int) -> str:
    return " and ".join(w for bit, w in ((0o020, "its group"), (0o002, "every user"))
                        if mode & bit)


def _check_entry(path: Path) -> None:
    st = path.lstat()
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022:
        why = ("not a regular file" if not stat.S_ISREG(st.st_mode) else
               f"it belongs to user id {st.st_uid}" if st.st_uid != os.getuid() else
               f"it is writable by {_writers(st.st_mode)}")
        raise FlowraceError(f"refusing the proposal cache entry {path}: {why}; remove it, "
                            f"or {_HINT}")


def _file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _verified(entry: Path) -> bool:
    """Whether a cache entry is intact: its checksum file matches its bytes. A corrupt,
    truncated or half-written entry is removed (and built again), never loaded."""
    sidecar = entry.with_name(entry.name + ".sha256")
    _check_entry(entry)
    try:
        _check_entry(sidecar)
        good = sidecar.read_text().strip() == _file_sha(entry)
    except (OSError, FlowraceError):
        good = False
    if not good:
        entry.unlink(missing_ok=True)
        sidecar.unlink(missing_ok=True)
    return good


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
        target, mod_name = _build_locked(source, module_name, extra_flags)
        try:
            return _import_from(target, mod_name)
        except ImportError as exc:
            # e.g. a symbol the proposal declares but never defines: never keep it cached
            target.unlink(missing_ok=True)
            target.with_name(target.name + ".sha256").unlink(missing_ok=True)
            raise ProposalBuildError(source, f"it compiled but cannot be loaded: {exc}") \
                from None


def cache_key(source: Path, extra_flags: list[str] | None = None) -> str:
    """What a cached module was built from: the variant and every C file it includes,
    the engine, core and flags (`_build.source_digest`), the compiler (`$CC` and its
    `--version`), CFLAGS/LDFLAGS and the other variables the build reads, and the
    versions of cffi, Python and flowrace."""
    import cffi

    key = hashlib.sha256()
    key.update(_build.source_digest(source, extra_flags).encode())
    for inc in _included_files(source):
        key.update(str(inc).encode() + b"\0" + inc.read_bytes())
    for var in ("CC", "CFLAGS", "CPPFLAGS", "LDFLAGS", "LDSHARED", "FLOWRACE_LDFLAGS",
                "FLOWRACE_CFLAGS"):
        key.update(f"{var}={os.environ.get(var, '')}\0".encode())
    key.update(_compiler_identity().encode())
    key.update(f"cffi {cffi.__version__} python {sys.version} {_flowrace_version()}".encode())
    return key.hexdigest()[:20]


def _flowrace_version() -> str:
    try:
        from importlib.metadata import version

        return version("flowrace")
    except Exception:  # not installed: the sources are in the key anyway
        return "source"


_compilers: dict[str, str] = {}


def _compiler_identity() -> str:
    """`$CC --version` (what a distutils build calls), remembered per process."""
    import shlex
    import subprocess
    import sysconfig

    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    if cc not in _compilers:
        try:
            proc = subprocess.run([*shlex.split(cc), "--version"], capture_output=True,
                                  timeout=30)
            ident = proc.stdout.decode(errors="replace") + f" rc={proc.returncode}"
        except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
            ident = f"unavailable: {exc}"
        _compilers[cc] = f"{cc}\0{ident}"
    return _compilers[cc]


_INCLUDE = re.compile(rb'^[ \t]*#[ \t]*include[ \t]*"([^"\n]+)"', re.M)


def _included_files(source: Path, limit: int = 256) -> list[Path]:
    """The files a proposal includes with `#include "..."` (from its own directory),
    recursively; the shim's and core's headers are in `_build.source_digest`."""
    csrc = _build.csrc_dir()
    dirs = [source.parent, csrc, csrc / "shim", csrc / "core", csrc / "engine"]
    seen: dict[Path, None] = {}
    todo = [source]
    while todo and len(seen) < limit:
        try:
            text = todo.pop().read_bytes()
        except OSError:
            continue
        for name in _INCLUDE.findall(text):
            rel = Path(name.decode(errors="replace"))
            for d in dirs:
                cand = (d / rel).resolve()
                if cand.is_file():
                    if cand not in seen and not cand.is_relative_to(csrc.resolve()):
                        seen[cand] = None
                        todo.append(cand)
                    break
    return sorted(seen)


def build_variant(name_or_path: str | os.PathLike) -> Path:
    """Compile a proposal into the cache (if not there yet) without loading it: none of
    its code runs. Returns the cached module's path."""
    path = Path(name_or_path)
    if not path.is_file():
        raise FlowraceError(f"no such driver proposal file: {name_or_path}")
    with _COMPILE_LOCK:
        return _build_locked(path.resolve(), "prop_" + path.stem, None)[0]


def _build_locked(source: Path, module_name: str,
                  extra_flags: list[str] | None) -> tuple[Path, str]:
    digest = cache_key(source, extra_flags)
    stem = re.sub(r"\W", "_", module_name.rsplit(".", 1)[-1])
    mod_name = f"_fr_{stem}_{digest}"
    root = trusted_dir(cache_dir())
    out_dir = trusted_dir(root / "modules")
    for existing in out_dir.glob(mod_name + ".*.so"):
        if _verified(existing):
            return existing, mod_name
    builds = trusted_dir(root / "build")
    _clean_stale_builds(builds)
    # built inside the cache itself: the rename into place never crosses file systems
    with tempfile.TemporaryDirectory(prefix=f"flowrace-build-{os.getpid()}-",
                                     dir=builds) as tmp:
        try:
            ffi = _build.make_ffi(source, mod_name, extra_flags, obj_dir=Path(tmp))
        except _build.VariantBuildError as exc:
            raise ProposalBuildError(source, str(exc)) from None
        try:
            with _compiler_stderr_to(Path(tmp) / "compiler.txt"):
                built = ffi.compile(tmpdir=tmp, verbose=False)
        except Exception as exc:  # cffi raises VerificationError with the compiler's text
            raise ProposalBuildError(
                source, _compiler_output(source, extra_flags, Path(tmp) / "compiler.txt")
            ) from exc
        target = out_dir / Path(built).name
        _store_entry(Path(built), target)
    return target, mod_name


def _store_entry(built: Path, target: Path) -> None:
    """Move `built` (on the cache's file system) to `target` atomically, then its checksum
    beside it (written to a temporary name and renamed too)."""
    sidecar = target.with_name(target.name + ".sha256")
    tmp_sum = built.with_name(built.name + ".sha256.tmp")
    tmp_sum.write_text(_file_sha(built) + "\n")
    os.chmod(built, 0o700)
    os.chmod(tmp_sum, 0o600)
    sidecar.unlink(missing_ok=True)  # a reader never pairs the new file with an old sum
    os.replace(built, target)
    os.replace(tmp_sum, sidecar)


def _clean_stale_builds(builds: Path) -> None:
    """Remove build directories left by a process that was killed while compiling."""
    import shutil

    for d in builds.glob("flowrace-build-*"):
        pid = d.name.split("-")[2] if d.name.count("-") >= 3 else ""
        if pid.isdigit() and int(pid) != os.getpid() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(d, ignore_errors=True)


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


def _compiler_output(source: Path, extra_flags: list[str] | None,
                     captured: Path | None = None) -> str:
    """Re-run the compiler on the proposal alone to show the user its messages; when
    that finds nothing (the assembler or the linker failed), what the build said."""
    import subprocess

    csrc = _build.csrc_dir()
    cmd = [
        os.environ.get("CC", "cc"), "-fsyntax-only", *_build.compile_flags(extra_flags),
        f"-I{csrc}", f"-I{csrc / 'shim'}", f"-I{csrc / 'core'}", str(source),
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=300)
        text = (proc.stderr or proc.stdout).decode(errors="replace").strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        text = f"the compiler could not be run: {exc}"
    if not text and captured is not None and captured.is_file():
        said = captured.read_bytes().decode(errors="replace").strip().splitlines()
        text = "\n".join(line for line in said if line.strip())[-4000:]
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
