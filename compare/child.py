"""A phase in a child process, from the parent's side (`compare._worker` is the child's).

The proposal is untrusted code: `validate` (and `flowrace replay` of a crash) never runs it
in its own process. `run_child` starts the child in a process group of its own, takes its
result on a pipe only the child's own code writes to (authenticated, size-limited), and
kills it, with everything it started, at its timeout or when it stops making progress.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kernel_model import FlowraceError, ProposalBuildError

#: how long one seeded execution may make no progress before it is a hang: executions take
#: microseconds to milliseconds, so this is far from any slow machine's figures
STALL_SECONDS = 5.0
#: what a phase's child may send back (a matrix of cells is the largest: a few MB)
RESULT_LIMIT = 256 << 20


@dataclass
class ChildResult:
    ok: bool
    value: dict[str, Any] | None
    crash: str | None  # "crashed with SIGSEGV", "hung (...)", "exited with code 0 (...)"
    stderr: str
    #: processes the child left in its process group (the proposal forked): killed
    leftovers: int = 0
    #: the child ran out of the time it was given (not a stall: see `stalled`)
    timed_out: bool = False
    stalled: bool = False
    forked: bool = False


def _drain(f, limit: int, keep_tail: bool, into: list[bytes]) -> None:
    """Read the binary file `f` to its end; keep at most `limit` bytes (head or tail)."""
    size = 0
    with contextlib.suppress(OSError, ValueError):
        while chunk := f.read1(1 << 16) if hasattr(f, "read1") else f.read(1 << 16):
            into.append(chunk)
            size += len(chunk)
            while size > limit and len(into) > 1:
                size -= len(into.pop(0 if keep_tail else -1))


def run_child(phase: str, args: dict[str, Any], timeout: float, *,
              progress: Path | None = None, stall: float = STALL_SECONDS) -> ChildResult:
    """Run one phase in a child process of its own process group (`compare._worker`).

    The result comes back on a pipe the child inherits (never stdout), authenticated with
    a key only the child's own code reads, before the proposal loads; anything else the
    child prints is ignored. The child is killed, with everything it started in its
    group, when `timeout` passes, or when `progress` (a file the child rewrites before
    each execution) stops changing for `stall` seconds once it has started."""
    from kernel_model import _children

    from . import _worker

    key = secrets.token_bytes(32)
    r_fd, w_fd = os.pipe()
    try:
        # a group of its own (killed whole), and a tag in the environment of everything
        # it starts (found and killed even outside the group)
        tag = secrets.token_hex(8)
        proc = subprocess.Popen([sys.executable, "-m", "compare._worker", phase, str(w_fd)],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, pass_fds=(w_fd,),
                                start_new_session=True,
                                env=os.environ | {_children.TAG_VARIABLE: tag})
    except BaseException:
        os.close(r_fd)
        raise
    finally:
        os.close(w_fd)
    pgid = proc.pid
    _children.register_group(pgid)
    result: list[bytes] = []
    err: list[bytes] = []
    channel = open(r_fd, "rb", buffering=0)  # noqa: SIM115 - closed below
    readers = [threading.Thread(target=_drain, args=(channel, RESULT_LIMIT, False, result),
                                daemon=True),
               threading.Thread(target=_drain, args=(proc.stderr, 64 << 10, True, err),
                                daemon=True)]
    for t in readers:
        t.start()
    request = json.dumps({"key": key.hex(), "args": args}).encode()

    def feed() -> None:
        with contextlib.suppress(OSError):
            proc.stdin.write(request)
            proc.stdin.close()

    threading.Thread(target=feed, daemon=True).start()
    end = time.monotonic() + timeout
    timed_out = stalled = False
    seen, changed = b"", time.monotonic()
    try:
        while True:
            try:
                rc = proc.wait(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if progress is not None:
                try:
                    now_seen = progress.read_bytes()
                except OSError:
                    now_seen = b""
                if now_seen != seen:
                    seen, changed = now_seen, now
                elif seen and now - changed > stall:
                    stalled = True
            if stalled or now >= end:
                timed_out = not stalled
                _children.kill_group(pgid)
                rc = proc.wait()
                break
        # what the child left running, in its group and outside it: counted, killed
        members = sorted(set(_children.group_members(pgid)) | set(_children.tagged(tag)))
        _children.kill_group(pgid)
        _children.kill_pids(members)
    finally:
        if proc.poll() is None:
            _children.kill_group(pgid)
            proc.wait()
        _children.unregister_group(pgid)
    for t in readers:
        t.join(timeout=5)  # EOF once the group is dead (unless a process escaped it)
    channel.close()
    proc.stderr.close()
    stderr = b"".join(err).decode(errors="replace")
    doc = _worker.parse_frame(key, b"".join(result))
    leftovers = len(members)
    if stalled or timed_out:
        waited = f"{stall:.0f} s without progress" if stalled else f"within {timeout:.0f} s"
        return ChildResult(False, None, f"hung (no answer {waited})", stderr, leftovers,
                           timed_out, stalled)
    if doc is not None:
        forked = bool(doc.get("forked")) or leftovers > 0
        if "ok" in doc and isinstance(doc["ok"], dict):
            return ChildResult(True, doc["ok"], None, stderr, leftovers, forked=forked)
        if "build_error" in doc:
            raise ProposalBuildError(Path(str(doc.get("source"))), str(doc["build_error"]))
        if "user_error" in doc:
            raise FlowraceError(str(doc["user_error"]))
        return ChildResult(False, None, f"failed: {doc.get('error')}",
                           str(doc.get("traceback", stderr)), leftovers, forked=forked)
    if rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = f"signal {-rc}"
        return ChildResult(False, None, f"crashed with {name}", stderr, leftovers)
    said = stderr.strip().splitlines()
    last = f"; it said: {said[-1][:200]}" if said else ""
    return ChildResult(False, None, f"exited with code {rc} before it finished (exit() "
                       f"called inside the proposal?{last})", stderr, leftovers)
