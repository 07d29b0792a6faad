"""Code addresses in the engine's reports, as file:line.

The C side names the code that made an access as ``@pc:HEX@`` and a variant's own
global as ``@data:HEX@`` (offsets into the compiled module, c_src/engine/pool.c); only
the reports a user reads are resolved, lazily, with binutils' ``addr2line`` and ``nm``
on the module's shared object.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from pathlib import Path

_PC = re.compile(r"@pc:([0-9a-f]+)@")


@functools.lru_cache(maxsize=4096)
def _resolve(module: str, offset: int) -> str:
    tool = shutil.which("addr2line")
    if module and tool:
        try:
            # a return address: the call is the instruction before it
            out = subprocess.run([tool, "-f", "-e", module, hex(max(offset - 1, 0))],
                                 capture_output=True, text=True, timeout=30).stdout.split("\n")
        except (OSError, subprocess.SubprocessError):
            out = []
        if len(out) >= 2:
            func, where = out[0].strip(), out[1].strip()
            where = where.split(" (discriminator")[0]
            path, _, line = where.rpartition(":")
            if path and path != "??" and line not in ("", "0", "?"):
                return f"{Path(path).name}:{line}" + (f" in {func}" if func != "??" else "")
            if func and func != "??":
                return f"{func}+{offset:#x}"
    return f"code offset {offset:#x}"


def symbolize(module: str, text: str) -> str:
    """`text` with every ``@pc:HEX@`` replaced by file:line (or the best name known), and
    every ``@data:HEX@`` (a global of the variant) by its name."""
    if "@" not in text:
        return text
    text = _PC.sub(lambda m: _resolve(module, int(m.group(1), 16)), text)
    return _DATA.sub(lambda m: _data_name(module, int(m.group(1), 16)), text)


_DATA = re.compile(r"@data:([0-9a-f]+)@")


@functools.lru_cache(maxsize=16)
def _data_symbols(module: str) -> tuple[tuple[int, int, str], ...]:
    """(start, size, name) of the module's data objects, from binutils' nm."""
    tool = shutil.which("nm")
    if not module or not tool:
        return ()
    try:
        out = subprocess.run([tool, "-S", "--defined-only", module], capture_output=True,
                             text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    syms = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "bBdDgGsS":
            syms.append((int(parts[0], 16), int(parts[1], 16), parts[3]))
    return tuple(sorted(syms))


def _data_name(module: str, offset: int) -> str:
    for start, size, name in _data_symbols(module):
        if start <= offset < start + max(size, 1):
            return name if offset == start else f"{name}+{offset - start}"
    return f"data offset {offset:#x}"
