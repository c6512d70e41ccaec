"""The guard's generated C for Landlock sections (sysphase.policy.guard_landlock): pure, no gcc.

The rulesets as data (rules, handled rights, ports, scopes), the table of
rights by ABI that the guard masks with at run time, the calls patch adds to
the filters up to the last phase with a ruleset, and the interposers of the
switches, present only when a later phase has a ruleset.
"""

from __future__ import annotations

import re
import struct

from sysphase.model.landlock_rights import FS_RIGHTS, NET_RIGHTS, SCOPES
from sysphase.policy import guard_landlock, guard_source
from sysphase.policy.ir import LandlockRule, LandlockSection, PolicyPhase, ProgramPolicy

ALLOW = struct.pack("<HBBI", 0x06, 0, 0, 0x7FFF0000)  # ret ALLOW


def _section(*rules: LandlockRule, bind=(), connect=(8080,)) -> LandlockSection:
    return LandlockSection(7, FS_RIGHTS, NET_RIGHTS, SCOPES, rules, tuple(bind), tuple(connect))


def _program(*sections: LandlockSection | None) -> ProgramPolicy:
    triggers = ["start", "syscall:getppid", "syscall:epoll_wait", "syscall:accept"]
    phases = tuple(
        PolicyPhase(f"p{i}", triggers[i], (), landlock=s) for i, s in enumerate(sections)
    )
    return ProgramPolicy("/usr/bin/app", phases)


def _source(program: ProgramPolicy) -> str:
    hooks = guard_source.phase_hooks(program)
    return guard_source.guard_source(program, [ALLOW] * len(program.phases), hooks, {"t": 1})


def test_a_section_becomes_a_ruleset_with_its_rules_and_ports() -> None:
    data = LandlockRule("/srv/data", ("write_file", "read_file", "remove_file", "make_reg"))
    conf = LandlockRule('/etc/a "b".conf', ("read_file",))
    source = _source(_program(_section(conf, data, bind=(80,)), _section(data)))
    assert '    {"/etc/a \\"b\\".conf", 0x4ULL}, /* read_file */' in source
    rights = "write_file, read_file, remove_file, make_reg"
    assert f'    {{"/srv/data", 0x126ULL}}, /* {rights} */' in source
    assert "static const unsigned short ll_bind_0[] = {80};" in source
    assert "static const unsigned short ll_connect_1[] = {8080};" in source
    assert "    .bind_tcp = NULL,\n    .nbind = 0," in source  # phase p1 binds nothing
    assert source.count("    .handled_fs = 0xffffULL,") == 2
    assert source.count("    .handled_net = 0x3ULL,\n    .scoped = 0x3ULL,") == 2
    assert '{"p0", "start", filter_0, 1, &ll_0},' in source
    assert '{"p1", "syscall:getppid", filter_1, 1, &ll_1},' in source


def test_the_abi_table_holds_what_each_abi_knows() -> None:
    source = _source(_program(None))
    # ABI 0: nothing; 1: bits 0-12; 2: +refer; 3, 4: +truncate; 5, 6, 7: +ioctl_dev
    fs = "0x0ULL, 0x1fffULL, 0x3fffULL, 0x7fffULL, 0x7fffULL, 0xffffULL, 0xffffULL, 0xffffULL"
    assert f"    .fs = {{{fs}}}," in source
    assert "    .net_abi = 4,\n    .scope_abi = 6," in source
    assert "    .file_rights = 0xc007ULL," in source  # execute, write/read_file, truncate, ioctl
    assert '.fs_names = {"execute", "write_file", "read_file", "read_dir",' in source
    assert '.scope_names = {"abstract_unix_socket", "signal"},' in source


def test_without_sections_the_phase_table_has_no_rulesets_and_nothing_is_added() -> None:
    program = _program(None, None)
    source = _source(program)
    assert '{"p1", "syscall:getppid", filter_1, 1, NULL},' in source
    assert "sysphase_guard_ruleset ll_" not in source
    assert "pthread_create" not in source
    assert guard_landlock.switch_calls(program) == [(), ()]


def test_switch_calls_go_up_to_the_last_phase_with_a_ruleset() -> None:
    rule = LandlockRule("/srv", ("read_file",))
    program = _program(_section(rule), None, _section(rule), None)
    calls = guard_landlock.switch_calls(program)
    every = tuple(sorted(guard_landlock.SWITCH_CALLS))
    assert calls == [every, every, every, ()]
    assert {"landlock_restrict_self", "tgkill", "getdents64", "rt_sigreturn"} <= set(every)
    assert "openat" not in every  # /proc/self/task is opened before the first filter
    # only the first phase has a ruleset: applied by the constructor, before any filter
    assert guard_landlock.switch_calls(_program(_section(rule), None)) == [(), ()]


def test_interposers_of_the_switches_only_with_a_later_ruleset() -> None:
    rule = LandlockRule("/srv", ("read_file",))
    assert "pthread_create" not in _source(_program(_section(rule), None))
    source = _source(_program(None, _section(rule)))
    for name in ("pthread_create", "pthread_exit", "pthread_sigmask", "sigprocmask"):
        assert f'    {{"{name}", (void **)&real_{name}}},' in source
        assert re.search(rf"SYSPHASE_GUARD_EXPORT \w+ {name}\(", source)
    assert "sysphase_guard_unblockable(how, set, &copy)" in source
    assert "#include <pthread.h>" in source and "#include <signal.h>" in source


def test_info_counts_rules_and_lists_ports() -> None:
    section = _section(LandlockRule("/a", ("read_file",)), bind=(1, 2), connect=())
    assert guard_landlock.info(section) == {"rules": 1, "bind_tcp": [1, 2], "connect_tcp": []}
