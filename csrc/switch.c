/* switch.c: enforcing phase switches that a hostile program cannot slip past.
 *
 * Under `sysphase run` a process moves to its next phase when one of its
 * threads (the actor) installs that phase's filter with TSYNC. The program
 * is trusted until its first switch and may be hostile at that moment, so a
 * switch is:
 *   1. held: every other tracee of the program is stopped (PTRACE_INTERRUPT)
 *      and kept stopped, so no thread can rewrite the filter written below
 *      the actor's stack pointer, make a call under the old filter, or fork
 *      while the filter changes. A thread held at a syscall-entry stop has
 *      not been checked yet: seccomp runs after that stop, under whatever
 *      filter is in force when it is let go;
 *   2. checked before: no thread or process of the program runs untraced
 *      (CLONE_UNTRACED), and the actor's filter count is read;
 *   3. injected: the actor's call is swapped for seccomp() (inject.c);
 *   4. verified against the kernel, not the return value: every thread of
 *      the process carries exactly one filter more than the actor had
 *      (/proc/PID/task/TID/status), and, where the tracer may read filters
 *      (CAP_SYS_ADMIN), each thread's newest filter is the one written;
 *   5. released: held tracees go on as they would have.
 * Anything else (an error, a lying or killing filter of the program, a
 * thread that dies, a deadline) kills the program: filters only narrow, so
 * the only safe failure is closed.
 *
 * A process created around a switch inherits the filter its creating thread
 * had when it was last let go (run_fphase); if that is behind the phase the
 * process is in, it owes a switch and makes it at its first syscall, under
 * the same protocol. Breakpoint and phase-signal triggers start the hold at
 * their stop and the actor switches at its next syscall entry; any thread
 * of a process that owes a switch makes it before its own call runs.
 */
#include "core.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>

/* A switch whose tracees have not all stopped, or whose seccomp() has not returned, by
 * then kills the program. */
#define SWITCH_DEADLINE_NS (10ULL * 1000000000ULL)

static int enforcing(const tracer_t *t)
{
    return t->nphase_filters > 0 && t->nknown == 0 && t->unknown_bpf == NULL;
}

int switch_running(const tracer_t *t)
{
    return t->sw.actor != NULL;
}

/* Whether TASK's process must install a filter before its next call runs. */
int switch_owed(const tracer_t *t, const task_t *task)
{
    return enforcing(t) && task->target != task->fphase;
}

static const char *phase_name(const tracer_t *t, uint16_t phase)
{
    return phase < t->nphase_names ? t->phase_names[phase].name : "?";
}

void switch_fail(tracer_t *t, const char *fmt, ...)
{
    task_t *actor = t->sw.actor;
    if (t->error.call == NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(t->error.detail, sizeof(t->error.detail), fmt, ap);
        va_end(ap);
    }
    core_fail(t, "phase switch", EPERM, actor != NULL ? actor->tid : 0);
    if (actor != NULL)
        (void)kill(actor->tgid, SIGKILL); /* the rest of the program dies as the trace drains */
}

static void release(tracer_t *t);

/* Every tracee has stopped and the actor is at a syscall-entry stop: check, inject. */
static void inject(tracer_t *t)
{
    task_t *a = t->sw.actor;
    char why[sizeof(t->error.detail)];
    if (untraced_scan(t, why, sizeof(why)) < 0) {
        switch_fail(t, "%s", why);
        release(t);
        return;
    }
    long pre = filter_count(a->tgid, a->tid);
    if (pre < 0) {
        switch_fail(t, "cannot read the filter count of thread %d (Seccomp_filters): %s",
                    (int)a->tid, strerror(errno));
        release(t);
        return;
    }
    t->sw.pre_count = pre;
    const char *what;
    uint16_t phase = t->sw.phase;
    int err = inject_begin(t, a, t->phase_filters[phase], t->phase_filter_lens[phase], &what);
    if (err == 0 && ptrace(PTRACE_SYSCALL, a->tid, 0, 0) < 0) {
        what = "PTRACE_SYSCALL (phase switch)";
        err = errno;
    }
    if (err != 0) {
        switch_fail(t, "%s failed in thread %d: %s", what, (int)a->tid, strerror(err));
        release(t);
        return;
    }
    t->sw.injected = 1;
}

static void go_if_ready(tracer_t *t)
{
    if (t->sw.actor != NULL && t->sw.ready && !t->sw.injected && t->sw.waiting == 0)
        inject(t);
}

