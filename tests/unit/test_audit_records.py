"""The seccomp audit record parser (model/audit_records.py) on lines as the kernel writes them.

Each action, i386 and x32 calls, quoted and hex-encoded comm/exe (the kernel
writes a value with a space or a control character in hex), records among
other dmesg lines, the audit.log and journal forms, duplicates, the rate
limit's "callbacks suppressed" lines, and --since.
"""

from __future__ import annotations

import pytest

from sysphase.model import audit_records as ar
from sysphase.model.audit_records import action_name, parse, parse_since

HEAD = "auid=4294967295 uid=0 gid=0 ses=4294967295"


def kline(boot: float, t: str, serial: int, body: str) -> str:
    """A dmesg line of a type=1326 record."""
    return f"[{boot:12.6f}] audit: type=1326 audit({t}:{serial}): {HEAD} {body}"


KILL = kline(
    8419.202205,
    "1796613068.437",
    11516,
    'pid=21418 comm="t" exe="/tmp/x/t" sig=31 arch=c000003e syscall=39 compat=0 '
    "ip=0x7fa9fae584e7 code=0x80000000",
)


def one(line: str):
    log = parse(line)
    assert len(log.records) == 1, log
    return log.records[0]


def test_a_kill_process_record_from_dmesg():
    r = one(KILL)
    assert (r.time, r.serial, r.pid, r.comm, r.exe) == (
        1796613068.437,
        11516,
        21418,
        "t",
        "/tmp/x/t",
    )
    assert (r.arch, r.nr, r.syscall) == ("x86_64", 39, "getpid")
    assert (r.code, r.action, r.signal, r.ip, r.uid) == (
        0x80000000,
        "kill_process",
        31,
        0x7FA9FAE584E7,
        0,
    )


@pytest.mark.parametrize(
    ("code", "sig", "action"),
    [
        ("0x80000000", 31, "kill_process"),
        ("0x00000000", 31, "kill_thread"),
        ("0x7ffc0000", 0, "log"),
        ("0x00030000", 0, "trap"),
        ("0x00050001", 0, "errno(EPERM)"),
        ("0x0005000d", 0, "errno(EACCES)"),
        ("0x7fc00000", 0, "user_notif"),
        ("0x7ff00000", 0, "trace"),
        ("0x7ff00007", 0, "trace(7)"),
        ("0x12340000", 0, "unknown(0x12340000)"),
    ],
)
def test_each_action(code, sig, action):
    body = f'pid=7 comm="p" exe="/p" sig={sig} arch=c000003e syscall=41 compat=0 ip=0x1 code={code}'
    r = one(kline(1.0, "1700000000.001", 1, body))
    assert (r.action, r.signal, r.syscall) == (action, sig, "socket")
    assert action_name(int(code, 16)) == action


def test_i386_and_x32_calls_are_named_from_their_own_tables():
    i386 = one(
        kline(
            1.0,
            "1700000000.000",
            1,
            'pid=1 comm="a" exe="/a" sig=31 arch=40000003 '
            "syscall=20 compat=1 ip=0xf7f0 code=0x80000000",
        )
    )
    assert (i386.arch, i386.nr, i386.syscall) == ("i386", 20, "getpid")
    x32 = one(
        kline(
            1.0,
            "1700000000.000",
            2,
            'pid=1 comm="a" exe="/a" sig=31 arch=c000003e '
            "syscall=1073741863 compat=0 ip=0x1 code=0x80000000",
        )
    )
    assert (x32.arch, x32.nr, x32.syscall) == ("x32", 0x40000027, "getpid")
    other = one(
        kline(
            1.0,
            "1700000000.000",
            3,
            'pid=1 comm="a" exe="/a" sig=31 arch=c00000f3 '
            "syscall=172 compat=0 ip=0x1 code=0x80000000",
        )
    )
    assert (other.arch, other.syscall) == ("0xc00000f3", "syscall_0xac")


def test_quoted_values_with_spaces_and_hex_encoded_ones():
    quoted = one(
        kline(
            1.0,
            "1700000000.000",
            1,
            'pid=5 comm="my prog" exe="/opt/my dir/my prog" '
            "sig=31 arch=c000003e syscall=39 compat=0 ip=0x1 code=0x80000000",
        )
    )
    assert (quoted.comm, quoted.exe) == ("my prog", "/opt/my dir/my prog")
    # what the kernel really writes for such names: hex, no quotes (a real record's bytes)
    hexed = one(
        kline(
            7302.551834,
            "1796611951.785",
            10649,
            "pid=12000 "
            "comm=6576696C1B5B33316D0A6E616D65E2 "
            "exe=2F746D702F6576696C1B5B33316D0A6E616D65E280A82A "
            "sig=31 arch=c000003e syscall=81 compat=0 ip=0x7f1285f69829 code=0x80000000",
        )
    )
    assert hexed.comm == "evil\x1b[31m\nname\udce2"  # comm cut inside a UTF-8 character
    assert hexed.exe == "/tmp/evil\x1b[31m\nname\u2028*"
    assert hexed.syscall == "fchdir"
    null = one(
        kline(
            1.0,
            "1700000000.000",
            2,
            "pid=5 comm=(null) exe=(null) sig=31 arch=c000003e "
            "syscall=39 compat=0 ip=0x1 code=0x80000000",
        )
    )
    assert (null.comm, null.exe) == ("", "")


