/* inject.c: make a stopped thread install the next phase's seccomp filter.
 *
 * Under `sysphase run`, a syscall trigger is seen at the thread's
 * syscall-entry stop. The call is swapped for seccomp(SECCOMP_SET_MODE_FILTER,
 * SECCOMP_FILTER_FLAG_TSYNC, prog), with the filter written just below the
 * thread's stack pointer (past the red zone); at the following exit stop the
 * registers are restored with the instruction pointer moved back over the
 * 2-byte syscall instruction, so the original call runs again, now under the
 * narrower filter. Filters only ever narrow, so a failure is fatal: the
 * process is killed rather than left in its wider phase.
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

int inject_begin(tracer_t *t, task_t *task, uint16_t phase)
{
#ifdef __x86_64__
    if (phase >= t->nphase_filters || t->phase_filter_lens[phase] == 0 ||
        task->entry_arch != ARCH_X86_64)
        return 0;
    const uint8_t *filter = t->phase_filters[phase];
    size_t len = t->phase_filter_lens[phase];
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
        core_fail(t, "process_vm_writev (the next phase's filter, below the stack pointer)",
                  w < 0 ? errno : EFAULT, task->tid);
        (void)kill(task->tgid, SIGKILL);
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
    (void)phase;
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
    if (regs.rax != 0) {
        /* -errno, or the tid of a thread TSYNC could not narrow: fail closed */
        int64_t rc = (int64_t)regs.rax;
        core_fail(t, "seccomp (installing the next phase's filter)", rc < 0 ? (int)-rc : ESRCH,
                  task->tid);
        (void)kill(task->tgid, SIGKILL);
        return;
    }
    struct user_regs_struct *saved = task->saved_regs;
    saved->rip -= 2; /* back over syscall (0f 05) */
    saved->rax = saved->orig_rax;
    if (ptrace(PTRACE_SETREGS, task->tid, 0, saved) < 0 && errno != ESRCH)
        core_fail(t, "PTRACE_SETREGS (phase switch)", errno, task->tid);
    t->switches++;
    t->switch_ns += now_ns() - task->inject_ns;
#else
    (void)t;
    (void)task;
#endif
}
