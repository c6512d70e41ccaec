"""From a profile to a policy: the phase unions seccomp's semantics demand.

Seccomp filters only ever narrow (a new filter stacks on the old ones) and
children and exec'd programs inherit them. So the filter a process installs
for its phase k must allow what it needs in phase k and every later phase,
what every process it creates from then on needs, and what every program it
execs needs. On the profile's process tree:

- a *process* is a non-thread node together with its threads (thread nodes
  share the process's phases, matched by name); its phase list is the
  ordered union of its nodes' phase names;
- ``need(P, k)`` = the calls of P's nodes in the phases at positions ≥ k
  (a thread alive across a switch counts its calls of an earlier phase up to
  its last phase too: it runs concurrently with the trigger, so in another run
  any of them may come after the switch), plus ``need(C, 0)`` of every child
  process C (fork, vfork, clone) created
  while P was in a phase ≥ k (a child starts in its parent's phase: its
  first phase name, looked up in P's list), plus ``need(E, 0)`` of every
  program P execs (always: an exec may come in any phase);
- per program (executable): the phase list is the ordered union of its
  processes' lists, and phase k allows the union, over the program's
  processes, of their ``need`` from that phase on, and everything its later
  phases allow.

The first phase of the root program therefore allows everything any process
of the tree needs. On top of the trace: always-added calls (vDSO fallbacks,
``restart_syscall``, ``rt_sigreturn``, ``exit``, ``exit_group``), the
enforcer's own calls (``seccomp`` in every phase with a later one, and in
every phase a process that will switch phases runs under; ``prctl`` in the
root program's first phase), ``--portable`` equivalents and ``--args``
conditions.
docs/formats/policy.md says the same for users.

Cost: a program's phases are computed from its last phase backwards, each
phase adding to the running union only what the one after it lacks, so
every (node, phase) of the profile is added once per program whose filter
covers it, and the provenance of a call lists at most
:data:`PROVENANCE_LIMIT` sources (with a note giving the count and total
calls of all): generation time and policy size grow linearly with the
number of phases, not with its square. A program may have at most
:data:`MAX_PHASES` phases (PolicyError beyond that).

Where the parts live: :mod:`~sysphase.policy.process_phases` (processes,
their phase lists, children by position), :mod:`~sysphase.policy.phase_sweep`
(the backwards sweep over one program's phases),
:mod:`~sysphase.policy.provenance` (sources per call, the listed provenance),
:mod:`~sysphase.policy.added_calls` (always-added, enforcer and ``--portable``
calls) and :mod:`~sysphase.policy.arg_conditions` (``--args``).
"""

from __future__ import annotations

from typing import Final

from sysphase.errors import PolicyError, UsageError
from sysphase.model import syscalls
from sysphase.model.frozen import FrozenMap
from sysphase.model.profile import Profile
from sysphase.policy.added_calls import ALWAYS_ADDED, ENFORCER_CALLS, EQUIVALENTS
from sysphase.policy.arg_conditions import CLONE_NS_FLAGS, SOCK_TYPE_MASK
from sysphase.policy.explain import explain
from sysphase.policy.ir import DEFAULT_ACTIONS, Policy, ProgramPolicy
from sysphase.policy.phase_sweep import SweepInput, program_phases
from sysphase.policy.process_phases import (
    Process,
    build_id,
    check_phase_counts,
    group,
    link,
    one_entry_name,
    ordered_union,
)
from sysphase.policy.provenance import PROVENANCE_LIMIT, ProgramNames

__all__ = [
    "ALWAYS_ADDED",
    "CLONE_NS_FLAGS",
    "ENFORCER_CALLS",
    "EQUIVALENTS",
    "MAX_PHASES",
    "PROVENANCE_LIMIT",
    "SOCK_TYPE_MASK",
    "explain",
    "generate",
]

#: The most phases one program of a policy may have. Every phase is a filter stacked on the
#: earlier ones, and the kernel refuses a filter once the filters stacked on a process hold
#: 32,768 instructions (counting 4 more per filter), which a few hundred phases reach; the
#: enforcer's tables (``patch``: 64 phases) are smaller still.
MAX_PHASES: Final = 256


def generate(
    profile: Profile,
    *,
    default_action: str = "kill",
    portable: bool = False,
    args: bool = False,
    max_phases: int = MAX_PHASES,
) -> Policy:
    """The policy of a profile: per program, per phase, the filter seccomp needs (see module doc).

    ``default_action``: ``kill`` (the process), ``errno`` (EPERM), ``trap``
    (SIGSYS) or ``log``. ``portable`` widens each allowed call to its
    equivalents (:data:`EQUIVALENTS`); ``args`` adds argument conditions
    inferred from the argument values the profile recorded. ``max_phases``:
    the most phases a program may have (:data:`MAX_PHASES`; raising it is for
    benchmarks and tests).

    UsageError for an unknown default action, PolicyError for a profile
    without processes or with a program of more than ``max_phases`` phases.
    Time and size grow linearly with the profile's phases (module doc).
    """
    if default_action not in DEFAULT_ACTIONS:
        raise UsageError(
            f"unknown default action {default_action!r} (known: {', '.join(DEFAULT_ACTIONS)})"
        )
    if not profile.processes:
        raise PolicyError("the profile has no processes, so there is nothing to allow")
    profile = one_entry_name(profile)
    procs, owner = group(profile)
    check_phase_counts(profile, procs, max_phases)
    link(profile, procs, owner)
    by_exe = _by_program(profile, procs)
    orders = {exe: ordered_union(p.order for p in ps) for exe, ps in by_exe.items()}
    shared = _sweep_input(profile, procs, orders, args=args, portable=portable)
    root_exe = profile.processes[0].executable
    programs = tuple(
        ProgramPolicy(
            exe,
            program_phases(shared, exe, order, by_exe[exe], exe == root_exe),
            build_id(profile, exe),
        )
        for exe, order in orders.items()
    )
    return Policy(
        arch=profile.arch,
        default_action=default_action,
        programs=programs,
        command=profile.command,
        options=FrozenMap({"args": args, "portable": portable}),
    )


def _by_program(profile: Profile, procs: dict[int, Process]) -> dict[str, list[Process]]:
    """The processes of each program: the root's program first, then by first appearance."""
    by_exe: dict[str, list[Process]] = {profile.processes[0].executable: []}
    for pid in sorted(procs):
        by_exe.setdefault(procs[pid].executable, []).append(procs[pid])
    return {exe: ps for exe, ps in by_exe.items() if ps}


def _sweep_input(
    profile: Profile,
    procs: dict[int, Process],
    orders: dict[str, list[str]],
    *,
    args: bool,
    portable: bool,
) -> SweepInput:
    """What every program's sweep shares; ``orders``: each program's phases, in policy order."""
    return SweepInput(
        profile=profile,
        procs=procs,
        owner_exe={m: p.executable for p in procs.values() for m in p.members},
        program_rank={exe: i for i, exe in enumerate(orders)},
        phase_rank={exe: {n: i for i, n in enumerate(order)} for exe, order in orders.items()},
        names=ProgramNames(list(orders), list(orders.values())),
        known=syscalls.names(profile.arch),
        args=args,
        portable=portable,
    )