/* Start a switch of ACTOR's process to its target phase: stop every other tracee. READY:
 * the actor is at a syscall-entry stop (else it is let go until its next one). */
static void begin(tracer_t *t, task_t *actor, int ready)
{
    memset(&t->sw, 0, sizeof(t->sw));
    t->sw.actor = actor;
    t->sw.phase = actor->target;
    t->sw.ready = (uint8_t)ready;
    t->sw.start_ns = now_ns();
    t->sw.deadline_ns = t->sw.start_ns + SWITCH_DEADLINE_NS;
    for (size_t i = 0; i < t->ntasks; i++) {
        task_t *o = t->tasks[i];
        if (o->tid == 0 || o == actor || o->held || o->holding || o->awaiting || o->in_vfork ||
            o->exited || (t->root_held && o->tid == t->root))
            continue; /* stopped already (at its exit, for a service), blocked in the kernel
                       * until its vfork child goes, or past its exit (a zombie leader's
                       * death is reported only after its last thread's) */
        if (ptrace(PTRACE_INTERRUPT, o->tid, 0, 0) < 0 && errno != ESRCH) {
            switch_fail(t, "PTRACE_INTERRUPT failed for thread %d: %s", (int)o->tid,
                        strerror(errno));
            return;
        }
        o->holding = 1; /* ESRCH: dying; its death report counts as its stop */
        t->sw.waiting++;
    }
    go_if_ready(t);
}

/* The switch is over (done, failed or abandoned): start the next one a held task owes, or
 * let every held task go. */
static void release(tracer_t *t)
{
    t->sw.actor = NULL;
    t->sw.injected = 0;
    t->sw.waiting = 0;
    task_t *next = NULL;
    for (size_t i = 0; i < t->ntasks; i++)
        t->tasks[i]->holding = 0; /* a stop still coming from an interrupt is let go */
    for (size_t i = 0; !t->draining && i < t->ntasks; i++) {
        task_t *o = t->tasks[i];
        if (o->tid != 0 && o->held && switch_owed(t, o) && !o->injecting &&
            (next == NULL || (o->held_entry && !next->held_entry)))
            next = o;
    }
    if (next != NULL) {
        next->held = 0;
        int at_entry = next->held_entry && next->entry_arch == ARCH_X86_64;
        next->held_entry = 0;
        begin(t, next, at_entry); /* the others stay held */
        if (!at_entry && t->sw.actor == next)
            let_go(t, next, next->held_sig, next->held_how);
        return;
    }
    for (size_t i = 0; i < t->ntasks; i++) {
        task_t *o = t->tasks[i];
        if (o->tid == 0 || !o->held)
            continue;
        int at_entry = o->held_entry;
        o->held = 0;
        o->held_entry = 0;
        /* held at a call's entry: it restricts itself before that call runs */
        if (at_entry && landlock_owed(o) && !t->draining && landlock_inject(t, o))
            continue;
        let_go(t, o, o->held_sig, o->held_how);
    }
}

int switch_holds(tracer_t *t, task_t *task, int sig, int how, int at_entry)
{
    if (t->sw.actor == NULL || task == t->sw.actor || t->draining)
        return 0;
    task->held = 1;
    task->held_sig = sig;
    task->held_how = (uint8_t)how;
    task->held_entry = (uint8_t)at_entry;
    if (task->holding) {
        task->holding = 0;
        t->sw.waiting--;
    }
    go_if_ready(t);
    return 1;
}

/* At a syscall-entry stop of a task whose process owes a switch. Returns 1 if the task
 * stays stopped (it acts, or waits for the switch in progress). */
int switch_request(tracer_t *t, task_t *task)
{
    if (t->draining || task->entry_arch != ARCH_X86_64)
        return 0; /* another ABI's call cannot carry seccomp(); every filter denies it */
    task_t *actor = t->sw.actor;
    if (actor == task) {
        t->sw.ready = 1;
        go_if_ready(t);
        return 1;
    }
    if (actor != NULL && !t->sw.ready && !t->sw.injected && actor->tgid == task->tgid) {
        /* the thread that hit a breakpoint or took the phase signal makes no call yet:
         * this thread of the same process switches it; the other one is held */
        t->sw.actor = task;
        t->sw.ready = 1;
        if (task->holding) { /* interrupted by begin(): its stop is this one */
            task->holding = 0;
            t->sw.waiting--;
        }
        if (ptrace(PTRACE_INTERRUPT, actor->tid, 0, 0) < 0 && errno != ESRCH) {
            switch_fail(t, "PTRACE_INTERRUPT failed for thread %d: %s", (int)actor->tid,
                        strerror(errno));
            return 1;
        }
        actor->holding = 1;
        t->sw.waiting++;
        go_if_ready(t);
        return 1;
    }
    if (actor != NULL)
        return switch_holds(t, task, 0, HOLD_RESUME, 1);
    begin(t, task, 1);
    return 1;
}

