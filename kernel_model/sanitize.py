"""Run a driver variant under the compilers' sanitizers.

* AddressSanitizer + UndefinedBehaviorSanitizer, controlled mode: the variant is
  compiled with ``-fsanitize=address,undefined`` into its own cache and loaded into a
  child Python process that has the sanitizer runtimes preloaded; it runs seeded random
  and PCT executions of every built-in scenario. The pool gives each flow a poisoned
  redzone, so a write past a flow context is reported.
* ThreadSanitizer, stress mode: TSan wants a fully instrumented program, so the engine,
  core and variant are linked with ``c_src/tools/stress_main.c`` into an executable
  that runs the real-thread stress workload.

Both report as `SanitizerResult`: what the sanitizer said (its report lines) and what
flowrace's own checks found.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from . import _build, _children
from .errors import FlowraceError
from .variants import (
    _compiler_identity,
    _store_entry,
    _verified,
    builtin_names,
    cache_dir,
    trusted_dir,
)

ASAN_FLAGS = "-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
REPORT = re.compile(r"(ERROR: AddressSanitizer.*|WARNING: ThreadSanitizer.*|SUMMARY: \w+Sanitizer.*"
                    r"|runtime error: .*)")


@dataclass
class SanitizerResult:
    tool: str
    driver: str
    ok: bool  # the run completed (the sanitizer did not stop it)
    reports: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)  # flowrace's own checks
    output: str = ""

    @property
    def clean(self) -> bool:
        return self.ok and not self.reports


def _compiler() -> str:
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if not cc:
        raise FlowraceError("no C compiler found (install gcc)")
    return cc


def runtime_library(name: str) -> str:
    """The path of a sanitizer runtime (`asan`, `ubsan`, `tsan`) of the C compiler."""
    out = subprocess.run([_compiler(), f"-print-file-name=lib{name}.so"], capture_output=True,
                         text=True).stdout.strip()
    if not out or not os.path.isabs(out) or not os.path.exists(out):
        raise FlowraceError(f"the compiler has no lib{name}.so; install its sanitizer runtimes "
                            f"(Debian: apt-get install lib{name}*)")
    return out


def _driver_arg(driver: str | os.PathLike) -> str:
    text = str(driver)
    if text.endswith(".c") or os.sep in text:
        path = Path(text)
        if not path.is_file():
            raise FlowraceError(f"no such driver proposal file: {text}")
        return str(path.resolve())
    if text not in builtin_names():
        raise FlowraceError(f"unknown driver variant {text!r}; built-in variants: "
                            + ", ".join(builtin_names()))
    return text


def asan_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "FLOWRACE_CACHE": str(cache_dir() / "asan"),
        "FLOWRACE_CFLAGS": ASAN_FLAGS,
        "FLOWRACE_LDFLAGS": "-fsanitize=address,undefined",
        "LD_PRELOAD": f"{runtime_library('asan')} {runtime_library('ubsan')}",
        "ASAN_OPTIONS": "detect_leaks=0:halt_on_error=1:verify_asan_link_order=0",
        "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
    })
    return env


_ASAN_CHILD = """
import sys
from kernel_model.scenarios import get_scenario, scenario_names
from kernel_model import run, run_batch
driver, executions = sys.argv[1], int(sys.argv[2])
for name in scenario_names():
    scenario = get_scenario(name)
    for strategy, depth in (("random", 2), ("pct", 3)):
        res = run_batch(driver, scenario, executions, strategy=strategy, pct_depth=depth)
        for kind in sorted(res.by_kind):
            print(f"finding {name} {strategy} {kind} seed {res.first_seed_by_kind[kind]}")
    for seed in range(3):
        run(driver, scenario, seed=seed)
print("sanitized-run-complete")
"""


def asan_run(driver: str | os.PathLike, executions: int = 200,
             timeout: float = 900) -> SanitizerResult:
    """Controlled mode under ASan+UBSan over every built-in scenario."""
    arg = _driver_arg(driver)
    proc = _children.run([sys.executable, "-c", _ASAN_CHILD, arg, str(executions)],
                         text=True, env=asan_environment(), timeout=timeout)
    out = proc.stdout + proc.stderr
    findings = [line[len("finding "):] for line in proc.stdout.splitlines()
                if line.startswith("finding ")]
    return SanitizerResult("address", arg, "sanitized-run-complete" in proc.stdout,
                           REPORT.findall(out), findings, out)


def build_tsan_stress(driver: str | os.PathLike) -> Path:
    """Compile the stress program with `driver` under ThreadSanitizer (cached by content)."""
    arg = _driver_arg(driver)
    csrc = _build.csrc_dir()
    stem = arg.replace("-", "_")
    variant_c = Path(arg) if arg.endswith(".c") else csrc / "variants" / f"{stem}.c"
    sources = sorted(csrc.glob("engine/*.c")) + sorted(csrc.glob("core/*.c")) + [
        variant_c, csrc / "tools" / "stress_main.c"]
    digest = hashlib.sha256()
    for src in sources:
        digest.update(src.read_bytes())
    for header in _build.HEADERS:
        digest.update((csrc / header).read_bytes())
    digest.update(_compiler_identity().encode())
    out_dir = trusted_dir(trusted_dir(cache_dir()) / "tsan")
    exe = out_dir / f"stress-{variant_c.stem}-{digest.hexdigest()[:16]}"
    if exe.exists() and _verified(exe):  # a damaged or planted entry: refused or rebuilt
        return exe
    cmd = [_compiler(), "-std=c11", "-g", "-O1", "-fsanitize=thread", f"-I{csrc}",
           f"-I{csrc / 'shim'}", f"-I{csrc / 'core'}", f"-I{csrc / 'engine'}",
           *map(str, sources), "-lpthread", "-o", str(exe) + ".tmp"]
    proc = _children.run(cmd, text=True)
    if proc.returncode != 0:
        raise FlowraceError(f"{variant_c} does not build under ThreadSanitizer:\n{proc.stderr}")
    _store_entry(Path(str(exe) + ".tmp"), exe)
    return exe


def tsan_stress(driver: str | os.PathLike, connections: int = 2000, threads: int = 4,
                seed: int = 1, timeout: float = 600) -> SanitizerResult:
    """Stress mode on real threads under ThreadSanitizer."""
    exe = build_tsan_stress(driver)
    env = dict(os.environ, TSAN_OPTIONS="halt_on_error=0 second_deadlock_stack=1")
    proc = _children.run([str(exe), str(connections), str(threads), str(seed)], text=True,
                         env=env, timeout=timeout)
    out = proc.stdout + proc.stderr
    from .execution import VIOLATION_KINDS

    findings = []
    for line in proc.stdout.splitlines():  # "violation KIND-NUMBER DETAIL"
        if line.startswith("violation "):
            _, number, detail = (line.split(" ", 2) + ["", ""])[:3]
            kind = VIOLATION_KINDS.get(int(number), number) if number.isdigit() else number
            findings.append(f"{kind}: {detail}")
    ok = proc.stdout.startswith("lingering ")
    return SanitizerResult("thread", str(driver), ok, REPORT.findall(out), findings, out)
