"""Argument counts and argument signatures of system calls, by name.

NARGS gives strace's argument count for every x86_64 syscall (strace prints
only the real arguments), I386_NARGS the i386 calls that differ or exist only
there (both generated from tools/syscallent.in). SIGNATURES describes the
arguments of the common calls, one token per argument, for decode.py to render
and for arg_kinds() to tell the C core what to copy:

  d    int (signed 32-bit)         fd    file descriptor       dirfd  fd or AT_FDCWD
  u    unsigned int                lu    unsigned long (size)  ld     signed long (offset)
  x    hex (%#lx)                  p     pointer (NULL or hex) uid    uid/gid (-1 as -1)
  mode octal mode (0644)           sig   signal number
  path / str     C string read at entry (ARG_CSTRING)
  strv           NULL-terminated string array read at entry (ARG_STRV)
  biN            buffer read at entry, length in argument N (ARG_BUF_IN)
  bo / bh / cwd  buffer read at exit, length = return value (ARG_BUF_OUT);
                 bh prints hex escapes (getrandom), cwd drops the final NUL
  any other token names a symbolic decoder in decode.py (oflags, prot, ...);
  "omode" is the open mode, shown only with O_CREAT or O_TMPFILE.
A name mapped to SPECIAL is decoded by a dedicated function.
"""

from __future__ import annotations

from typing import Final

from sysphase.model import syscall_tables

SPECIAL: Final = "special"

#: syscall name -> number of arguments strace shows (x86_64), and the i386 calls whose
#: count differs or that x86_64 lacks: the generated facts of tools/syscallent.in.
NARGS: Final[dict[str, int]] = syscall_tables.NARGS
I386_NARGS: Final[dict[str, int]] = syscall_tables.I386_NARGS

I386_ALIASES: Final[dict[str, str]] = {
    "chown32": "chown",
    "lchown32": "lchown",
    "fchown32": "fchown",
    "setuid32": "setuid",
    "setgid32": "setgid",
    "setfsuid32": "setfsuid",
    "setfsgid32": "setfsgid",
    "setreuid32": "setreuid",
    "setregid32": "setregid",
    "setresuid32": "setresuid",
    "setresgid32": "setresgid",
    "getresuid32": "getresuid",
    "getresgid32": "getresgid",
    "getgroups32": "getgroups",
    "setgroups32": "setgroups",
    "getuid32": "getuid",
    "getgid32": "getgid",
    "geteuid32": "geteuid",
    "getegid32": "getegid",
    "fcntl64": "fcntl",
    "stat64": "stat",
    "lstat64": "lstat",
    "fstat64": "fstat",
    "fstatat64": "newfstatat",
    "ugetrlimit": "getrlimit",
    "sendfile64": "sendfile",
    "_newselect": "select",
    "clock_gettime64": "clock_gettime",
    "clock_settime64": "clock_settime",
    "clock_adjtime64": "clock_adjtime",
    "clock_getres_time64": "clock_getres",
    "clock_nanosleep_time64": "clock_nanosleep",
    "timer_gettime64": "timer_gettime",
    "timer_settime64": "timer_settime",
    "timerfd_gettime64": "timerfd_gettime",
    "timerfd_settime64": "timerfd_settime",
    "utimensat_time64": "utimensat",
    "pselect6_time64": "pselect6",
    "ppoll_time64": "ppoll",
    "recvmmsg_time64": "recvmmsg",
    "mq_timedsend_time64": "mq_timedsend",
    "mq_timedreceive_time64": "mq_timedreceive",
    "rt_sigtimedwait_time64": "rt_sigtimedwait",
    "futex_time64": "futex",
}