def test_records_among_other_dmesg_lines():
    text = "\n".join(
        [
            "[    0.000000] Linux version 6.1.0 (debian-kernel@lists.debian.org)",
            KILL,
            "[ 8419.210000] audit: type=1300 audit(1796613068.437:11516): arch=c000003e "
            'syscall=39 success=yes exit=0 pid=21418 comm="t" exe="/tmp/x/t"',
            "[ 8420.000000] kauditd_printk_skb: 12 callbacks suppressed",
            "[ 8420.100000] eth0: link up",
            kline(
                8421.0,
                "1796613070.235",
                11520,
                'pid=3 comm="u" exe="/u" sig=0 '
                "arch=c000003e syscall=41 compat=0 ip=0x2 code=0x7ffc0000",
            ),
            "garbage type=1326 without a stamp",
        ]
    )
    log = parse(text)
    assert [(r.serial, r.syscall, r.action) for r in log.records] == [
        (11516, "getpid", "kill_process"),
        (11520, "socket", "log"),
    ]
    assert (log.suppressed, log.malformed) == (12, 0)


def test_the_audit_log_and_journal_forms():
    enriched = (
        "node=host type=SECCOMP msg=audit(1796613068.437:11516): auid=4294967295 uid=1000 gid=1000 "
        'ses=3 subj=unconfined pid=21418 comm="t" exe="/usr/bin/t" sig=31 arch=c000003e '
        'syscall=39 compat=0 ip=0x7fa9fae584e7 code=0x80000000\x1dAUID="alice" UID="alice" '
        'GID="alice" ARCH=x86_64 SYSCALL=getpid'
    )
    r = one(enriched)
    assert (r.time, r.serial, r.exe, r.syscall, r.uid) == (
        1796613068.437,
        11516,
        "/usr/bin/t",
        "getpid",
        1000,
    )
    raw = enriched.split("\x1d")[0].removeprefix("node=host ")
    assert one(raw) == r
    journal = "1796613068.437000 host kernel: " + KILL.split("] ", 1)[1]
    assert one(journal) == one(KILL)


def test_a_record_seen_twice_counts_once_and_records_come_in_time_order():
    later = KILL.replace("1796613068.437:11516", "1796613069.000:11517")
    log = parse("\n".join([later, KILL, KILL]))
    assert [r.serial for r in log.records] == [11516, 11517]


def test_a_record_without_its_fields_is_counted_as_malformed():
    log = parse('audit: type=1326 audit(1700000000.000:1): pid=1 comm="x" code=0x0')
    assert (log.records, log.malformed) == ((), 1)


def test_since_keeps_records_at_or_after_it_with_the_coarse_clocks_slack():
    log = parse(KILL, since=1796613068.437 + ar.SINCE_SLACK / 2)
    assert len(log.records) == 1
    assert parse(KILL, since=1796613068.5).records == ()


def test_suppressed_messages_are_placed_in_time_by_the_nearest_record():
    # records at boot 100 s = epoch 1100; drops at boot 50 s (epoch 1050) and 90 s (1090)
    rec = kline(
        100.0,
        "1100.000",
        1,
        'pid=1 comm="a" exe="/a" sig=31 arch=c000003e syscall=39 compat=0 ip=0x1 code=0x80000000',
    )
    text = "\n".join(
        [
            "[   50.000000] kauditd_printk_skb: 4 callbacks suppressed",
            "[   90.000000] kauditd_printk_skb: 3 callbacks suppressed",
            rec,
        ]
    )
    assert parse(text).suppressed == 7
    assert parse(text, since=1075).suppressed == 3
    assert parse(text, since=1095).suppressed == 0
    # no boot stamp to place it: counted
    assert parse("kauditd_printk_skb: 2 callbacks suppressed", since=1095).suppressed == 2


NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1796613068", 1796613068.0),
        ("1796613068.437", 1796613068.437),
        ("@1796613068", 1796613068.0),
        ("now", NOW),
        ("-10min", NOW - 600),
        ("-10mins", NOW - 600),
        ("-30s", NOW - 30),
        ("-2h", NOW - 7200),
        ("-1d", NOW - 86400),
        ("-1.5hours", NOW - 5400),
        ("30s ago", NOW - 30),
        ("2 days ago", NOW - 2 * 86400),
        ("2026-12-07T08:30:00+00:00", 1796632200.0),
        ("2026-12-07 08:30Z", 1796632200.0),
    ],
)
def test_since_forms(text, expected):
    assert parse_since(text, NOW) == pytest.approx(expected)


def test_since_local_iso_time_is_local():
    from datetime import datetime

    assert parse_since("2026-12-07T08:30", NOW) == datetime(2026, 12, 7, 8, 30).timestamp()


@pytest.mark.parametrize("bad", ["yesterday-ish", "-10ms", "-10", "10min", "", "2026-13-01"])
def test_since_refuses_anything_else_in_one_sentence(bad):
    with pytest.raises(ValueError, match="is not a time: give an epoch time") as err:
        parse_since(bad, NOW)
    assert "\n" not in str(err.value)
