"""Profiles for the tests: a synthetic traced tree, its profile, and Hypothesis strategies.

``sample_tree``/``sample_profile`` are a shell that enters a serve phase, has a
thread and forks a child that execs ls (docs/formats/profile.md shows its
encoding); ``profiles`` draws any valid profile (every optional field, other
ABIs, unnamed syscalls, wild text), ``mergeable`` profiles that share shapes.
"""

from __future__ import annotations

from hypothesis import strategies as st

from sysphase.model import syscalls
from sysphase.model.frozen import FrozenMap
from sysphase.model.landlock_needs import LandlockNeeds, depth
from sysphase.model.landlock_rights import FS_RIGHTS, canonical
from sysphase.model.profile import (
    ARG_INDEXES,
    ARG_MAX,
    Phase,
    ProcessNode,
    Profile,
    Spread,
    SyscallStat,
)
from sysphase.model.profile_build import from_tree
from sysphase.model.tree import Count, Node, NodeEnd, NodeKind, ProcessTree

X86_64 = "x86_64"


# --- a synthetic traced tree --------------------------------------------------------------


def node(
    index: int,
    pid: int,
    parent: int | None,
    kind: NodeKind,
    exe: str,
    argv: tuple[str, ...],
    end: NodeEnd = NodeEnd.EXITED,
    end_value: int = 0,
    phases: tuple[int, ...] = (0,),
    load_base: int = 0,
    entry: int = 0,
) -> Node:
    return Node(
        index,
        pid,
        pid,
        parent,
        kind,
        exe,
        argv,
        end,
        end_value,
        0,
        0,
        phases=list(phases),
        load_base=load_base,
        entry=entry,
    )


def count(
    node_: int,
    phase: int,
    name: str,
    calls: int,
    errors: int = 0,
    arch: str = X86_64,
    time_ns: int | None = None,
    unfinished: int = 0,
) -> Count:
    """A counter; time defaults to 1 µs per call."""
    nr = syscalls.number(arch, name)
    assert nr is not None, name
    time = 1000 * calls if time_ns is None else time_ns
    return Count(node_, phase, arch, nr, calls, errors, time, unfinished)


def sample_tree() -> ProcessTree:
    """A shell that enters a serve phase, has a thread, forks, and the child execs ls."""
    base = 0x55D0_4A20_0000
    nodes = [
        node(
            0,
            100,
            None,
            NodeKind.SPAWN,
            "/bin/sh",
            ("sh", "-c", "ls /"),
            phases=(0, 1),
            load_base=base,
            entry=base + 0x4760,
        ),
        node(
            1,
            101,
            0,
            NodeKind.THREAD,
            "/bin/sh",
            ("sh", "-c", "ls /"),
            NodeEnd.SIGNALED,
            9,
            phases=(1,),
            load_base=base,
            entry=base + 0x4760,
        ),
        node(
            2,
            102,
            0,
            NodeKind.FORK,
            "/bin/sh",
            ("sh", "-c", "ls /"),
            NodeEnd.EXEC,
            phases=(1,),
            load_base=base,
            entry=base + 0x4760,
        ),
        node(3, 102, 2, NodeKind.EXEC, "/usr/bin/ls", ("ls", "/"), phases=(2,)),
    ]
    counts = [
        count(0, 0, "read", 3),
        count(0, 0, "openat", 2, 1),
        count(0, 1, "epoll_wait", 5, time_ns=7000),
        count(0, 1, "open", 1, arch="i386"),
        count(0, 1, "read", 1, arch="x32"),
        count(2, 1, "execve", 1),
        count(3, 2, "openat", 4, 2),
        count(3, 2, "exit_group", 0, unfinished=1),
    ]
    names = [("start", "start"), ("serve", "syscall:epoll_wait"), ("ls", "exec")]
    return ProcessTree(nodes, counts, names)


def sample_profile() -> Profile:
    return from_tree(sample_tree(), ("sh", "-c", "ls /"), X86_64)


# --- Hypothesis strategies ------------------------------------------------------------------

EXES = ["/bin/sh", "/usr/bin/ls", "/usr/bin/true"]
PHASE_NAMES = ["start", "serve", "ls"]
TRIGGERS = [
    "start", "exec", "inherited", "syscall:epoll_wait", "symbol:aeMain", "addr:0x1a2b0",
    "signal:SIGUSR2", "marker",
]  # fmt: skip


def syscall_keys(arch: str) -> list[str]:
    # a number the tables have no name for, in the arch's range (x32's carry the x32 bit)
    unnamed = f"syscall_{999 | (syscalls.X32_SYSCALL_BIT if arch == 'x32' else 0):#x}"
    native = ["read", "write", "openat", "execve", unnamed]
    foreign = [f"{other}:read" for other in syscalls.ARCHES if other != arch]
    return native + foreign + (["i386:open"] if arch != "i386" else [])


@st.composite
def stats(draw: st.DrawFn) -> SyscallStat:
    calls = draw(st.integers(0, 10**12))
    return SyscallStat(
        calls,
        draw(st.integers(0, calls)),
        draw(st.integers(0, 10**15)),
        draw(st.integers(0, 3)),
        draw(st.integers(0, 2)),
    )


LANDLOCK_PATHS = [
    "/", "/etc/passwd", "/tmp", "/tmp/a", "/tmp/cache", "/usr/lib/x86_64-linux-gnu/libc.so.6",
    "/var/lib/app/db", "/proc/12/status",
]  # fmt: skip


