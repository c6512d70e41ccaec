"""The guard library's Landlock part: rulesets as C data, the calls a switch makes, interposers.

``sysphase patch`` compiles each phase's Landlock section
(:class:`~sysphase.policy.ir.LandlockSection`) into the guard's generated C
file (:mod:`sysphase.policy.guard_source`) as it is in the policy, for the
newest ABI sysphase knows: ``sysphase/guard/guard_landlock.c`` fits it to the
running kernel's ABI when the program starts (docs/patch.md). Pure.

- :func:`abi_table`: Landlock's rights by ABI version, from
  :mod:`sysphase.model.landlock_rights` (the one definition), for the guard's
  run-time fitting and its messages.
- :func:`rulesets`: one ``struct sysphase_guard_ruleset`` per phase with a section.
- :data:`SWITCH_CALLS` and :func:`switch_calls`: the calls the guard makes
  when it applies a later phase's ruleset in every thread, which patch adds
  to the filters of the phases up to the last one with a ruleset.
- :func:`interposers`: the libc functions the guard interposes for the
  switches (``pthread_create``, ``pthread_exit``, ``pthread_sigmask``,
  ``sigprocmask``), when a later phase has a ruleset.
- :func:`info`: a phase's ruleset in the info string ``patch --check`` reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from sysphase.model.landlock_rights import (
    FILE_RIGHTS,
    FS_ABI,
    FS_BIT,
    FS_RIGHTS,
    HIGHEST_ABI,
    NET_ABI,
    NET_BIT,
    NET_RIGHTS,
    SCOPE_ABI,
    SCOPE_BIT,
    SCOPES,
    mask,
)
from sysphase.policy.formats._c_common import c_comment, c_string
from sysphase.policy.ir import LandlockSection, ProgramPolicy

__all__ = [
    "HEADERS",
    "SWITCH_CALLS",
    "abi_table",
    "info",
    "interposers",
    "rulesets",
    "switch_calls",
]

#: The calls guard_landlock.c makes at a switch to a phase with a ruleset, under the filters
#: of that phase and those before it, and why.
SWITCH_CALLS: Final[Mapping[str, str]] = {
    "landlock_restrict_self": "each thread restricts itself with the phase's ruleset",
    "tgkill": "the switching thread signals each other thread of the process to do so",
    "rt_sigreturn": "each thread returns from that signal's handler",
    "getpid": "the process to signal (and whether it is a forked child)",
    "gettid": "each thread's answer names it; the switching thread skips itself",
    "fstat": "the descriptor of /proc/self/task is checked before each reading",
    "lseek": "/proc/self/task is read again from its start",
    "getdents64": "/proc/self/task lists the threads",
    "clock_nanosleep": "the switching thread waits for the answers",
    "close": "a ruleset is closed once applied",
}

#: The headers :func:`interposers` needs.
HEADERS: Final = ("pthread.h", "signal.h")

_LANDLOCK_ABIS: Final = 8  # SYSPHASE_GUARD_LANDLOCK_ABIS in guard.h: ABI 0 to 7


def abi_table() -> list[str]:
    """``sysphase_guard_landlock_abi``: the file-system rights each ABI knows, when network
    rights and scopes came, the rights a file rule may hold, and the rights' names."""
    if HIGHEST_ABI >= _LANDLOCK_ABIS:
        raise ValueError(f"guard.h holds {_LANDLOCK_ABIS} ABI versions, not {HIGHEST_ABI}")
    fs = [mask((r for r in FS_RIGHTS if FS_ABI[r] <= v), FS_BIT) for v in range(_LANDLOCK_ABIS)]
    (net_abi,) = set(NET_ABI.values())
    (scope_abi,) = set(SCOPE_ABI.values())

    def names(table: Sequence[str]) -> str:
        return ", ".join(c_string(n) for n in table)

    return [
        "",
        "/* Landlock's rights by ABI (sysphase.model.landlock_rights): guard_ruleset.c keeps",
        " * of each ruleset what the running kernel knows. */",
        "const struct sysphase_guard_landlock_abi sysphase_guard_landlock_abi = {",
        f"    .fs = {{{', '.join(f'{m:#x}ULL' for m in fs)}}},",
        f"    .net_abi = {net_abi},",
        f"    .scope_abi = {scope_abi},",
        f"    .file_rights = {mask(FILE_RIGHTS, FS_BIT):#x}ULL,",
        f"    .fs_names = {{{names(FS_RIGHTS)}}},",
        f"    .net_names = {{{names(NET_RIGHTS)}}},",
        f"    .scope_names = {{{names(SCOPES)}}},",
        "};",
    ]


def _ports(name: str, ports: Sequence[int]) -> tuple[list[str], str]:
    if not ports:
        return [], "NULL"
    return [f"static const unsigned short {name}[] = {{{', '.join(map(str, ports))}}};"], name


