"""``python -m sysphase.bench --policy-gen``: policy generation against the number of phases.

A program can cut its run into thousands of phases (one per marker call),
and a phase's filter allows what it and every later phase need, so a naive
generator grows quadratically with phases. This series builds synthetic
profiles in memory (:func:`synthetic_profile`: one program with N phases,
a thread, and a forked child that execs a helper) for N = 10, 100, 1,000 and
3,000 and measures, each in a fresh interpreter (a subprocess, so that the
peak memory of one size does not hide the next): the time of
:func:`sysphase.policy.generate.generate` and of encoding the policy, the
encoded size, the number of provenance entries, and the peak RSS (VmHWM,
reset before generating; ``ru_maxrss`` where it cannot be reset) after
generating and after encoding.

Sizes above the per-program phase limit
(:data:`sysphase.policy.generate.MAX_PHASES`) are refused by ``sysphase
policy``; the series measures them with the limit raised (the ``max_phases``
parameter of ``generate``, for benchmarks and tests) and also reports how
long the refusal takes with the default limit.

Never asserts on time: it prints what it measured.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sysphase.bench.errors import BenchError
from sysphase.model.frozen import FrozenMap
from sysphase.model.profile import Phase, ProcessNode, Profile, SyscallStat
from sysphase.model.tree import NodeKind

__all__ = [
    "DEFAULT_SERIES",
    "GenResult",
    "measure",
    "measure_in_subprocess",
    "render_series",
    "run_series",
    "synthetic_profile",
    "to_json",
]

#: The phase counts of the series.
DEFAULT_SERIES: tuple[int, ...] = (10, 100, 1_000, 3_000)

PROGRAM = "/usr/bin/synthetic"
HELPER = "/usr/bin/helper"

#: Called in every phase (a server loop's calls).
_COMMON = ("read", "write")
#: Phase k also calls two of these, cycling (each every eighth phase), so phases differ.
_POOL = (
    "openat", "close", "fstat", "lseek", "mmap", "munmap", "pread64", "pwrite64",
    "sendto", "recvfrom", "accept4", "getsockname", "fcntl", "getdents64", "nanosleep", "getpid",
)  # fmt: skip


def _stats(names: Sequence[str], k: int) -> FrozenMap[SyscallStat]:
    return FrozenMap(
        {n: SyscallStat(1 + (k + i) % 7, 0, 1000 + i, 0) for i, n in enumerate(sorted(names))}
    )


def synthetic_profile(phases: int) -> Profile:
    """A profile of one program with ``phases`` phases (at least 1), built in memory.

    0 /usr/bin/synthetic (spawn): phases ``start``, ``m1`` .. ``m{N-1}`` (trigger
      ``marker``), each with two common calls and two others from a pool
    1 └ thread, created in ``start``: the common calls in every tenth phase
    2 └ fork in the middle phase: ``clone``, ``execve``
    3   └ exec /usr/bin/helper: one phase
    """
    if phases < 1:
        raise ValueError("a profile needs at least one phase")
    names = ["start", *(f"m{k}" for k in range(1, phases))]
    pool = len(_POOL)
    main = tuple(
        Phase(
            k,
            name,
            "start" if k == 0 else "marker",
            _stats([*_COMMON, *(_POOL[(2 * k + j) % pool] for j in range(2))], k),
        )
        for k, name in enumerate(names)
    )
    thread = tuple(
        Phase(k // 10, names[k], "start" if k == 0 else "inherited", _stats(_COMMON, k))
        for k in range(0, phases, 10)
    )
    middle = phases // 2
    fork = (Phase(0, names[middle], "inherited", _stats(("clone", "execve"), middle)),)
    helper = (Phase(0, "helper", "exec", _stats(("read", "write", "exit_group"), 0)),)
    argv = (PROGRAM.rsplit("/", 1)[-1],)
    nodes = (
        ProcessNode(0, None, NodeKind.SPAWN, PROGRAM, argv, None, None, "exited 0", main),
        ProcessNode(1, 0, NodeKind.THREAD, PROGRAM, argv, None, None, "exited 0", thread),
        ProcessNode(2, 0, NodeKind.FORK, PROGRAM, argv, None, None, None, fork),
        ProcessNode(3, 2, NodeKind.EXEC, HELPER, ("helper",), None, None, "exited 0", helper),
    )
    return Profile(argv, "x86_64", 1, True, nodes)


@dataclass(frozen=True, slots=True)
class GenResult:
    """One size of the series, measured in one fresh interpreter."""

    phases: int
    profile_bytes: int
    #: None when generation was refused (the phase limit); then ``refused`` says why
    generate_s: float | None
    encode_s: float | None
    policy_bytes: int | None
    provenance_entries: int | None
    allowed_entries: int | None
    rss_before_kib: int
    #: the peak RSS when generation ended, and when encoding ended
    peak_generate_kib: int
    peak_rss_kib: int
    refused: str | None = None

    @property
    def growth_kib(self) -> int:
        """How far the peak RSS rose above the RSS before generating, while generating."""
        return max(0, self.peak_generate_kib - self.rss_before_kib)


def _status_kib(field: str) -> int | None:
    """VmRSS or VmHWM (the peak RSS) of this process, in KiB; None if unreadable."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset the peak RSS to the current RSS (Linux 4.0+: ``5`` to clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:
        return False
    return True


