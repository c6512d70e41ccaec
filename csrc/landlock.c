/* landlock.c: Landlock rulesets per phase under `sysphase run`.
 *
 * Python builds every phase's ruleset in the tracer's process before the
 * program starts (sysphase._host.landlock) and passes its descriptors. The
 * process that becomes the program restricts itself with the first phase's
 * ruleset before exec, and gets a copy of each later phase's ruleset at a
 * descriptor number Python chose (no close-on-exec). Landlock restricts only
 * the calling thread and has no TSYNC here (ABI 7), so at a phase switch every
 * thread of the process owes its restriction (landlock_mark, after the
 * seccomp switch is verified) and makes it before its next call runs: that
 * call is swapped for landlock_restrict_self(fd, 0) (inject.c) and runs again
 * after. Before the swap the program's descriptor must still be our ruleset
 * (kcmp: the same open file as ours; a program hostile after its first switch
 * may have closed or replaced it); any failure kills the program, as a failed
 * seccomp switch does. A thread created by a restricted thread inherits its
 * domain, so it owes nothing.
 */
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_landlock_restrict_self
#define SYS_landlock_restrict_self 446
#endif

/* In the process that becomes the program, before its filter and exec (async-signal-safe):
 * no_new_privs, the first ruleset, the later ones at their numbers. 0 or an errno. */
int landlock_child(const tracer_t *t)
{
    if (t->ll_first < 0 && t->nll == 0)
        return 0;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return errno;
    if (t->ll_first >= 0 && syscall(SYS_landlock_restrict_self, t->ll_first, 0) < 0)
        return errno;
    for (size_t i = 0; i < t->nll; i++) {
        int ours = t->ll_tracer_fd[i], theirs = t->ll_tracee_fd[i];
        if (ours < 0 || theirs < 0)
            continue;
        if (ours == theirs ? fcntl(theirs, F_SETFD, 0) < 0 : dup2(ours, theirs) < 0)
            return errno; /* dup2 leaves the copy open across exec */
    }
    return 0;
}

int landlock_owed(const task_t *task)
{
    return task->ll_owed != 0;
}

/* TASK's process switched to PHASE: every thread of it owes that phase's ruleset. */
void landlock_mark(tracer_t *t, task_t *task, uint16_t phase)
{
    if (phase >= t->nll || t->ll_tracer_fd[phase] < 0)
        return;
    for (size_t i = 0; i < t->ntasks; i++)
        if (t->tasks[i]->tid != 0 && t->tasks[i]->tgid == task->tgid)
            t->tasks[i]->ll_owed = phase;
}

static const char *label(const tracer_t *t, uint16_t phase)
{
    return phase < t->nphase_names ? t->phase_names[phase].name : "?";
}

/* Fail closed: TASK's process dies before the stopped thread runs again. */
static void fail(tracer_t *t, task_t *task, const char *why)
{
    switch_fail(t, "%s", why);
    (void)kill(task->tgid, SIGKILL); /* ESRCH: gone already */
}

/* At a syscall-entry stop of a thread that owes its restriction: swap its call for
 * landlock_restrict_self. Returns 1 if it did (the thread runs it), 0 on a failure (the
 * program is being killed). */
int landlock_inject(tracer_t *t, task_t *task)
{
    uint16_t phase = task->ll_owed;
    int ours = t->ll_tracer_fd[phase], theirs = t->ll_tracee_fd[phase];
    char why[sizeof(t->error.detail)];
    if (syscall(SYS_kcmp, getpid(), task->tgid, KCMP_FILE, ours, theirs) != 0) {
        snprintf(why, sizeof(why),
                 "descriptor %d of process %d is no longer phase %s's Landlock ruleset (closed "
                 "or replaced by the program)",
                 theirs, (int)task->tgid, label(t, phase));
        fail(t, task, why);
        return 0;
    }
    const char *what = "landlock_restrict_self";
    int err = inject_call(t, task, SYS_landlock_restrict_self, (uint64_t)theirs, 0, &what);
    if (err == 0 && ptrace(PTRACE_SYSCALL, task->tid, 0, 0) < 0 && errno != ESRCH)
        err = errno;
    if (err != 0) {
        snprintf(why, sizeof(why), "%s failed in thread %d (phase %s's Landlock ruleset): %s", what,
                 (int)task->tid, label(t, phase), strerror(err));
        fail(t, task, why);
        return 0;
    }
    task->injecting = INJECT_LANDLOCK;
    return 1;
}

/* The exit stop of the injected landlock_restrict_self: 0 or the program dies. */
void landlock_finish(tracer_t *t, task_t *task)
{
    int64_t rc = 0;
    uint16_t phase = task->ll_owed;
    int err = inject_end(t, task, &rc);
    char why[sizeof(t->error.detail)];
    if (err != 0) {
        snprintf(why, sizeof(why),
                 "PTRACE_SETREGS failed in thread %d after its Landlock restriction: %s",
                 (int)task->tid, strerror(err));
        fail(t, task, why);
    } else if (rc != 0) {
        snprintf(why, sizeof(why), "landlock_restrict_self failed in thread %d for phase %s: %s",
                 (int)task->tid, label(t, phase),
                 rc < 0 ? strerror((int)-rc) : "it returned a positive value");
        fail(t, task, why);
    } else {
        task->ll_owed = 0;
    }
    loop_resume(t, task, 0);
}

void landlock_free(tracer_t *t)
{
    free(t->ll_tracer_fd);
    free(t->ll_tracee_fd);
}
