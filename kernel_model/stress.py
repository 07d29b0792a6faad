"""Stress mode: the same C core and variant on real OS threads with seeded noise."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._checks import check_budget, check_int, check_seed
from ._symbols import symbolize
from .errors import FlowraceError
from .execution import VIOLATION_KINDS, Violation
from .variants import Variant, load_variant


@dataclass
class StressResult:
    driver: str
    connections: int
    threads: int
    seed: int
    seconds: float
    operations: int
    completed: bool
    lingering: int
    open_at_end: int
    open_peak: int
    stats: dict[str, int]
    violations: list[Violation]
    occupancy: list[tuple[float, int]] = field(default_factory=list)
    #: why the run stopped early without a finding: a spin or a lock wait outlived its
    #: budget of CPU time and no deadlock cycle shows (an undecided hang), else None
    timed_out: str | None = None

    @property
    def verdict(self) -> str:
        """FAIL (a finding), INCONCLUSIVE (timed out, nothing proven) or PASS (the run
        completed and nothing was found) — judged by what happened, never by how long
        it took: a cycle of lock waits is a deadlock at once, on any machine."""
        if self.violations or (self.completed and self.lingering):
            return "FAIL"
        return "INCONCLUSIVE" if self.timed_out or not self.completed else "PASS"

    @property
    def ops_per_second(self) -> float:
        return self.operations / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "driver": self.driver,
            "connections": self.connections,
            "threads": self.threads,
            "seed": self.seed,
            "seconds": round(self.seconds, 4),
            "operations": self.operations,
            "ops_per_second": round(self.ops_per_second),
            "completed": self.completed,
            "verdict": self.verdict,
            "timed_out": self.timed_out,
            "lingering": self.lingering,
            "open_at_end": self.open_at_end,
            "open_peak": self.open_peak,
            "dropped_table_full": self.stats.get("flows_dropped_table_full", 0),
            "stats": self.stats,
            "violations": [v.__dict__ for v in self.violations],
            "occupancy": [{"t": round(t, 4), "open": n} for t, n in self.occupancy],
        }


def stress(
    driver: str | Variant,
    connections: int = 10000,
    threads: int = 8,
    seed: int = 1,
    *,
    delete_threads: int = 1,
    late_threads: int = 6,
    data_packets: int = 2,
    noise_permille: int = 500,
    hold_spins: int = 5000,
    open_capacity: int = 32767,
    poll_interval_us: int = 2000,
    max_seconds: float = 600.0,
    hang_cpu_seconds: float = 10.0,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> StressResult:
    """Run `connections` RST-terminated connections over `threads` classify threads, with
    delete-notification, late-packet and poll threads, on real OS threads.

    Each connection: created in openFlows, `data_packets` packets and a received RST
    through its association, then handed to a delete thread that runs its four delete
    notifications; meanwhile `late_threads` threads send late packets, found by handle,
    to the flows whose deletes are running (a storm of RSTs with traffic still
    arriving). At each scheduling point a thread yields or spins for up to `hold_spins`
    iterations with probability `noise_permille`/1000, which widens race windows. Live
    connections are bounded (64 per classify thread), so openFlows fills only with
    flows that linger; once it is full (`open_capacity`) new flows are dropped.

    The run happens in a child process of its own process group: after `max_seconds` the
    C watchdog stops the threads at their next scheduling point, and a thread that never
    reaches one (a hook that sleeps or loops without the shim) is killed with the whole
    group `GRACE` seconds later. Either is a `livelock` finding ("hang: ..."), and so is a
    thread that crashes the process (`crash`).

    Verdicts do not depend on load: a deadlock is a cycle in the waits-for graph of spin
    locks (each lock word holds its owner's token), reported as soon as it is seen twice
    with nothing in it moving; a callback that spins or waits for `hang_cpu_seconds` of
    its own CPU time without such a cycle stops the run as `timed_out` (undecided, not a
    finding).

    `progress`, if given, is called about four times a second while the run goes on with
    ``{"operations", "connections" (done), "lingering" (not moved yet), "seconds"}`` (in
    the child process that runs the threads: it may write to the terminal, nothing else)."""
    connections = check_int(connections, "connections", 1, 100_000_000)
    threads = check_int(threads, "threads", 1, 1024)
    seed = check_seed(seed)
    delete_threads = check_int(delete_threads, "delete_threads", 1, 1024)
    late_threads = check_int(late_threads, "late_threads", 0, 1024)
    data_packets = check_int(data_packets, "data_packets", 0, 1_000_000)
    noise_permille = check_int(noise_permille, "noise_permille", 0, 1000)
    hold_spins = check_int(hold_spins, "hold_spins", 0, 100_000_000)
    open_capacity = check_int(open_capacity, "open_capacity", 1, 100_000_000)
    poll_interval_us = check_int(poll_interval_us, "poll_interval_us", 1, 60_000_000)
    max_seconds = check_budget(max_seconds, "max_seconds")
    hang_cpu_seconds = check_budget(hang_cpu_seconds, "hang_cpu_seconds")
    variant = driver if isinstance(driver, Variant) else load_variant(driver)
    return _in_child(variant, max_seconds, (connections, threads, seed), lambda relay: _stress_here(
        variant, connections, threads, seed, delete_threads, late_threads, data_packets,
        noise_permille, hold_spins, open_capacity, poll_interval_us, max_seconds,
        hang_cpu_seconds, relay), progress)


#: seconds past max_seconds before a stress run's process group is killed
GRACE = 5.0


def _in_child(variant: Variant, max_seconds: float, what: tuple[int, int, int],
              body, progress: Callable[[dict[str, Any]], None] | None = None) -> StressResult:
    """Run `body(relay)` in a forked child (own process group) and bring its result back;
    what the child passes to `relay` reaches `progress` here, a line on a pipe of its own."""
    import json
    import select
    import signal
    import time

    from . import _children

    r_fd, w_fd = os.pipe()
    p_fd, q_fd = os.pipe() if progress is not None else (-1, -1)
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 0
        try:
            os.close(r_fd)
            if p_fd >= 0:
                os.close(p_fd)
            os.setpgid(0, 0)
            _children.die_with_parent()

            def relay(p: dict[str, Any]) -> None:
                with contextlib.suppress(OSError):
                    os.write(q_fd, (json.dumps(p) + "\n").encode())

            try:
                doc = body(relay if q_fd >= 0 else None).to_json()
            except FlowraceError as exc:
                doc = {"error": str(exc)}
            data = json.dumps(doc).encode()
            while data:
                data = data[os.write(w_fd, data):]
        except BaseException:  # noqa: BLE001 - reported by the parent as no result
            code = 3
        finally:
            os._exit(code)
    os.close(w_fd)
    if q_fd >= 0:
        os.close(q_fd)
    with contextlib.suppress(OSError):
        os.setpgid(pid, pid)  # also done by the child: whichever runs first
    _children.register_group(pid)
    chunks: list[bytes] = []
    end = time.monotonic() + max_seconds + GRACE
    killed = False
    try:
        while True:
            left = end - time.monotonic()
            if left <= 0:
                killed = True
                break
            watch = [r_fd] + ([p_fd] if p_fd >= 0 else [])
            ready, _, _ = select.select(watch, [], [], min(left, 0.5))
            if p_fd in ready:
                lines = os.read(p_fd, 1 << 16)
                if not lines:
                    os.close(p_fd)
                    p_fd = -1
                for line in (lines or b"").splitlines()[-1:]:  # the newest is enough
                    with contextlib.suppress(ValueError):
                        progress(json.loads(line))  # type: ignore[misc]
            if r_fd in ready:
                chunk = os.read(r_fd, 1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        _children.kill_group(pid)
        _, status = os.waitpid(pid, 0)
        _children.unregister_group(pid)
        os.close(r_fd)
        if p_fd >= 0:
            os.close(p_fd)
    name = variant.name if variant.builtin else str(variant.source)
    if not killed and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and chunks:
        doc = json.loads(b"".join(chunks))
        if "error" in doc:
            raise FlowraceError(doc["error"])
        doc["violations"] = [Violation(**v) for v in doc["violations"]]
        doc["occupancy"] = [(o["t"], o["open"]) for o in doc["occupancy"]]
        for key in ("ops_per_second", "dropped_table_full", "verdict"):  # derived
            doc.pop(key, None)
        return StressResult(**doc)
    if killed:
        kind, detail = "livelock", (f"hang: a stress thread did not return within "
                                    f"{max_seconds:g} s + {GRACE:g} s (it never reached a "
                                    "scheduling point: a hook that sleeps or loops?); killed")
    elif os.WIFSIGNALED(status):
        kind, detail = "crash", (f"a stress thread crashed the process with "
                                 f"{signal.Signals(os.WTERMSIG(status)).name}")
    else:
        kind, detail = "crash", (f"the stress process exited with code "
                                 f"{os.WEXITSTATUS(status)} (the proposal called exit?)")
    connections, threads, seed = what
    return StressResult(name, connections, threads, seed, max_seconds if killed else 0.0, 0,
                        False, 0, 0, 0,
                        {"flows_dropped_table_full": 0}, [Violation(kind, -1, "", -1, detail)])


def _stress_here(variant: Variant, connections: int, threads: int, seed: int,
                 delete_threads: int, late_threads: int, data_packets: int,
                 noise_permille: int, hold_spins: int, open_capacity: int,
                 poll_interval_us: int, max_seconds: float, hang_cpu_seconds: float,
                 progress: Callable[[dict[str, Any]], None] | None) -> StressResult:
    ffi, lib = variant.ffi, variant.lib
    spec = ffi.new("FR_STRESS_SPEC *")
    spec.connections = connections
    spec.classify_threads = threads
    spec.delete_threads = delete_threads
    spec.late_threads = late_threads
    spec.data_packets = data_packets
    spec.late_packets = 0
    spec.noise_permille = noise_permille
    spec.hold_spins = hold_spins
    spec.open_capacity = open_capacity
    spec.buckets = 4096
    spec.poll_interval_us = poll_interval_us
    spec.seed = seed
    spec.max_seconds = max_seconds
    spec.hang_cpu_seconds = hang_cpu_seconds
    out = ffi.new("FR_STRESS_RESULT *")
    if progress is None:
        rc = lib.fr_stress(spec, out)
    else:  # the C call releases the GIL: watch it from here while a thread runs it
        box: list[int] = []
        runner = threading.Thread(target=lambda: box.append(lib.fr_stress(spec, out)),
                                  daemon=True)
        runner.start()
        now = ffi.new("FR_STRESS_PROGRESS *")
        while runner.is_alive():
            runner.join(0.25)
            if runner.is_alive() and lib.fr_stress_progress(now):
                progress({"operations": now.operations, "connections": now.connections,
                          "lingering": now.lingering, "seconds": now.seconds})
        rc = box[0] if box else -1
    if rc != 0:
        raise FlowraceError(f"stress run failed to start (code {rc}): out of memory or bad sizes")
    stats_c = ffi.new("FR_STATS *")
    lib.fr_stats(stats_c)
    stats = {name: getattr(stats_c, name) for name, _ in ffi.typeof("FR_STATS").fields}
    viol = ffi.new("FR_VIOLATION *")
    violations = []
    for i in range(lib.fr_violations()):
        lib.fr_violation(i, viol)
        violations.append(Violation(VIOLATION_KINDS.get(viol.kind, str(viol.kind)), -1,
                                    f"thread{viol.actor}", viol.flow,
                                    symbolize(variant.module_path,
                                              ffi.string(viol.detail).decode())))
    occupancy = [(out.sample_t[i], out.sample_open[i]) for i in range(out.n_samples)]
    return StressResult(
        driver=variant.name if variant.builtin else str(variant.source),
        connections=connections, threads=threads, seed=seed, seconds=out.seconds,
        operations=out.operations, completed=bool(out.completed), lingering=out.lingering,
        open_at_end=out.open_at_end, open_peak=out.open_peak, stats=stats,
        violations=violations, occupancy=occupancy,
        timed_out=ffi.string(lib.fr_stress_timeout()).decode() or None,
    )
