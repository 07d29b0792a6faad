"""--cluster ADDRESS: run the parts that --jobs runs on a Dask distributed cluster.

The same parts as `_parallel` (dfs schedule-prefix shards, random/pct seed ranges; the
matrix's (driver, scenario) pairs and validate's phases use the same machinery, see
`compare._cluster`) become Dask tasks. Only this module and `compare._cluster` import
`distributed`, and only when a cluster address is given.

What travels: each task carries the driver's C source (bytes, with its sha256), the
scenario's definition (the `Scenario` dataclass) and the part (plain data). Nothing is a
path: a worker writes the source into its own cache directory, compiles it there (the
cache is keyed by the content, so the next part of the same driver reuses the module),
and checks that its C engine is the client's (a different flowrace on a worker would
judge a different model).

Isolation: a proposal's C code is untrusted and may crash. It never runs in the Dask
worker process: each worker thread keeps one child process (`python -m
kernel_model.explore._cluster`) that runs parts one after the other and keeps its
compiled targets. A part whose child dies is run again in a fresh child; a part that dies
the same way twice is a finding (the proposal crashed), reported with the part, not a
lost part. A Dask worker that dies itself (a machine lost, a worker killed) has its
tasks rescheduled on the other workers by the scheduler; a task that kills
`distributed.scheduler.allowed-failures` workers in a row comes back as a crash finding
too. (Dask's `retries=` only re-runs a task that raised; a Python error in a part is a
bug or a user error that would raise the same way again, so it is reported at once.)
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import re
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import FlowraceError

ENV = "FLOWRACE_CLUSTER"
_ADDRESS = re.compile(r"^(?:(tcp|tls|ucx|ws|wss)://)?(\[[0-9a-fA-F:]+\]|[\w.-]+):(\d{1,5})$")


# ---- the client side ---------------------------------------------------------------------
def cluster_address(option: str | None) -> str | None:
    """The address given (the option, else $FLOWRACE_CLUSTER), checked; None: run locally."""
    text = option if option is not None else os.environ.get(ENV)
    if text is None or not text.strip():
        if option is not None:
            raise FlowraceError("--cluster needs an address, e.g. tcp://scheduler:8786")
        return None
    text = text.strip()
    m = _ADDRESS.match(text)
    if not m or not 0 < int(m.group(3)) < 65536:
        where = "--cluster" if option is not None else ENV
        raise FlowraceError(f"{where}: {text!r} is not a Dask scheduler address "
                            "(tcp://HOST:PORT, e.g. tcp://scheduler:8786)")
    return text if m.group(1) else f"tcp://{text}"


_clients: dict[str, Any] = {}


def connect(address: str, *, timeout: float = 20.0):
    """A Dask client of the scheduler at `address` (one per process), with at least one
    worker. Every failure is one FlowraceError line."""
    client = _clients.get(address)
    if client is not None and client.status == "running":
        return client
    try:
        import logging

        import distributed
    except ImportError:
        raise FlowraceError("--cluster needs Dask distributed: pip install 'flowrace[cluster]'"
                            ) from None
    logging.getLogger("distributed").setLevel(logging.CRITICAL)  # our errors say it once
    try:
        client = distributed.Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise FlowraceError(f"cannot reach the Dask scheduler at {address}: "
                            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                            ) from None
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (TimeoutError, OSError):
        client.close()
        raise FlowraceError(f"the Dask scheduler at {address} has no worker (start one: "
                            f"dask worker {address})") from None
    _clients[address] = client
    return client


def workers(client) -> tuple[int, int]:
    """(workers, threads) of the cluster now."""
    n = client.nthreads()
    return len(n), sum(n.values()) or 1


@dataclass(frozen=True)
class DriverSource:
    """A driver variant as it travels: its C source (not a path) and what it must be."""

    name: str  # the built-in name, or the proposal's file stem
    data: bytes
    sha256: str
    builtin: bool
    engine: str  # digest of the C engine, core and shim the client runs

    @classmethod
    def of(cls, variant) -> DriverSource:
        data = Path(variant.source).read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        if sha != variant.sha256:
            raise FlowraceError(f"{variant.source} changed since it was compiled; run again")
        stem = variant.name if variant.builtin else Path(variant.source).stem
        return cls(stem, data, sha, variant.builtin, engine_digest())

    def write(self) -> Path:
        """On a worker: the source as a file of its own (the built-in one when it is the
        same), in the worker's cache; nothing is compiled or run."""
        from ..variants import _build, _name_to_stem, cache_dir

        if self.engine != engine_digest():
            raise FlowraceError(
                f"this worker runs another flowrace C engine ({engine_digest()}, the client "
                f"{self.engine}): install the same flowrace on the client and the workers")
        if self.builtin:
            mine = _build.csrc_dir() / "variants" / f"{_name_to_stem(self.name)}.c"
            if mine.is_file() and hashlib.sha256(mine.read_bytes()).hexdigest() == self.sha256:
                return mine
        folder = cache_dir() / "sources" / self.sha256[:24]
        path = folder / f"{re.sub(r'[^A-Za-z0-9_]', '_', self.name)}.c"
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != self.sha256:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(self.data)
            os.replace(tmp, path)
        return path

    def materialise(self):
        """On a worker's child: the compiled variant, from the cache when built before."""
        from ..variants import _build, _name_to_stem, load_variant

        path = self.write()
        if self.builtin and path == _build.csrc_dir() / "variants" / (
                f"{_name_to_stem(self.name)}.c"):
            return load_variant(self.name)
        return load_variant(str(path))