@st.composite
def landlock_needs(draw: st.DrawFn) -> LandlockNeeds | None:
    """None (paths not recorded), or what a phase touched, over a few shared paths."""
    if draw(st.booleans()):
        return None
    rights = st.sets(st.sampled_from(FS_RIGHTS), min_size=1, max_size=3)
    paths = draw(st.dictionaries(st.sampled_from(LANDLOCK_PATHS), rights, max_size=4))
    ports = st.sets(st.sampled_from([0, 80, 443, 8080]), max_size=2).map(lambda s: tuple(sorted(s)))
    deepest = max((depth(p) for p in paths), default=0)
    return LandlockNeeds(
        FrozenMap({p: canonical(r) for p, r in paths.items()}),
        tuple(sorted(draw(st.sets(st.sampled_from(["/tmp/cache", "/var/lib/app"]))))),
        draw(ports),
        draw(ports),
        draw(st.booleans()),
        draw(st.none() | st.just(deepest)),
    )


@st.composite
def phases(draw: st.DrawFn, arch: str) -> tuple[Phase, ...]:
    ids = draw(st.sets(st.tuples(st.integers(0, 3), st.sampled_from(PHASE_NAMES)), max_size=3))
    out = []
    for index, name in sorted(ids):
        keys = draw(st.lists(st.sampled_from(syscall_keys(arch)), unique=True, max_size=4))
        with_args = draw(st.lists(st.sampled_from(keys), unique=True)) if keys else []
        args = {
            k: FrozenMap(
                {
                    ix: tuple(sorted(draw(st.sets(st.integers(0, ARG_MAX), max_size=3))))
                    for ix in draw(st.sets(st.sampled_from(ARG_INDEXES), max_size=2))
                }
            )
            for k in with_args
        }
        out.append(
            Phase(
                index,
                name,
                # a syscall trigger names a syscall of the arch (aarch64 has no epoll_wait)
                draw(st.sampled_from(TRIGGERS)).replace(
                    "epoll_wait", "epoll_pwait" if arch == "aarch64" else "epoll_wait"
                ),
                FrozenMap({k: draw(stats()) for k in keys}),
                FrozenMap(args),
                draw(landlock_needs()),
            )
        )
    return tuple(out)


ANY_ARCH = st.sampled_from(syscalls.ARCHES)
BUILD_IDS = ["00", "3f5c1ab2d9e07c44", "a" * 128]


@st.composite
def profiles(
    draw: st.DrawFn,
    arch: st.SearchStrategy[str] = ANY_ARCH,
    max_nodes: int = 6,
    wild_text: bool = True,
) -> Profile:
    arch_ = draw(arch)
    text = st.sampled_from(["ls", "-l", "x"])
    if wild_text:
        # any text, and the lone surrogates os.fsdecode makes of undecodable bytes
        text = text | st.text(max_size=6) | st.just("caf\udce9")
    exes = st.sampled_from(EXES) | text if wild_text else st.sampled_from(EXES)
    n = draw(st.integers(0, max_nodes))
    # a fragment (a complain-mode report): every process from_fragment
    fragment = draw(st.booleans())
    nodes = []
    for i in range(n):
        parent = draw(st.none() | st.integers(0, i - 1)) if i else None
        nodes.append(
            ProcessNode(
                id=i,
                parent=parent,
                created=draw(
                    st.sampled_from(list(NodeKind))
                    if wild_text
                    else st.sampled_from([NodeKind.FORK, NodeKind.THREAD, NodeKind.EXEC])
                ),
                executable=draw(exes),
                argv=tuple(draw(st.lists(text, max_size=2))),
                load_base=draw(st.none() | st.sampled_from([0x1000, 0x55D04A200000])),
                entry=draw(st.none() | st.sampled_from([0x0, 0x4760])),
                exit=draw(st.none() | st.sampled_from(["exit 0", "exit 1", "killed by SIGKILL"])),
                phases=draw(phases(arch_)),
                build_id=draw(st.none() | st.sampled_from(BUILD_IDS)),
                from_fragment=fragment or draw(st.booleans()),
            )
        )
    runs = draw(st.integers(1, 5))
    # how the runs were recorded (or not said), and the spread of the full ones
    full = draw(st.integers(0, runs))
    modes = {"full": full, "known": runs - full}
    recording = draw(
        st.just(FrozenMap({m: k for m, k in modes.items() if k})) | st.just(FrozenMap())
    )
    spread = tuple(
        sorted(
            {
                (node.executable, phase.name, key): Spread(
                    node.executable,
                    phase.name,
                    key,
                    draw(st.integers(1, full)),
                    stat.calls,
                    stat.calls + 1,
                )
                for node in nodes
                for phase in node.phases
                for key, stat in phase.syscalls.items()
            }.values()
        )
        if full and recording
        else ()
    )
    return Profile(
        command=tuple(draw(st.lists(text, max_size=3))),
        arch=arch_,
        runs=runs,
        complete=draw(st.booleans()),
        processes=tuple(nodes),
        fragment=fragment,
        recording=recording,
        spread=spread,
        paths_lost=draw(st.sampled_from([0, 0, 7])),
    )


# profiles that share executables and shapes, so that merging matches nodes
mergeable = profiles(arch=st.just(X86_64), max_nodes=5, wild_text=False)
