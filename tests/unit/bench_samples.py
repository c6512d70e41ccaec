"""Benchmark samples for the tests/unit/test_bench_*.py tests.

``full_samples`` are three rounds of the classic modes (native, trace -c,
its start-up, strace); ``every_mode`` adds the issue 7 modes;
``redis_summary`` is a redis run measured in requests per second.
"""

from __future__ import annotations

from sysphase.bench.report import BenchInfo
from sysphase.bench.stats import (
    BASELINE,
    BPFTRACE,
    EBPF,
    NATIVE,
    PATHS,
    RECORD,
    SETS_ONLY,
    STARTUP,
    STRACE,
    SYSPHASE,
    Sample,
    summarise,
)

CLASSIC = (NATIVE, SYSPHASE, STARTUP, STRACE)
INFO = BenchInfo(
    rounds=3, python="CPython 3.11.7", strace="strace 6.1", kernel="6.1.0", cpus=2, modes=CLASSIC
)


def s(seconds: float, rss: int = 1024, cpu: float = 0.0) -> Sample:
    return Sample(seconds=seconds, max_rss_kib=rss, cpu_seconds=cpu)


def full_samples() -> dict[str, list[Sample]]:
    return {
        NATIVE: [s(0.10, 1100), s(0.12, 1200), s(0.11, 1150)],
        SYSPHASE: [s(60.2, 18000), s(60.0, 19400), s(61.0, 18500)],
        STARTUP: [s(0.15, 18000), s(0.16, 18100), s(0.14, 17900)],
        STRACE: [s(88.0, 3300), s(88.5, 3400), s(87.9, 3200)],
    }


def every_mode() -> dict[str, list[Sample]]:
    samples = full_samples()  # native 0.11, trace -c 60.2, start-up 0.15, strace 88.0
    samples[SETS_ONLY] = [s(30.0, 17000)]
    samples[RECORD] = [s(60.3, 17000)]
    samples[PATHS] = [s(61.0, 17000)]
    samples[BASELINE] = [s(0.27, 17000)]  # 0.12 s over the start-up: 1.09 x native
    samples[EBPF] = [s(0.5, 33000)]
    samples[BPFTRACE] = [s(1.0, 99000)]
    return samples


def redis_summary(sets_rate: float, unavailable: dict[str, str] | None = None):
    def rate(v: float) -> list[Sample]:
        return [Sample(1.0, 12000, 0.0, (("SET", v), ("GET", v)))]

    samples = {NATIVE: rate(100_000.0), STRACE: rate(30_000.0)}
    if sets_rate:
        samples[SETS_ONLY] = rate(sets_rate)
    return summarise(
        "redis", "redis", ["redis-server"], samples, throughput=True, unavailable=unavailable
    )