def engine_digest() -> str:
    from .. import _build

    key = hashlib.sha256()
    csrc = _build.csrc_dir()
    for rel in (*_build.CORE_SOURCES, *_build.HEADERS):
        key.update((csrc / rel).read_bytes())
    return key.hexdigest()[:16]


@dataclass
class Crashed:
    """A part whose code killed its process the same way twice: a finding."""

    what: str  # the part, described
    crash: str  # "crashed with SIGSEGV", "hung (no answer within 60 s)", ...


def submit(client, fn: str, payload: Any, *, timeout: float | None, what: str):
    """A Dask task that runs `fn` ("module:function") on `payload` in a worker's child
    process; its result is ("ok", value) or ("crash", description)."""
    return client.submit(run_task, fn, payload, timeout, what, pure=False)


def result_of(future, what: str) -> tuple[str, Any]:
    """A task's result; a task that killed every worker it ran on is a crash too."""
    from distributed import KilledWorker

    try:
        return future.result()
    except KilledWorker:
        return "crash", "killed the Dask worker running it, again and again"


class Status:
    """Parts done / in flight and the cluster's workers, for the progress line."""

    def __init__(self, client, address: str):
        self.client, self.address = client, address
        self.done = self.in_flight = 0
        self.workers, self.threads = workers(client)
        self._asked = time.monotonic()

    def refresh(self) -> dict[str, Any]:
        if time.monotonic() - self._asked > 1.0:
            self.workers, self.threads = workers(self.client)
            self._asked = time.monotonic()
        return {"address": self.address, "done": self.done, "in_flight": self.in_flight,
                "workers": self.workers}


def run_parts(target, parts_iter: Iterator, address: str, deadline: float | None,
              max_executions: int, done, on_progress: Callable | None,
              merge: Callable, per_task: int = 1) -> tuple[Any, bool]:
    """`_parallel.run_parts` on the cluster: parts are consumed as workers free up and
    merged into `done` with the same `merge`, `per_task` parts to a task (many small dfs
    shards: a task costs milliseconds). Crashed tasks go to done.details["crashed_parts"].
    Returns (progress, every part finished)."""
    from distributed import as_completed

    client = connect(address)
    status = Status(client, address)
    driver = DriverSource.of(target.variant)
    wall = None if deadline is None else time.time() + (deadline - time.monotonic())
    all_finished = True
    exhausted = False
    pending: dict[Any, str] = {}
    queue = as_completed(loop=client.loop)
    hard = None if deadline is None else max(deadline - time.monotonic(), 0) + 120.0

    def submit_next() -> bool:
        nonlocal exhausted
        parts = []
        for part in parts_iter:
            parts.append(part)
            if len(parts) >= per_task:
                break
        else:
            exhausted = True
        if not parts:
            return False
        what = describe_part(parts[0]) + (f" (and {len(parts) - 1} more)" if parts[1:] else "")
        payload = (driver, target.scenario, target.max_steps, parts, wall)
        fut = submit(client, "kernel_model.explore._cluster:explore_part", payload,
                     timeout=hard, what=what)
        pending[fut] = what
        queue.add(fut)
        status.in_flight += 1
        return True

    for _ in range(3 * status.threads):
        if not submit_next():
            break
    for fut in queue:
        what = pending.pop(fut)
        kind, piece = result_of(fut, what)
        status.in_flight -= 1
        status.done += 1
        if kind == "crash":
            all_finished = False
            done.details.setdefault("crashed_parts", []).append(
                {"part": what, "crash": piece})
        else:
            all_finished &= piece.complete
            merge(done, piece)
        done.details["cluster"] = status.refresh()
        if on_progress:
            on_progress(done)
        over = (max_executions and done.executions >= max_executions) or (
            deadline is not None and time.monotonic() >= deadline)
        if over:
            all_finished = False
        elif not exhausted:
            submit_next()
    if not exhausted:
        all_finished = False
    done.details["cluster"] = {"address": address, "workers": status.workers,
                               "parts": status.done}
    return done, all_finished