def _ruleset(index: int, name: str, section: LandlockSection) -> list[str]:
    lines = [
        "",
        f"/* Phase {c_comment(name)}: its Landlock ruleset (made for ABI {section.abi}). */",
    ]
    rules = "NULL"
    if section.rules:
        rules = f"ll_rules_{index}"
        lines.append(f"static const struct sysphase_guard_rule {rules}[] = {{")
        for rule in section.rules:
            lines.append(
                f"    {{{c_string(rule.path)}, {mask(rule.rights, FS_BIT):#x}ULL}}, "
                f"/* {c_comment(', '.join(rule.rights))} */"
            )
        lines.append("};")
    bind_lines, bind = _ports(f"ll_bind_{index}", section.bind_tcp)
    connect_lines, connect = _ports(f"ll_connect_{index}", section.connect_tcp)
    return [
        *lines,
        *bind_lines,
        *connect_lines,
        f"static const struct sysphase_guard_ruleset ll_{index} = {{",
        f"    .handled_fs = {mask(section.handled_fs, FS_BIT):#x}ULL,",
        f"    .handled_net = {mask(section.handled_net, NET_BIT):#x}ULL,",
        f"    .scoped = {mask(section.scoped, SCOPE_BIT):#x}ULL,",
        f"    .rules = {rules},",
        f"    .nrules = {len(section.rules)},",
        f"    .bind_tcp = {bind},",
        f"    .nbind = {len(section.bind_tcp)},",
        f"    .connect_tcp = {connect},",
        f"    .nconnect = {len(section.connect_tcp)},",
        "};",
    ]


def rulesets(program: ProgramPolicy) -> tuple[list[str], list[str]]:
    """The rulesets' C definitions, and each phase's ruleset for the phase table
    (``&ll_K`` or ``NULL``)."""
    lines: list[str] = []
    refs: list[str] = []
    for index, phase in enumerate(program.phases):
        if phase.landlock is None:
            refs.append("NULL")
            continue
        lines += _ruleset(index, phase.name, phase.landlock)
        refs.append(f"&ll_{index}")
    return lines, refs


def _last_switch(program: ProgramPolicy) -> int:
    """The index of the last later phase with a ruleset (0: none)."""
    return max((i for i, p in enumerate(program.phases) if i and p.landlock), default=0)


def switch_calls(program: ProgramPolicy) -> list[tuple[str, ...]]:
    """Per phase, the calls patch adds to its filter: :data:`SWITCH_CALLS` in every phase
    up to the last one whose ruleset a switch applies (under their filters), none after."""
    last = _last_switch(program)
    calls = tuple(sorted(SWITCH_CALLS)) if last else ()
    return [calls if i <= last else () for i in range(len(program.phases))]


_INTERPOSERS: Final = {
    "pthread_create": (
        "int pthread_create(pthread_t *thread, const pthread_attr_t *attr, "
        "void *(*start)(void *), void *arg)",
        "sysphase_guard_thread_created();",
        "return real_pthread_create(thread, attr, start, arg);",
    ),
    "pthread_exit": (
        "void pthread_exit(void *value)",
        "sysphase_guard_thread_exiting();",
        "real_pthread_exit(value);\n    __builtin_unreachable();",
    ),
    "pthread_sigmask": (
        "int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)",
        "sigset_t copy;",
        "return real_pthread_sigmask(how, sysphase_guard_unblockable(how, set, &copy), old);",
    ),
    "sigprocmask": (
        "int sigprocmask(int how, const sigset_t *set, sigset_t *old)",
        "sigset_t copy;",
        "return real_sigprocmask(how, sysphase_guard_unblockable(how, set, &copy), old);",
    ),
}


def interposers(program: ProgramPolicy) -> tuple[tuple[str, ...], list[str]]:
    """The functions the guard interposes for Landlock switches (none without a later
    ruleset), and their definitions (the ``real_NAME`` pointers are the caller's)."""
    if not _last_switch(program):
        return (), []
    lines = [
        "",
        "/* Landlock switches (guard_landlock.c): a forked child counts the threads it starts,",
        " * a main thread that ends is not waited for, the switch's signal stays unblocked. */",
    ]
    for name, (prototype, first, last) in _INTERPOSERS.items():
        lines += [
            f"SYSPHASE_GUARD_EXPORT {prototype}",
            "{",
            f"    {first}",
            f"    if (real_{name} == NULL)",
            f'        sysphase_guard_resolve("{name}", (void **)&real_{name});',
            f"    {last}",
            "}",
            "",
        ]
    return tuple(_INTERPOSERS), lines[:-1]


def info(section: LandlockSection) -> dict[str, object]:
    """A phase's ruleset in the guard's info string: how many rules, which ports."""
    return {
        "rules": len(section.rules),
        "bind_tcp": list(section.bind_tcp),
        "connect_tcp": list(section.connect_tcp),
    }