/* A breakpoint or the phase signal made TASK's process owe a switch, at a stop that is
 * not a syscall entry: hold the program now; TASK switches at its next syscall entry. */
void switch_begin_at_stop(tracer_t *t, task_t *task)
{
    if (t->draining || t->sw.actor != NULL || !switch_owed(t, task))
        return;
    begin(t, task, 0);
}

/* The exit stop of the actor's seccomp(): verify, then release everyone. */
void switch_finish(tracer_t *t, task_t *task)
{
    int64_t rc = 0;
    int err = inject_end(t, task, &rc);
    if (task != t->sw.actor) { /* abandoned meanwhile (the trace is draining) */
        let_go(t, task, 0, HOLD_RESUME);
        return;
    }
    char why[sizeof(t->error.detail)];
    uint16_t phase = t->sw.phase;
    if (err != 0) {
        switch_fail(t, "PTRACE_SETREGS failed in thread %d after its switch: %s", (int)task->tid,
                    strerror(err));
    } else if (rc < 0) {
        switch_fail(t, "seccomp() failed in thread %d installing phase %s's filter: %s",
                    (int)task->tid, phase_name(t, phase), strerror((int)-rc));
    } else if (rc > 0 && rc < (int64_t)t->tidmap_len && task_get(t, (pid_t)rc) != NULL &&
               task_get(t, (pid_t)rc)->tgid == task->tgid) {
        switch_fail(t, "seccomp(TSYNC) could not narrow thread %lld to phase %s's filter",
                    (long long)rc, phase_name(t, phase));
    } else if (rc > 0) {
        switch_fail(t,
                    "seccomp() in thread %d returned %lld installing phase %s's filter: a "
                    "filter of the program answered in the kernel's place",
                    (int)task->tid, (long long)rc, phase_name(t, phase));
    } else if (switch_verify(t, task, t->sw.pre_count, why, sizeof(why)) < 0) {
        switch_fail(t, "%s", why);
    } else {
        for (size_t i = 0; i < t->ntasks; i++)
            if (t->tasks[i]->tid != 0 && t->tasks[i]->tgid == task->tgid)
                t->tasks[i]->fphase = phase;
        landlock_mark(t, task, phase); /* each thread restricts itself at its next call */
        t->switches++;
        t->switch_ns += now_ns() - t->sw.start_ns;
    }
    release(t);
    if (!switch_holds(t, task, 0, HOLD_RESUME, 0))
        let_go(t, task, 0, HOLD_RESUME);
}

/* TASK will run no code of the program again (its exit event, its death, an exec that
 * took its place). */
void switch_forget(tracer_t *t, task_t *task)
{
    if (task->holding) {
        task->holding = 0;
        t->sw.waiting--;
    }
    task->held = 0;
    if (task == t->sw.actor) {
        if (t->sw.injected)
            switch_fail(t, "thread %d died installing phase %s's filter", (int)task->tid,
                        phase_name(t, t->sw.phase));
        release(t); /* before injecting: an exec or a kill ended it; nothing to switch */
        return;
    }
    go_if_ready(t);
}

/* The trace drains: no switch goes on, every held task is let go (to be killed or detached). */
void switch_abandon(tracer_t *t)
{
    if (t->sw.actor != NULL)
        release(t);
}

void switch_check_deadline(tracer_t *t)
{
    if (t->sw.actor == NULL || now_ns() < t->sw.deadline_ns)
        return;
    if (t->sw.injected)
        switch_fail(t, "thread %d's seccomp() for phase %s did not return within %llu s",
                    (int)t->sw.actor->tid, phase_name(t, t->sw.phase),
                    SWITCH_DEADLINE_NS / 1000000000ULL);
    else
        switch_fail(t,
                    "the switch to phase %s did not begin within %llu s (%zu thread(s) did not "
                    "stop%s)",
                    phase_name(t, t->sw.phase), SWITCH_DEADLINE_NS / 1000000000ULL, t->sw.waiting,
                    t->sw.ready ? "" : ", or the switching thread made no call");
    release(t);
}