def describe_part(part) -> str:
    kw = part.kwargs
    if part.strategy in ("dfs", "dfs-stateful"):
        return f"{part.strategy} prefix {list(kw.get('prefix') or [])}"
    return f"{part.strategy} seeds {kw.get('seed')}..{kw.get('seed', 0) + part.max_executions - 1}"


# ---- the worker side: one child process per worker thread --------------------------------
class _Child:
    """A process that runs parts (`python -m kernel_model.explore._cluster`): pickled
    frames in on stdin, out on a copy of stdout (the proposal's own output goes to
    stderr, the worker's log)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "kernel_model.explore._cluster"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     start_new_session=True)

    def call(self, fn: str, payload: Any, timeout: float | None) -> tuple[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        data = pickle.dumps((fn, payload))
        try:
            self.proc.stdin.write(struct.pack("!Q", len(data)) + data)
            self.proc.stdin.flush()
        except BrokenPipeError:
            return "died", self._death()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.kill()
            return "died", f"hung (no answer within {timeout:.0f} s)"
        head = self.proc.stdout.read(8)
        if len(head) < 8:
            return "died", self._death()
        (n,) = struct.unpack("!Q", head)
        body = self.proc.stdout.read(n)
        if len(body) < n:
            return "died", self._death()
        return pickle.loads(body)

    def _death(self) -> str:
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
            return "stopped answering"
        if rc < 0:
            try:
                return f"crashed with {signal.Signals(-rc).name}"
            except ValueError:
                return f"crashed with signal {-rc}"
        return f"exited with code {rc}"

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


_idle: list[_Child] = []
_idle_lock = threading.Lock()


def run_task(fn: str, payload: Any, timeout: float | None, what: str) -> tuple[str, Any]:
    """The Dask task (runs in the worker process): `fn(payload)` in a child; a child that
    dies is replaced and the part run again; the same death twice is a crash finding."""
    deaths: list[str] = []
    while True:
        with _idle_lock:
            child = _idle.pop() if _idle else None
        if child is None or child.proc.poll() is not None:
            child = _Child()
        kind, value = child.call(fn, payload, timeout)
        if kind == "died":
            if value in deaths or len(deaths) >= 2:
                return "crash", value
            deaths.append(value)
            continue
        with _idle_lock:
            _idle.append(child)
        if kind == "error":
            raise FlowraceError(f"{what}: {value}")
        return "ok", value


# ---- in the child ------------------------------------------------------------------------
_targets: dict[tuple, Any] = {}


def target_for(driver: DriverSource, scenario, max_steps: int):
    """The compiled (driver, scenario) of this child, built once."""
    key = (driver.sha256, driver.name, repr(scenario), max_steps)
    if key not in _targets:
        from ._engine import Target

        _targets[key] = Target.make(driver.materialise(), scenario, max_steps)
    return _targets[key]


def explore_part(payload) -> Any:
    """Dfs shards or a seed range, each as `_parallel._work` runs it, merged."""
    from . import _parallel
    from ._protocol import Progress

    driver, scenario, max_steps, parts, wall = payload
    deadline = None if wall is None else time.monotonic() + (wall - time.time())
    _parallel._TARGET = target_for(driver, scenario, max_steps)
    done, complete = Progress(), True
    try:
        for part in parts:
            piece = _parallel._work((part, deadline))
            complete &= piece.complete
            _parallel.merge(done, piece)
    finally:
        _parallel._TARGET = None
    done.complete = complete
    return done


def _child_main() -> None:
    import importlib
    import traceback

    proto_in = os.fdopen(os.dup(0), "rb")
    proto_out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # whatever the proposal prints goes to the worker's log
    while True:
        head = proto_in.read(8)
        if len(head) < 8:
            return
        (n,) = struct.unpack("!Q", head)
        fn, payload = pickle.loads(proto_in.read(n))
        try:
            module, name = fn.split(":")
            out: tuple[str, Any] = ("ok", getattr(importlib.import_module(module), name)(payload))
        except FlowraceError as exc:
            out = ("error", str(exc))
        except Exception:
            out = ("error", traceback.format_exc(limit=5).strip().splitlines()[-1])
        data = pickle.dumps(out)
        proto_out.write(struct.pack("!Q", len(data)) + data)
        proto_out.flush()


if __name__ == "__main__":
    _child_main()
