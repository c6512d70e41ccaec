"""The benchmark command, ``python -m sysphase.bench``.

It times syscall-heavy workloads natively, under ``sysphase trace -c`` (the
real command line, in a subprocess) and under ``strace -f -c``, alternating
the modes over a few rounds in the same invocation, and prints the overhead
ratio ``(sysphase - native) / (strace - native)`` against the target in
docs/design.md ("Performance targets": at most 1.0), plus the tracer's peak memory.

It never asserts on times: it exits 0 when everything ran, whatever the
ratios, and non-zero with one sentence on stderr when a workload could not
run.

Modules: :mod:`.stats`, :mod:`.verdicts` and :mod:`.report` are pure
(statistics, ratios, targets, text and JSON rendering); :mod:`.workloads`
defines the workloads and builds the ``loop`` program; :mod:`.runner` runs
every mode over the rounds, :mod:`.measure` measures one process and
:mod:`.server` drives a server workload.
"""
