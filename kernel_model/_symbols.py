"""Code addresses in the engine's reports, as file:line.

The C side names the code that made an access as ``@pc:HEX@`` (an offset into the
compiled module, c_src/engine/engine.c `fr_pc_text`); only the reports a user reads
are resolved, lazily, with binutils' ``addr2line`` on the module's shared object.
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
    """`text` with every ``@pc:HEX@`` replaced by file:line (or the best name known)."""
    if "@pc:" not in text:
        return text
    return _PC.sub(lambda m: _resolve(module, int(m.group(1), 16)), text)
