/* inject.c: make a stopped thread install the next phase's seccomp filter.
 *
 * Under `sysphase run`, a syscall trigger is seen at the thread's
 * syscall-entry stop. The call is swapped for seccomp(SECCOMP_SET_MODE_FILTER,
 * SECCOMP_FILTER_FLAG_TSYNC, prog), with the filter written just below the
 * thread's stack pointer (past the red zone); at the following exit stop the
 * registers are restored with the instruction pointer moved back over the
 * 2-byte syscall instruction, so the original call runs again, now under the
 * narrower filter. Filters only ever narrow, so under `run` a failure is
 * fatal: the process is killed rather than left in its wider phase. When
 * recording with known sets (known.c) the same swap stacks the next
 * (program, phase)'s recording filter, also at a seccomp TRACE stop (the
 * kernel re-runs the filters on the swapped call); a failure there only
 * costs speed: the process falls back to syscall-entry stops.
 */
#include "core.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>

#define RED_ZONE 128

/* Recording (known sets) or enforcing. */
static int recording(const tracer_t *t)
{
    return t->nknown > 0 || t->unknown_bpf != NULL;
}

/* A failed switch: enforcing kills the process (fail closed), recording degrades it. */
static void failed(tracer_t *t, task_t *task, const char *call, int err)
{
    if (recording(t)) {
        known_injected(t, task, 0);
        return;
    }
    core_fail(t, call, err, task->tid);
    (void)kill(task->tgid, SIGKILL);
}

int inject_begin(tracer_t *t, task_t *task, const uint8_t *filter, size_t len)
{
#ifdef __x86_64__
    if (filter == NULL || len == 0 || task->entry_arch != ARCH_X86_64)
        return 0;
    struct user_regs_struct regs;
    if (ptrace(PTRACE_GETREGS, task->tid, 0, &regs) < 0) {
        if (errno != ESRCH)
            core_fail(t, "PTRACE_GETREGS (phase switch)", errno, task->tid);
        return 0;
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
        if (w < 0 && errno == ESRCH)
            return 0;
        failed(t, task, "process_vm_writev (the next phase's filter, below the stack pointer)",
               w < 0 ? errno : EFAULT);
        return 0;
    }
    if (task->saved_regs == NULL && (task->saved_regs = malloc(sizeof(regs))) == NULL) {
        core_fail(t, "malloc", ENOMEM, task->tid);
        return 0;
    }
    memcpy(task->saved_regs, &regs, sizeof(regs));
    regs.orig_rax = SYS_seccomp;
    regs.rdi = SECCOMP_SET_MODE_FILTER;
    regs.rsi = SECCOMP_FILTER_FLAG_TSYNC;
    regs.rdx = base;
    if (ptrace(PTRACE_SETREGS, task->tid, 0, &regs) < 0) {
        if (errno != ESRCH)
            core_fail(t, "PTRACE_SETREGS (phase switch)", errno, task->tid);
        return 0;
    }
    task->injecting = 1;
    task->inject_ns = now_ns();
    return 1;
#else
    (void)t;
    (void)task;
    (void)filter;
    (void)len;
    return 0;
#endif
}

void inject_finish(tracer_t *t, task_t *task)
{
#ifdef __x86_64__
    struct user_regs_struct regs;
    task->injecting = 0;
    task->in_syscall = 0; /* the trigger call never ran: it runs again below */
    if (ptrace(PTRACE_GETREGS, task->tid, 0, &regs) < 0) {
        if (errno != ESRCH)
            core_fail(t, "PTRACE_GETREGS (phase switch)", errno, task->tid);
        return;
    }
    int ok = regs.rax == 0;
    if (!ok) {
        /* -errno, or the tid of a thread TSYNC could not narrow */
        int64_t rc = (int64_t)regs.rax;
        failed(t, task,
               recording(t) ? "seccomp (stacking a recording filter)"
                            : "seccomp (installing the next phase's filter)",
               rc < 0 ? (int)-rc : ESRCH);
        if (!recording(t))
            return;
    } else if (recording(t)) {
        known_injected(t, task, 1);
    }
    struct user_regs_struct *saved = task->saved_regs;
    saved->rip -= 2; /* back over syscall (0f 05): the call runs again */
    saved->rax = saved->orig_rax;
    if (ptrace(PTRACE_SETREGS, task->tid, 0, saved) < 0 && errno != ESRCH)
        core_fail(t, "PTRACE_SETREGS (phase switch)", errno, task->tid);
    if (!ok)
        return;
    t->switches++;
    t->switch_ns += now_ns() - task->inject_ns;
#else
    (void)t;
    (void)task;
#endif
}
