"""Child processes that run untrusted or stuck-prone C code, and how they end.

Every process flowrace starts to run a variant (validate's phases, stress runs, `--jobs`
workers) is registered here with its process group, so that one place can kill them all:
when a phase's deadline passes, and when the user interrupts (SIGINT -> exit 130,
SIGTERM -> exit 143, with no process left behind). A child also asks the kernel to kill
it when its parent dies (`die_with_parent`), so that even a SIGKILLed flowrace leaves
nothing running.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading

_lock = threading.Lock()
_groups: set[int] = set()  # process groups to kill on an interrupt
_pids: set[int] = set()  # single processes (pool workers sharing our group)

INTERRUPTS = {signal.SIGINT: 130, signal.SIGTERM: 143}
_PR_SET_PDEATHSIG = 1


def register_group(pgid: int) -> None:
    with _lock:
        _groups.add(pgid)


def unregister_group(pgid: int) -> None:
    with _lock:
        _groups.discard(pgid)


def register_pid(pid: int) -> None:
    with _lock:
        _pids.add(pid)


def unregister_pid(pid: int) -> None:
    with _lock:
        _pids.discard(pid)


def group_members(pgid: int) -> list[int]:
    """Processes of group `pgid` that are not zombies: a scan of /proc."""
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            # pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses
            fields = stat[stat.rfind(b")") + 2:].split()
            if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
                found.append(int(entry.name))
    return found


#: the environment variable that marks every process a child started (see `tagged`)
TAG_VARIABLE = "FLOWRACE_CHILD_TAG"


def tagged(tag: str) -> list[int]:
    """Processes (not zombies) whose environment carries TAG_VARIABLE=tag: what a child
    started, even in another process group or session (a scan of /proc)."""
    needle = f"{TAG_VARIABLE}={tag}\0".encode()
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                with open(f"/proc/{entry.name}/environ", "rb") as f:
                    if needle not in f.read() + b"\0":
                        continue
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            if stat[stat.rfind(b")") + 2:][:1] not in (b"Z", b"X"):
                found.append(int(entry.name))
    return found


def kill_pids(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def kill_all() -> None:
    """Kill every registered child (and what it started in its group)."""
    with _lock:
        groups, pids = list(_groups), list(_pids)
    for pgid in groups:
        kill_group(pgid)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def die_with_parent() -> None:
    """In a child: SIGKILL when the parent dies (Linux; elsewhere nothing), and the
    default dispositions of the interrupts (a forked child inherits the parent's)."""
    with contextlib.suppress(ValueError):  # not the main thread: nothing was inherited
        signal.set_wakeup_fd(-1)
        for sig in INTERRUPTS:
            signal.signal(sig, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


_installed = False


def exit_on_interrupt() -> None:
    """SIGINT and SIGTERM end this process at once, even while its main thread is inside
    C code (a variant that spins or sleeps, where Python's own handlers never run): the
    signal handler writes the signal's number to a pipe, a thread reading it kills every
    registered child and exits 130 (SIGINT) or 143 (SIGTERM). Call from the main thread."""
    global _installed
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    _installed = True
    r_fd, w_fd = os.pipe()
    os.set_blocking(w_fd, False)
    for sig in INTERRUPTS:
        signal.signal(sig, lambda *_: None)  # the thread below ends the process
    signal.set_wakeup_fd(w_fd, warn_on_full_buffer=False)

    def wait() -> None:
        while True:
            data = os.read(r_fd, 1)
            if data and data[0] in (int(s) for s in INTERRUPTS):
                break
        sig = signal.Signals(data[0])
        kill_all()
        with contextlib.suppress(Exception):
            os.write(2, f"flowrace: interrupted ({sig.name})\n".encode())
        os._exit(INTERRUPTS[sig])

    threading.Thread(target=wait, name="flowrace-interrupts", daemon=True).start()


def run(cmd: list[str], *, timeout: float | None = None, **kwargs):
    """subprocess.run in a process group of its own, registered (an interrupt kills it
    with us); on a timeout the whole group is killed and TimeoutExpired raised."""
    import subprocess

    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **kwargs)
    register_group(proc.pid)
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException:
        kill_group(proc.pid)
        proc.communicate()
        raise
    finally:
        kill_group(proc.pid)  # what it left in its group
        unregister_group(proc.pid)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)
