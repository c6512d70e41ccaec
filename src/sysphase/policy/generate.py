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
conditions; then the operator's ``--allow`` (counted as if seen) and
``--deny`` (taken out last) calls. With ``landlock``, each phase also gets a
Landlock ruleset made of the recorded paths and ports of the same sources
(:mod:`~sysphase.policy.landlock_section`, :mod:`~sysphase.policy.landlock_rules`):
Landlock rulesets stack and are inherited like filters, so the same unions hold.
docs/formats/policy.md says the same for users.

Fragments (complain-mode reports merged into the profile,
:mod:`sysphase.model.profile_fragment`) widen the programs and phases they
reach like any call. A program seen *only* in fragments holds just the calls
a policy refused it, so by default it is refused a policy of its own (one
sentence naming it and how to record it); ``fragments="allow"`` takes those
calls as its whole policy, ``fragments="omit"`` leaves it out of the policy
(it runs under the filters of the program that started it, which its calls
still widen).

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
calls), :mod:`~sysphase.policy.arg_conditions` (``--args``) and
:mod:`~sysphase.policy.manual_calls` (``--allow``, ``--deny``).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import replace
from typing import Final

from sysphase.errors import PolicyError, UsageError
from sysphase.model import syscalls
from sysphase.model.frozen import FrozenMap
from sysphase.model.profile import Profile
from sysphase.model.profile_fragment import fragment_only_programs
from sysphase.policy.added_calls import ALWAYS_ADDED, ENFORCER_CALLS, EQUIVALENTS
from sysphase.policy.arg_conditions import CLONE_NS_FLAGS, SOCK_TYPE_MASK
from sysphase.policy.explain import explain
from sysphase.policy.ir import DEFAULT_ACTIONS, Policy, ProgramPolicy
from sysphase.policy.manual_calls import ManualSpec, resolve
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
    "FRAGMENT_CHOICES",
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

#: What to do with a program seen only in fragments: refuse, give it the fragments' calls as
#: its whole policy, or leave it out (under the filters of the program that started it).
FRAGMENT_CHOICES: Final = ("refuse", "allow", "omit")


def generate(
    profile: Profile,
    *,
    default_action: str = "kill",
    portable: bool = False,
    args: bool = False,
    max_phases: int = MAX_PHASES,
    fragments: str = "refuse",
    manual: Sequence[ManualSpec] = (),
    landlock: bool = False,
) -> Policy:
    """The policy of a profile: per program, per phase, the filter seccomp needs (see module doc).

    ``default_action``: ``kill`` (the process), ``errno`` (EPERM), ``trap``
    (SIGSYS) or ``log``. ``portable`` widens each allowed call to its
    equivalents (:data:`EQUIVALENTS`); ``args`` adds argument conditions
    inferred from the argument values the profile recorded. ``max_phases``:
    the most phases a program may have (:data:`MAX_PHASES`; raising it is for
    benchmarks and tests). ``fragments``: what a program seen only in
    fragments gets (:data:`FRAGMENT_CHOICES`, module doc). ``manual``: the
    ``--allow`` and ``--deny`` specs, in the order given. ``landlock``: give
    every phase a Landlock section (PolicyError when the profile recorded no
    paths: ``record --paths``).

    UsageError for an unknown default action and for a spec that names an
    unknown call, program or phase or would break the policy; PolicyError for
    a profile without processes, with a program of more than ``max_phases``
    phases, or with a program seen only in fragments (``fragments="refuse"``).
    Time and size grow linearly with the profile's phases (module doc).
    """
    omitted = _check_inputs(profile, default_action, fragments, landlock)
    profile = one_entry_name(profile)
    procs, owner = group(profile)
    check_phase_counts(profile, procs, max_phases)
    link(profile, procs, owner)
    by_exe = _by_program(profile, procs)
    orders = {exe: ordered_union(p.order for p in ps) for exe, ps in by_exe.items()}
    shared = replace(
        _sweep_input(profile, procs, orders, args=args, portable=portable),
        manual=resolve(manual, orders, profile.arch, omitted),
        omitted=omitted,
        landlock=landlock,
    )
    root_exe = root_program(profile)
    programs = tuple(
        ProgramPolicy(
            exe,
            program_phases(shared, exe, order, by_exe[exe], exe == root_exe),
            build_id(profile, exe),
        )
        for exe, order in orders.items()
        if exe not in omitted
    )
    return Policy(
        arch=profile.arch,
        default_action=default_action,
        programs=programs,
        command=profile.command,
        options=FrozenMap({"args": args, "portable": portable}),
    )


def root_program(profile: Profile) -> str:
    """The traced command's program: the first root a recording saw (not only a fragment).

    A complain-mode report whose root matches no recorded root (a command started
    otherwise) must not make its program the policy's root.
    """
    roots = [n for n in profile.processes if n.parent is None]
    return next((n for n in roots if not n.from_fragment), roots[0]).executable


def _check_inputs(
    profile: Profile, default_action: str, fragments: str, landlock: bool
) -> frozenset[str]:
    """The programs seen only in fragments to leave out; the errors of :func:`generate`'s inputs.

    ``profile`` has processes (checked here first), and recorded paths for ``landlock``.
    """
    if default_action not in DEFAULT_ACTIONS:
        raise UsageError(
            f"unknown default action {default_action!r} (known: {', '.join(DEFAULT_ACTIONS)})"
        )
    if not profile.processes:
        raise PolicyError("the profile has no processes, so there is nothing to allow")
    if landlock:
        check_paths_recorded(profile)
    if fragments not in FRAGMENT_CHOICES:
        raise UsageError(f"unknown fragments choice {fragments!r} (known: refuse, allow, omit)")
    only = fragment_only_programs(profile)
    if not only or fragments == "allow":
        return frozenset()
    root = root_program(profile)
    command = shlex.join(profile.command) or "COMMAND"
    if root in only:
        raise PolicyError(
            f"program {root} was only seen in complain-mode reports (which hold only the calls "
            f"a policy refused, not all a program makes): record it (sysphase record -o "
            f"more.json -- {command}) and merge that in, or pass --allow-fragments to take the "
            "reports' calls as its whole policy"
        )
    if fragments == "omit":
        return frozenset(only)
    many = len(only) > 1
    it, its, was, runs = (
        ("them", "their", "were", "they run") if many else ("it", "its", "was", "it runs")
    )
    raise PolicyError(
        f"program{'s' if many else ''} {', '.join(only)} {was} only seen in complain-mode "
        "reports (which hold only the calls a policy refused, not all a program makes): "
        f"record a run in which {runs} (sysphase record -o more.json -- {command}) and merge "
        f"that in, or pass --allow-fragments to take the reports' calls as {its} whole policy, "
        f"or --omit-fragments to leave {it} under the filters of the program that starts {it}"
    )


def check_paths_recorded(profile: Profile) -> None:
    """PolicyError when no phase of the profile recorded paths (``--landlock`` needs them)."""
    if any(ph.landlock is not None for n in profile.processes for ph in n.phases):
        return
    command = shlex.join(profile.command) or "COMMAND"
    raise PolicyError(
        "--landlock needs the paths and ports each phase touched, and this profile was "
        f"recorded without them: record it again with paths (sysphase record --paths -o "
        f"profile.json -- {command})"
    )


def _by_program(profile: Profile, procs: dict[int, Process]) -> dict[str, list[Process]]:
    """The processes of each program: the root's program first, then by first appearance."""
    by_exe: dict[str, list[Process]] = {root_program(profile): []}
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
