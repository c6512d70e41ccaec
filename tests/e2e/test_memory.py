"""Tracer memory is bounded by distinct (process, phase, syscall) triples, not by events.

`sysphase trace -c` runs the getppid loop with 1,000 and with 100,000 calls
(198,000 ptrace stops more) through the benchmark's measuring helper, which
reports the peak RSS (``ru_maxrss``) of the sysphase processes. Same tree,
same triples: the peaks must be within 2 MiB (one leaked malloc per stop,
32 bytes at least, would add 6 MiB). A memory assertion, not a timing one;
`python -m sysphase.bench` shows the same on 1,000,000 calls.
"""

from __future__ import annotations

import os

from sysphase.bench.measure import build_measure, run_once
from tests.conftest import sysphase_cmd


def test_peak_rss_does_not_grow_with_events(fx, tmp_path):
    measure = build_measure(outdir=tmp_path)
    env = os.environ.copy()

    def peak_kib(calls: int) -> int:
        argv = sysphase_cmd("trace", "-c", "-o", os.devnull, "--", fx["loop"], str(calls))
        result = run_once(argv, env, measure=measure)
        assert result.exit_code == 0, result.stderr_tail
        return result.sample.max_rss_kib

    small = peak_kib(1000)
    big = peak_kib(100_000)
    assert big - small < 2048, f"peak RSS {small} KiB for 1,000 calls, {big} KiB for 100,000"
