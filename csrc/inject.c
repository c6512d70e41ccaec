/* inject.c: make a stopped thread install a seccomp filter, or make another call (the
 * register swap).
 *
 * At a syscall-entry stop (or a seccomp TRACE stop) the thread's call is
 * swapped for seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC,
 * prog), with the filter written just below the thread's stack pointer
 * (past the red zone). At the following exit stop the registers are
 * restored so that the original call runs again, now under the new filter;
 * if that call fired a trigger, its re-run is remembered (rerun_nr,
 * rerun_ip) so it is never taken for a new call that fires the next one.
 * inject_call swaps in any other call the same way (landlock.c's
 * landlock_restrict_self). The registers themselves are arch.h's.
 *
 * This file is the mechanism only. Who decides and what a failure means:
 * switch.c under `sysphase run` (hold every tracee first, verify against the
 * kernel after, fail closed), known.c when recording with known sets (a
 * failure only costs speed).
 */
#include "core.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#define RED_ZONE 128

/* Save TASK's registers (restored by inject_end) and make it run NR(A0, A1, A2) instead. */
static int swap_call(tracer_t *t, task_t *task, arch_regs_t *regs, uint64_t nr, uint64_t a0,
                     uint64_t a1, uint64_t a2, const char **what)
{
    if (task->saved_regs == NULL && (task->saved_regs = malloc(sizeof(*regs))) == NULL) {
        core_fail(t, "malloc", ENOMEM, task->tid);
        *what = "malloc";
        return ENOMEM;
    }
    memcpy(task->saved_regs, regs, sizeof(*regs));
    arch_set_syscall(regs, nr, a0, a1, a2);
    int err = arch_set_regs(task->tid, regs);
    if (err != 0) {
        *what = "PTRACE_SETREGS (phase switch)";
        return err;
    }
    task->injecting = INJECT_SECCOMP;
    task->inject_ns = now_ns();
    return 0;
}

int inject_begin(tracer_t *t, task_t *task, const uint8_t *filter, size_t len, const char **what)
{
    *what = "seccomp (the next filter)";
    if (filter == NULL || len == 0 || task->entry_arch != ARCH_NATIVE)
        return ARCH_NATIVE == ARCH_UNKNOWN ? ENOSYS : EINVAL;
    arch_regs_t regs;
    int err = arch_get_regs(task->tid, &regs);
    if (err != 0) {
        *what = "PTRACE_GETREGS (phase switch)";
        return err;
    }
    uint64_t base = (arch_stack_pointer(&regs) - RED_ZONE - len - 64) & ~15ULL;
    struct {
        uint16_t len;
        uint16_t pad[3];
        uint64_t filter;
    } prog = {(uint16_t)(len / 8), {0, 0, 0}, base + 16};
    struct iovec local[2] = {{&prog, sizeof(prog)}, {(void *)(uintptr_t)filter, len}};
    struct iovec remote[2] = {{(void *)(uintptr_t)base, sizeof(prog)},
                              {(void *)(uintptr_t)(base + 16), len}};
    ssize_t w = process_vm_writev(task->tid, local, 2, remote, 2, 0);
    if (w != (ssize_t)(sizeof(prog) + len)) {
        *what = "process_vm_writev (the next filter, below the stack pointer)";
        return w < 0 ? errno : EFAULT;
    }
    return swap_call(t, task, &regs, SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                     SECCOMP_FILTER_FLAG_TSYNC, base, what);
}

int inject_call(tracer_t *t, task_t *task, uint64_t nr, uint64_t a0, uint64_t a1, const char **what)
{
    if (task->entry_arch != ARCH_NATIVE)
        return ARCH_NATIVE == ARCH_UNKNOWN ? ENOSYS : EINVAL;
    arch_regs_t regs;
    int err = arch_get_regs(task->tid, &regs);
    if (err != 0) {
        *what = "PTRACE_GETREGS (phase switch)";
        return err;
    }
    return swap_call(t, task, &regs, nr, a0, a1, 0, what);
}

int inject_end(tracer_t *t, task_t *task, int64_t *rval)
{
    (void)t;
    arch_regs_t regs;
    task->injecting = 0;
    task->in_syscall = 0; /* the replaced call never ran: it runs again below */
    int err = arch_get_regs(task->tid, &regs);
    if (err != 0)
        return err;
    *rval = arch_syscall_result(&regs); /* 0, -errno, or a thread TSYNC could not narrow */
    arch_regs_t *saved = task->saved_regs;
    uint64_t entry_ip;
    uint32_t nr = (uint32_t)arch_syscall_nr(saved);
    arch_rerun_syscall(saved, &entry_ip);
    if ((err = arch_set_regs(task->tid, saved)) != 0)
        return err;
    task->rerun = task->fired; /* a call that fired a trigger must not fire the next one */
    task->rerun_nr = nr;
    task->rerun_ip = entry_ip;
    return 0;
}

/* Whether this entry (number NR, reported at instruction pointer IP) is the re-run of a
 * call an injection replaced: it is not a new call, so it fires no trigger. */
int inject_is_rerun(task_t *task, uint32_t nr, uint64_t ip)
{
    if (!task->rerun || task->rerun_nr != nr || task->rerun_ip != ip)
        return 0;
    task->rerun = 0;
    return 1;
}
