/* syscalls.c: the stops a system call makes, and what is counted there.
 *
 * Entry and exit stops (PTRACE_SYSCALL), and the seccomp TRACE stops of the
 * recording filters (set-only, known sets, `trace -e`) and of complain mode.
 * At an entry: phase triggers and markers (phases.c), watched argument values,
 * live-mode copies, and under enforcement a switch the process owes (switch.c).
 * At an exit: calls, errors and the time since the entry, per (node, phase,
 * arch, syscall). Per stop: one PTRACE_GET_SYSCALL_INFO, a clock read, a
 * counter update; no allocation, no Python.
 */
#include "core.h"

#include <errno.h>
#include <linux/audit.h>
#include <sys/ptrace.h>

uint8_t arch_code(uint32_t audit_arch, uint64_t *nr)
{
    switch (audit_arch) {
    case AUDIT_ARCH_X86_64:
        if (*nr & 0x40000000ULL) {
            *nr &= ~0x40000000ULL;
            return ARCH_X32;
        }
        return ARCH_X86_64;
    case AUDIT_ARCH_I386:
        return ARCH_I386;
    case AUDIT_ARCH_AARCH64:
        return ARCH_AARCH64;
    default:
        return ARCH_UNKNOWN;
    }
}

/* A syscall entry, seen at a syscall-entry stop or at the filter's TRACE stop; IP is where
 * the stop reports it. The re-run of a call an injection replaced is the same call: it
 * fires no trigger again. */
static void on_entry(tracer_t *t, task_t *task, uint8_t arch, uint32_t nr, const uint64_t *args,
                     uint64_t ip)
{
    int rerun = inject_is_rerun(task, nr, ip);
    task->in_syscall = 1;
    task->entry_arch = arch;
    task->entry_nr = nr;
    task->fired = 0;
    task->in_marker = rerun ? 0 : (uint8_t)phases_on_entry(t, task, args);
    task->entry_key = counter_key(task->node, task->phase, arch, nr);
    if (arch < ARCH_COUNT && nr < t->arg_watch_len[arch] && !task->in_marker) {
        uint8_t watch = t->arg_watch[arch][nr];
        for (uint8_t i = 0; watch != 0 && i < 6; i++)
            if (watch & (1u << i))
                argval_add(t, task->entry_key, i, args[i]);
    }
    if (t->live && !task->in_marker && t->seccomp_stops != STOPS_SECCOMP)
        events_capture_entry(t, task, arch, nr, args);
    if (t->capture_access && !task->in_marker && !rerun)
        access_entry(t, task, arch, nr, args);
    task->entry_ns = now_ns();
}

/* Set-only counting: the call is counted at its entry (no result, no time); exit and
 * exit_group as unfinished, as an exit-stop tracer counts them. */
static void count_at_entry(tracer_t *t, task_t *task)
{
    task->in_syscall = 0;
    if (task->in_marker) {
        task->in_marker = 0;
        return;
    }
    counter_t *c = counter_get(t, &t->counters, task->entry_key);
    if (c == NULL)
        return;
    if (syscall_flags(task->entry_arch, task->entry_nr) & SYSF_NEVER_RETURNS)
        c->unfinished++;
    else
        c->calls++;
}

static uint32_t nr32(uint64_t nr)
{
    return (uint32_t)(nr > 0xffffffffULL ? 0xffffffffULL : nr);
}

/* A syscall-entry stop while recording through filters: asked for by a pending filter
 * switch, a process whose switch failed, or a new thread's first calls (known sets). */
static void on_filtered_entry(tracer_t *t, task_t *task, const struct __ptrace_syscall_info *info)
{
    uint64_t nr = info->entry.nr;
    uint8_t arch = arch_code(info->arch, &nr);
    if (!task->degraded && (task->watch == 0 || task->switch_pending)) {
        task->entry_arch = arch;
        known_inject(t, task); /* the call runs again after the switch */
        return;
    }
    on_entry(t, task, arch, nr32(nr), info->entry.args, info->instruction_pointer);
    if (t->seccomp_stops == STOPS_SECCOMP)
        count_at_entry(t, task);
    if (!task->degraded) {
        task->watch--;
        task->entry_seen = 1; /* its seccomp stop, if the filter asks, follows */
    }
}