def _peak_kib(reset: bool) -> int:
    if reset:
        got = _status_kib("VmHWM")
        if got is not None:
            return got
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def measure(phases: int, max_phases: int | None = None) -> GenResult:
    """Generate and encode the policy of :func:`synthetic_profile` here, timed.

    ``max_phases`` None: the default limit (a size above it is refused, and
    the refusal is timed); else the limit is raised to that.
    """
    from sysphase.errors import PolicyError
    from sysphase.model import profile_codec
    from sysphase.policy.codec import encode
    from sysphase.policy.generate import generate

    profile = synthetic_profile(phases)
    before = _status_kib("VmRSS") or 0
    reset = _reset_peak()  # else the peak would include building the profile
    t0 = time.perf_counter()
    try:
        if max_phases is None:
            policy = generate(profile)
        else:
            policy = generate(profile, max_phases=max_phases)
    except PolicyError as err:
        took = time.perf_counter() - t0
        peak = _peak_kib(reset)
        profile_bytes = len(profile_codec.encode(profile).encode())
        return GenResult(
            phases, profile_bytes, took, None, None, None, None, before, peak, peak, str(err)
        )
    t1 = time.perf_counter()
    generated = _peak_kib(reset)
    text = encode(policy)
    t2 = time.perf_counter()
    peak = _peak_kib(reset)
    provenance = sum(
        len(a.provenance) for prog in policy.programs for ph in prog.phases for a in ph.allowed
    )
    allowed = sum(len(ph.allowed) for prog in policy.programs for ph in prog.phases)
    policy_bytes = len(text.encode())
    del policy, text
    profile_bytes = len(profile_codec.encode(profile).encode())  # last: its memory is not measured
    return GenResult(
        phases,
        profile_bytes,
        t1 - t0,
        t2 - t1,
        policy_bytes,
        provenance,
        allowed,
        before,
        generated,
        peak,
    )


def measure_in_subprocess(
    phases: int, max_phases: int | None = None, timeout: float = 1800.0
) -> GenResult:
    """:func:`measure` in a fresh ``python -m sysphase.bench.policygen`` process.

    BenchError (one sentence) when it fails or takes longer than ``timeout`` seconds.
    """
    argv = [sys.executable, "-m", "sysphase.bench.policygen", str(phases)]
    if max_phases is not None:
        argv.append(str(max_phases))
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise BenchError(
            f"policy generation with {phases:,} phases took longer than {timeout:.0f} s"
        ) from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise BenchError(
            f"policy generation with {phases:,} phases failed "
            f"(exit status {done.returncode}): {last}"
        )
    data = json.loads(done.stdout)
    return GenResult(**data)


def run_series(
    sizes: Sequence[int] = DEFAULT_SERIES,
    progress: Callable[[str], None] | None = None,
) -> list[GenResult]:
    """Every size with the limit raised to fit; sizes above the limit also with the default."""
    from sysphase.policy.generate import MAX_PHASES

    results = []
    for n in sizes:
        if progress is not None:
            progress(f"policy generation: {n:,} phases")
        results.append(measure_in_subprocess(n, max(n, MAX_PHASES)))
        if n > MAX_PHASES:
            results.append(measure_in_subprocess(n))
    return results


def _mib(kib: int) -> str:
    return f"{kib / 1024:.1f}"


def render_series(results: Sequence[GenResult], limit: int) -> str:
    """The series as a text table, one row per measurement."""
    lines = [
        "policy generation: one program with N phases (synthetic profile, "
        "each size in a fresh interpreter)",
        f"  {'phases':>7}{'profile KiB':>13}{'generate s':>12}{'+MiB':>8}{'encode s':>10}"
        f"{'policy KiB':>12}{'provenance':>12}{'peak MiB':>10}",
    ]
    for r in results:
        head = f"  {r.phases:>7,}{r.profile_bytes / 1024:>13.1f}"
        if r.refused is not None:
            took = f"{r.generate_s or 0.0:>12.4f}"
            lines.append(f"{head}{took}  refused (limit {limit}): {r.refused}")
            continue
        lines.append(
            f"{head}{r.generate_s or 0.0:>12.3f}{_mib(r.growth_kib):>8}{r.encode_s or 0.0:>10.3f}"
            f"{(r.policy_bytes or 0) / 1024:>12.1f}{r.provenance_entries or 0:>12,}"
            f"{_mib(r.peak_rss_kib):>10}"
        )
    lines += [
        "  +MiB: peak RSS growth while generating; peak MiB: the process's peak RSS after "
        "encoding; provenance: entries in the policy",
        f"  sizes above {limit} phases are measured with the limit raised "
        "(generate's max_phases); sysphase policy refuses them (the refused row)",
    ]
    return "\n".join(lines) + "\n"


def to_json(results: Sequence[GenResult], limit: int) -> dict[str, object]:
    """The series as JSON data."""
    return {
        "max_phases": limit,
        "series": [{k: getattr(r, k) for k in GenResult.__slots__} for r in results],
    }


def _child(argv: Sequence[str]) -> int:
    phases = int(argv[0])
    max_phases = int(argv[1]) if len(argv) > 1 else None
    r = measure(phases, max_phases)
    print(json.dumps({k: getattr(r, k) for k in GenResult.__slots__}))
    return 0


if __name__ == "__main__":
    raise SystemExit(_child(sys.argv[1:]))
