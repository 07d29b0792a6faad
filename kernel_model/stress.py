"""Stress mode: the same C core and variant on real OS threads with seeded noise."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
    flows that linger; once it is full (`open_capacity`) new flows are dropped."""
    if connections < 1 or threads < 1:
        raise FlowraceError("stress needs at least one connection and one thread")
    if not 0 <= noise_permille <= 1000:
        raise FlowraceError("noise is a per-mille probability, 0 to 1000")
    variant = driver if isinstance(driver, Variant) else load_variant(driver)
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
    spec.seed = seed & 0xFFFFFFFFFFFFFFFF
    spec.max_seconds = 600.0
    out = ffi.new("FR_STRESS_RESULT *")
    rc = lib.fr_stress(spec, out)
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
    )