void on_syscall_stop(tracer_t *t, task_t *task)
{
    if (task->injecting == INJECT_LANDLOCK) { /* the exit of landlock_restrict_self */
        landlock_finish(t, task);
        return;
    }
    if (task->injecting) { /* the exit of the seccomp() we injected */
        if (t->seccomp_stops == STOPS_SYSCALL) {
            switch_finish(t, task);
        } else {
            known_finish(t, task);
            loop_resume(t, task, 0);
        }
        return;
    }
    struct __ptrace_syscall_info info;
    if (ptrace(PTRACE_GET_SYSCALL_INFO, task->tid, sizeof(info), &info) < 0) {
        if (errno != ESRCH)
            core_fail(t, "PTRACE_GET_SYSCALL_INFO", errno, task->tid);
        return;
    }
    if (info.op != PTRACE_SYSCALL_INFO_ENTRY)
        task->entry_seen = 0; /* the call recorded at its entry is over */
    if (info.op == PTRACE_SYSCALL_INFO_ENTRY && t->seccomp_stops != STOPS_SYSCALL) {
        on_filtered_entry(t, task, &info);
    } else if (info.op == PTRACE_SYSCALL_INFO_ENTRY) {
        uint64_t nr = info.entry.nr;
        uint8_t arch = arch_code(info.arch, &nr);
        on_entry(t, task, arch, nr32(nr), info.entry.args, info.instruction_pointer);
        /* enforcing: a process that owes a switch makes it before this call runs */
        if (switch_owed(t, task) && switch_request(t, task))
            return;
        if (switch_running(t) && switch_holds(t, task, 0, HOLD_RESUME, 1))
            return;
        /* its process switched: this thread restricts itself before this call runs */
        if (landlock_owed(task) && landlock_inject(t, task))
            return;
    } else if (info.op == PTRACE_SYSCALL_INFO_EXIT && task->in_syscall && task->in_marker) {
        task->in_syscall = 0; /* SYSPHASE_MARK: a phase boundary, not a call of the program */
        task->in_marker = 0;
    } else if (info.op == PTRACE_SYSCALL_INFO_EXIT && task->in_syscall) {
        uint64_t dur = now_ns() - task->entry_ns;
        task->in_syscall = 0;
        counter_t *c = counter_get(t, &t->counters, task->entry_key);
        if (c != NULL) {
            c->calls++;
            c->errors += info.exit.is_error != 0;
            c->time_ns += dur;
        }
        if (t->live)
            events_capture_exit(t, task, info.exit.rval, 1, dur);
        if (t->capture_access)
            access_exit(t, task, info.exit.rval, info.exit.is_error != 0);
    }
    /* an exit without its entry (just attached) is not counted, like strace */
    loop_resume(t, task, 0);
}

/* The filter returned SECCOMP_RET_TRACE. Complain mode: a call outside the policy,
 * counted as a violation. Recording through a filter: the call's entry (counted here,
 * or at its exit stop when filtered tracing wants results). Resuming lets it run. */
void on_seccomp(tracer_t *t, task_t *task)
{
    if (!t->complain && (t->seccomp_stops == STOPS_SYSCALL || task->injecting || task->degraded ||
                         task->entry_seen))
        return; /* our own seccomp() swap, or already seen at its entry stop */
    struct __ptrace_syscall_info info;
    if (ptrace(PTRACE_GET_SYSCALL_INFO, task->tid, sizeof(info), &info) < 0) {
        if (errno != ESRCH)
            core_fail(t, "PTRACE_GET_SYSCALL_INFO", errno, task->tid);
        return;
    }
    if (info.op != PTRACE_SYSCALL_INFO_SECCOMP)
        return;
    uint64_t nr = info.seccomp.nr;
    uint8_t arch = arch_code(info.arch, &nr);
    if (t->complain) {
        counter_t *c =
            counter_get(t, &t->violations, counter_key(task->node, task->phase, arch, nr32(nr)));
        if (c != NULL)
            c->calls++;
        violation_add(t, task, arch, nr32(nr), info.seccomp.args, 0);
        return;
    }
    on_entry(t, task, arch, nr32(nr), info.seccomp.args, info.instruction_pointer);
    if (known_inject(t, task)) { /* swapped for seccomp(): it runs again, in its new phase */
        task->in_syscall = 0;
        task->in_marker = 0;
        return;
    }
    if (t->seccomp_stops == STOPS_SECCOMP)
        count_at_entry(t, task);
}