#: i386 signatures that differ from the x86_64 call of the same name.
I386_SIGNATURES: Final[dict[str, str]] = {
    "mmap": "p",
    "select": "p",
    "mmap2": "p lu prot mapflags fd x",
    "_llseek": "fd lu lu p whence",
    "pread64": "fd bo lu lu lu",
    "pwrite64": "fd bi2 lu lu lu",
    "truncate64": "path lu lu",
    "ftruncate64": "fd lu lu",
    "statfs64": "path lu p",
    "fstatfs64": "fd lu p",
    "waitpid": "d p waitopts",
    "sigaction": "sig p p",
    "sigprocmask": "sighow p p",
    "signal": "sig p",
    "umount": "path",
    "socketcall": "d p",
    "readahead": "fd lu lu lu",
}

_SIGNATURES: Final = """
read: fd bo lu
write: fd bi2 lu
open: path oflags omode
close: fd
stat: path p
fstat: fd p
lstat: path p
poll: p u d
lseek: fd ld whence
mmap: p lu prot mapflags fd x
mprotect: p lu prot
munmap: p lu
brk: p
rt_sigaction: sig p p lu
rt_sigprocmask: sighow p p lu
ioctl: special
pread64: fd bo lu ld
pwrite64: fd bi2 lu ld
readv: fd p d
writev: fd p d
access: path accmode
pipe: p
select: d p p p p
mremap: p lu lu mremapflags p
msync: p lu msflags
mincore: p lu p
madvise: p lu madv
shmat: d p x
dup: fd
dup2: fd fd
nanosleep: p p
alarm: u
sendfile: fd fd p lu
socket: special
connect: fd p u
accept: fd p p
sendto: fd bi2 lu msgflags p u
recvfrom: fd bo lu msgflags p p
sendmsg: fd p msgflags
recvmsg: fd p msgflags
shutdown: fd shuthow
bind: fd p u
listen: fd d
getsockname: fd p p
getpeername: fd p p
socketpair: special
setsockopt: special
getsockopt: special
clone: special
execve: path strv p
exit: d
wait4: d p waitopts p
kill: d sig
uname: p
fcntl: special
flock: fd flockop
fsync: fd
fdatasync: fd
truncate: path ld
ftruncate: fd ld
getdents: fd p u
getcwd: cwd lu
chdir: path
fchdir: fd
rename: path path
mkdir: path mode
rmdir: path
creat: path mode
link: path path
unlink: path
symlink: path path
readlink: path bo lu
chmod: path mode
fchmod: fd mode
chown: path uid uid
fchown: fd uid uid
lchown: path uid uid
umask: mode
gettimeofday: p p
getrlimit: rlimit p
setrlimit: rlimit p
getrusage: rusagewho p
sysinfo: p
times: p
ptrace: ptracereq d p p
setuid: uid
setgid: uid
setpgid: d d
setreuid: uid uid
setregid: uid uid
getgroups: d p
setgroups: d p
setresuid: uid uid uid
getresuid: p p p
setresgid: uid uid uid
getresgid: p p p
getpgid: d
setfsuid: uid
setfsgid: uid
getsid: d
capget: p p
capset: p p
rt_sigpending: p lu
rt_sigtimedwait: p p p lu
rt_sigqueueinfo: d sig p
rt_sigsuspend: p lu
sigaltstack: p p
utime: path p
mknod: special
statfs: path p
fstatfs: fd p
mlock: p lu
munlock: p lu
mlockall: mlockallflags
pivot_root: path path
prctl: special
arch_prctl: special
chroot: path
acct: path
settimeofday: p p
mount: str path str mountflags p
umount2: path umountflags
swapon: path x
swapoff: path
sethostname: bi1 lu
setdomainname: bi1 lu
readahead: fd ld lu
setxattr: path str bi3 lu xattrflags
lsetxattr: path str bi3 lu xattrflags
fsetxattr: fd str bi3 lu xattrflags
getxattr: path str bo lu
lgetxattr: path str bo lu
fgetxattr: fd str bo lu
listxattr: path bo lu
llistxattr: path bo lu
flistxattr: fd bo lu
removexattr: path str
lremovexattr: path str
fremovexattr: fd str
tkill: d sig
time: p
futex: special
sched_setaffinity: d u p
sched_getaffinity: d u p
set_thread_area: p
get_thread_area: p
epoll_create: d
getdents64: fd p u
set_tid_address: p
fadvise64: fd ld ld fadvice
timer_create: clock p p
timer_settime: d timerflags p p
timer_gettime: d p
timer_getoverrun: d
timer_delete: d
clock_settime: clock p
clock_gettime: clock p
clock_getres: clock p
clock_nanosleep: clock timerflags p p
exit_group: d
epoll_wait: fd p d d
epoll_ctl: fd epollop fd p
tgkill: d d sig
utimes: path p
mq_open: str oflags omode p
mq_unlink: str
mq_timedsend: fd bi2 lu u p
mq_timedreceive: fd bo lu p p
mq_notify: fd p
mq_getsetattr: fd p p
waitid: idtype d p waitopts p
inotify_add_watch: fd path x
inotify_rm_watch: fd d
openat: dirfd path oflags omode
mkdirat: dirfd path mode
mknodat: special
fchownat: dirfd path uid uid atflags
futimesat: dirfd path p
newfstatat: dirfd path p atflags
unlinkat: dirfd path unlinkflags
renameat: dirfd path dirfd path
linkat: dirfd path dirfd path atflags
symlinkat: path dirfd path
readlinkat: dirfd path bo lu
fchmodat: dirfd path mode
faccessat: dirfd path accmode
pselect6: d p p p p p
ppoll: p u p p lu
unshare: cloneflags
set_robust_list: p lu
get_robust_list: d p p
splice: fd p fd p lu spliceflags
tee: fd fd lu spliceflags
sync_file_range: fd ld ld x
vmsplice: fd p lu spliceflags
utimensat: dirfd path p atflags
epoll_pwait: fd p d d p lu
signalfd: fd p lu
timerfd_create: clock tfdflags
eventfd: u
fallocate: fd fallocflags ld ld
timerfd_settime: fd timerflags p p
timerfd_gettime: fd p
accept4: fd p p sockflags
signalfd4: fd p lu sfdflags
eventfd2: u efdflags
epoll_create1: epollflags
dup3: fd fd pipeflags
pipe2: p pipeflags
inotify_init1: inflags
preadv: fd p d ld
pwritev: fd p d ld
rt_tgsigqueueinfo: d d sig p
perf_event_open: p d d fd x
recvmmsg: fd p u msgflags p
fanotify_mark: fd x x dirfd path
prlimit64: d rlimit p p
name_to_handle_at: dirfd path p p atflags
open_by_handle_at: fd p oflags
clock_adjtime: clock p
syncfs: fd
sendmmsg: fd p u msgflags
setns: fd cloneflags
getcpu: p p p
process_vm_readv: d p lu p lu lu
process_vm_writev: d p lu p lu lu
finit_module: fd str x
renameat2: dirfd path dirfd path renameflags
seccomp: seccompop seccompflags p
getrandom: bh lu grndflags
memfd_create: str mfdflags
execveat: dirfd path strv p atflags
membarrier: d x d
mlock2: p lu x
copy_file_range: fd p fd p lu u
pkey_mprotect: p lu prot d
statx: dirfd path statxflags statxmask p
rseq: p x x x
pidfd_send_signal: fd sig p u
open_tree: dirfd path x
move_mount: dirfd path dirfd path x
fsopen: str x
fspick: dirfd path x
pidfd_open: d u
clone3: p lu
close_range: u u closerangeflags
openat2: dirfd path p lu
pidfd_getfd: fd fd u
faccessat2: dirfd path accmode faccessatflags
process_madvise: fd p lu madv u
epoll_pwait2: fd p d p p lu
mount_setattr: dirfd path atflags p lu
"""

#: syscall name -> argument tokens (see the module docstring).
SIGNATURES: Final[dict[str, tuple[str, ...]]] = {
    name.strip(): tuple(tokens.split())
    for name, _, tokens in (line.partition(":") for line in _SIGNATURES.strip().splitlines())
}
