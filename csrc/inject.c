/* inject.c: make a stopped thread install a seccomp filter (the register swap).
 *
 * At a syscall-entry stop (or a seccomp TRACE stop) the thread's call is
 * swapped for seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC,
 * prog), with the filter written just below the thread's stack pointer
 * (past the red zone). At the following exit stop the registers are
 * restored with the instruction pointer moved back over the 2-byte syscall
 * instruction, so the original call runs again, now under the new filter;
 * that re-run is remembered (rerun_nr, rerun_ip) so it is never taken for a
 * new call that could fire a trigger.
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
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>

#define RED_ZONE 128

int inject_begin(tracer_t *t, task_t *task, const uint8_t *filter, size_t len, const char **what)
{
#ifdef __x86_64__
    *what = "seccomp (the next filter)";
    if (filter == NULL || len == 0 || task->entry_arch != ARCH_X86_64)
        return EINVAL;
    struct user_regs_struct regs;
    if (ptrace(PTRACE_GETREGS, task->tid, 0, &regs) < 0) {
        *what = "PTRACE_GETREGS (phase switch)";
        return errno;
    }
    uint64_t base = (regs.rsp - RED_ZONE - len - 64) & ~15ULL;
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
    if (task->saved_regs == NULL && (task->saved_regs = malloc(sizeof(regs))) == NULL) {
        core_fail(t, "malloc", ENOMEM, task->tid);
        *what = "malloc";
        return ENOMEM;
    }
    memcpy(task->saved_regs, &regs, sizeof(regs));
    regs.orig_rax = SYS_seccomp;
    regs.rdi = SECCOMP_SET_MODE_FILTER;
    regs.rsi = SECCOMP_FILTER_FLAG_TSYNC;
    regs.rdx = base;
    if (ptrace(PTRACE_SETREGS, task->tid, 0, &regs) < 0) {
        *what = "PTRACE_SETREGS (phase switch)";
        return errno;
    }
    task->injecting = 1;
    task->inject_ns = now_ns();
    return 0;
#else
    (void)t;
    (void)task;
    (void)filter;
    (void)len;
    *what = "seccomp injection (x86_64 only)";
    return ENOSYS;
#endif
}

int inject_end(tracer_t *t, task_t *task, int64_t *rval)
{
#ifdef __x86_64__
    struct user_regs_struct regs;
    task->injecting = 0;
    task->in_syscall = 0; /* the replaced call never ran: it runs again below */
    if (ptrace(PTRACE_GETREGS, task->tid, 0, &regs) < 0)
        return errno;
    *rval = (int64_t)regs.rax; /* 0, -errno, or the tid of a thread TSYNC could not narrow */
    struct user_regs_struct *saved = task->saved_regs;
    saved->rip -= 2; /* back over syscall (0f 05): the call runs again */
    saved->rax = saved->orig_rax;
    if (ptrace(PTRACE_SETREGS, task->tid, 0, saved) < 0)
        return errno;
    task->rerun = task->fired; /* a call that fired a trigger must not fire the next one */
    task->rerun_nr = (uint32_t)saved->orig_rax;
    task->rerun_ip = saved->rip + 2; /* where an entry stop of the re-run reports it */
    (void)t;
    return 0;
#else
    (void)t;
    (void)task;
    *rval = -ENOSYS;
    return ENOSYS;
#endif
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
