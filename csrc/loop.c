/* loop.c: spawn or attach, then the ptrace stop loop.
 *
 * Everything here runs without the GIL on the thread that called trace():
 * ptrace binds tracees to that thread. Per stop the loop does one waitpid,
 * at most one PTRACE_GET_SYSCALL_INFO, a clock read, a counter update and
 * one resume; it allocates nothing and calls no Python unless live mode has
 * a full batch or is about to block.
 *
 * Tracees are seized (PTRACE_SEIZE), so group-stops are reported as
 * PTRACE_EVENT_STOP and answered with PTRACE_LISTEN: SIGSTOP, SIGCONT and
 * job control behave as without a tracer.
 */
#include "core.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void end_node(tracer_t *t, task_t *task, int end, int value)
{
    if (task->node < 0)
        return;
    node_t *n = &t->nodes[task->node];
    if (n->end != END_RUNNING)
        return;
    n->end = (uint8_t)end;
    n->end_value = value;
    n->end_ns = now_ns();
}

/* A syscall whose exit the thread will never reach (exit_group, killed). */
void count_unfinished(tracer_t *t, task_t *task)
{
    if (!task->in_syscall || task->in_marker)
        return;
    task->in_syscall = 0;
    counter_t *c = counter_get(t, &t->counters, task->entry_key);
    if (c != NULL)
        c->unfinished++;
    if (t->live)
        events_capture_exit(t, task, 0, 0, now_ns() - task->entry_ns);
}

static void detach(tracer_t *t, task_t *task, int sig)
{
    if (ptrace(PTRACE_DETACH, task->tid, 0, sig) < 0 && errno != ESRCH)
        core_fail(t, "PTRACE_DETACH", errno, task->tid);
    count_unfinished(t, task);
    end_node(t, task, END_DETACHED, 0);
    switch_forget(t, task);
    task_del(t, task);
}

/* Let a stopped task go on: resume it (passing SIG), or, in a group-stop, listen. */
void let_go(tracer_t *t, task_t *task, int sig, int how)
{
    if (t->draining && t->attach) {
        detach(t, task, sig);
        return;
    }
    task->run_fphase = task->fphase; /* what a process it creates from now on inherits */
    if (how == HOLD_LISTEN) {
        if (ptrace(PTRACE_LISTEN, task->tid, 0, 0) < 0 && errno != ESRCH)
            core_fail(t, "PTRACE_LISTEN", errno, task->tid);
        return;
    }
    int req;
    if (t->seccomp_stops != STOPS_SYSCALL) {
        /* the filter's TRACE stops come with PTRACE_CONT; syscall stops only for the exit
         * of a call that stopped (filtered tracing), a pending or running filter switch,
         * or a process whose switch failed */
        int stops = task->injecting || task->switch_pending || task->degraded || task->watch ||
                    task->entry_seen ||
                    (t->seccomp_stops == STOPS_SECCOMP_EXIT && task->in_syscall);
        req = stops ? PTRACE_SYSCALL : PTRACE_CONT;
    } else {
        /* enforcing: after a process's last phase switch, only events (fork, exec, exit) */
        int done = t->nphase_filters > 0 && task->trig_pos >= t->ntriggers && !task->injecting &&
                   !switch_owed(t, task) && !landlock_owed(task);
        req = t->no_syscall_stops || done || t->adopt_preexec ? PTRACE_CONT : PTRACE_SYSCALL;
        if (req == PTRACE_CONT)
            task->rerun = 0; /* no entry stop will show the re-run of a replaced call */
    }
    if (ptrace(req, task->tid, 0, sig) < 0 && errno != ESRCH)
        core_fail(t, "PTRACE_SYSCALL", errno, task->tid);
}

/* Resume a stopped task, unless a phase switch in progress keeps it stopped. */
void loop_resume(tracer_t *t, task_t *task, int sig)
{
    if (!switch_holds(t, task, sig, HOLD_RESUME, 0))
        let_go(t, task, sig, HOLD_RESUME);
}

static void start_drain(tracer_t *t)
{
    t->draining = 1;
    switch_abandon(t); /* held tasks go: they are killed (or detached) below */
    for (size_t i = 0; i < t->ntasks; i++) {
        task_t *task = t->tasks[i];
        if (task->tid == 0)
            continue;
        if (t->root_held && task->tid == t->root) {
            /* a process in its exit drops every signal, SIGKILL too: let it finish */
            t->root_held = 0;
            let_go(t, task, 0, HOLD_RESUME);
            continue;
        }
        if (!t->attach) {
            (void)kill(task->tid, SIGKILL); /* ESRCH: already gone, reported by waitpid */
        } else if (task->awaiting) {
            task->awaiting = 0;
            t->nawaiting--;
            detach(t, task, 0);
        } else if (ptrace(PTRACE_INTERRUPT, task->tid, 0, 0) < 0 && errno != ESRCH) {
            core_fail(t, "PTRACE_INTERRUPT", errno, task->tid);
        }
    }
}

/* Whether CHILD, just created by a clone or clone3 of PARENT_TGID's thread, is a thread of
 * that process: the kernel's Tgid (/proc/CHILD/status), never the flags in the program's
 * memory, which another thread may have rewritten after the kernel read them. A child gone
 * already (no status) counts as a process: it runs no code either way. */
static int is_thread_of(pid_t child, pid_t parent_tgid)
{
    char name[64], buf[512];
    snprintf(name, sizeof(name), "/proc/%d/status", (int)child);
    int fd = open(name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    (void)close(fd); /* read-only: nothing to lose */
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *tgid = strstr(buf, "\nTgid:");
    return tgid != NULL && (pid_t)strtol(tgid + 6, NULL, 10) == parent_tgid;
}

static void on_new_task_event(tracer_t *t, task_t *task, int event)
{
    unsigned long msg = 0;
    if (ptrace(PTRACE_GETEVENTMSG, task->tid, 0, &msg) < 0) {
        if (errno != ESRCH)
            core_fail(t, "PTRACE_GETEVENTMSG", errno, task->tid);
        return;
    }
    pid_t child = (pid_t)msg;
    int kind = KIND_FORK;
    if (event == PTRACE_EVENT_VFORK)
        kind = KIND_VFORK;
    else if (event == PTRACE_EVENT_CLONE)
        kind = is_thread_of(child, task->tgid) ? KIND_THREAD : KIND_CLONE;
    pid_t tgid = kind == KIND_THREAD ? task->tgid : child;
    int32_t image = task->node >= 0 ? t->nodes[task->node].image : -1;
    int32_t node = node_new(t, child, tgid, task->node, kind, image);
    task_t *ct = task_get(t, child);
    if (ct == NULL)
        ct = task_new(t, child);
    if (node < 0 || ct == NULL)
        return;
    ct->node = node;
    ct->tgid = tgid;
    phases_inherit(ct, task);
    if (kind != KIND_THREAD)
        ct->fphase = task->run_fphase; /* the filter the creating thread ran under */
    ct->ll_owed = task->ll_owed;       /* created by a call in flight at a switch: it owes it too */
    if (kind == KIND_THREAD && (t->nknown > 0 || t->unknown_bpf != NULL))
        ct->watch = WATCH_CALLS; /* its start-up calls, known or not, into its own node */
    if (kind == KIND_VFORK)
        task->in_vfork = 1; /* runs no code until the child execs or exits (VFORK_DONE) */
    node_enter_phase(t, node, ct->phase);
    if (ct->awaiting) { /* its first stop came first: let it run now */
        ct->awaiting = 0;
        t->nawaiting--;
        if (t->draining && !t->attach)
            (void)kill(child, SIGKILL);
        loop_resume(t, ct, 0);
    } else if (t->draining && !t->attach) {
        (void)kill(child, SIGKILL);
    }
}

static void on_exec(tracer_t *t, task_t *task)
{
    unsigned long former = 0;
    if (ptrace(PTRACE_GETEVENTMSG, task->tid, 0, &former) < 0) {
        if (errno != ESRCH)
            core_fail(t, "PTRACE_GETEVENTMSG", errno, task->tid);
        return;
    }
    pid_t tid = task->tid;
    if ((pid_t)former != tid && former != 0) {
        /* A non-leader thread exec'd: it takes the leader's tid; the old
         * leader is gone without a death report of its own. */
        task_t *execer = task_get(t, (pid_t)former);
        if (execer != NULL) {
            count_unfinished(t, task);
            end_node(t, task, END_VANISHED, 0);
            switch_forget(t, task);
            task_del(t, task);
            task_move(t, execer, tid);
            task = execer;
        }
    }
    int32_t image = image_read(t, tid);
    if (image < 0 || task->node < 0)
        return;
    node_t *old = &t->nodes[task->node];
    if (old->image < 0) { /* the spawned child's first exec: its own image */
        old->image = image;
        service_first_exec(t, task);
    } else {
        end_node(t, task, END_EXEC, 0);
        int32_t node = node_new(t, tid, tid, task->node, KIND_EXEC, image);
        if (node < 0)
            return;
        task->node = node;
        task->tgid = tid;
    }
    phases_on_exec(t, task);
}

/* Adopt: the root is held at its exit; it ends here as on_gone would end it. */
static void on_held_exit(tracer_t *t, task_t *task)
{
    count_unfinished(t, task);
    if (WIFEXITED(t->root_status))
        end_node(t, task, END_EXITED, WEXITSTATUS(t->root_status));
    else
        end_node(t, task, END_SIGNALED, WTERMSIG(t->root_status));
}

/* A new child's first stop, before its parent's fork/clone event: hold it until the
 * event tells us its parent. */
static void on_first_stop(tracer_t *t, pid_t pid)
{
    task_t *task = task_new(t, pid);
    if (task != NULL) {
        task->awaiting = 1;
        t->nawaiting++;
    }
    if (t->draining && !t->attach)
        (void)kill(pid, SIGKILL);
}

/* A group-stop: stay stopped, but let SIGCONT and SIGKILL through. */
static void on_group_stop(tracer_t *t, task_t *task)
{
    if (t->draining && t->attach)
        detach(t, task, 0);
    else if (!switch_holds(t, task, 0, HOLD_LISTEN, 0))
        let_go(t, task, 0, HOLD_LISTEN);
}

/* A signal-delivery-stop: pass the signal on, unless it marks a phase. */
static void on_signal_delivery(tracer_t *t, task_t *task, int sig)
{
    if (sig == SIGSYS && (t->filter != NULL || t->nphase_filters > 0) &&
        t->seccomp_stops == STOPS_SYSCALL)
        kill_on_sigsys(t, task);
    sig = phases_on_signal(t, task, sig) ? 0 : sig;
    if (sig != 0 && t->adopt && task->tgid == t->root)
        service_root_signal(t, task, sig);
    switch_begin_at_stop(t, task); /* a breakpoint or the phase signal: hold the program */
    loop_resume(t, task, sig);
}

static void on_stop(tracer_t *t, pid_t pid, int status)
{
    task_t *task = task_get(t, pid);
    if (task == NULL) {
        on_first_stop(t, pid);
        return;
    }
    int sig = WSTOPSIG(status);
    int event = (int)((unsigned)status >> 16);
    task->in_vfork = 0; /* it stopped: it is out of its vfork */
    if (sig == (SIGTRAP | 0x80)) {
        on_syscall_stop(t, task);
        return;
    }
    if (event == PTRACE_EVENT_STOP &&
        (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU)) {
        on_group_stop(t, task);
        return;
    }
    switch (event) {
    case 0:
        on_signal_delivery(t, task, sig);
        return;
    case PTRACE_EVENT_FORK:
    case PTRACE_EVENT_VFORK:
    case PTRACE_EVENT_CLONE:
        on_new_task_event(t, task, event);
        break;
    case PTRACE_EVENT_EXEC:
        on_exec(t, task);
        task = task_get(t, pid); /* the execing thread now owns pid */
        if (task == NULL)
            return;
        break;
    case PTRACE_EVENT_STOP: /* an interrupt's trap, or a new task's first stop */
        if (task->awaiting)
            return; /* still waiting for its parent's event */
        break;
    case PTRACE_EVENT_SECCOMP:
        on_seccomp(t, task);
        break;
    case PTRACE_EVENT_EXIT: /* it runs no code of the program again: never held by a switch */
        kill_on_exit(t, task);
        task->exited = 1;
        switch_forget(t, task);
        if (!service_hold_exit(t, task)) /* adopt: the root waits for the results */
            let_go(t, task, 0, HOLD_RESUME);
        else
            on_held_exit(t, task);
        return;
    default:
        break;
    }
    loop_resume(t, task, 0);
}

static void on_gone(tracer_t *t, pid_t pid, int status)
{
    task_t *task = task_get(t, pid);
    if (task == NULL)
        return; /* not ours (an untraced child of the calling process) */
    count_unfinished(t, task);
    if (WIFEXITED(status))
        end_node(t, task, END_EXITED, WEXITSTATUS(status));
    else
        end_node(t, task, END_SIGNALED, WTERMSIG(status));
    if (pid == t->root) {
        t->root_status = status;
        t->root_held = 0;
        service_root_ended(t);
    }
    switch_forget(t, task);
    task_del(t, task);
}

/* Only tasks waiting for their parent's fork event are left: the parent died
 * before reporting it (SIGKILL). Let them run as roots of their own. */
static void adopt_orphans(tracer_t *t)
{
    for (size_t i = 0; i < t->ntasks; i++) {
        task_t *task = t->tasks[i];
        if (task->tid == 0 || !task->awaiting)
            continue;
        task->awaiting = 0;
        t->nawaiting--;
        task->node = node_new(t, task->tid, task->tid, -1, KIND_CLONE, -1);
        if (t->draining && !t->attach)
            (void)kill(task->tid, SIGKILL);
        loop_resume(t, task, 0);
    }
}

static int flush_with_gil(tracer_t *t)
{
    if (t->py_error || t->sink == NULL) {
        t->nevents = 0;
        return 0;
    }
    PyEval_RestoreThread(t->tstate);
    int rc = events_flush(t);
    t->tstate = PyEval_SaveThread();
    if (rc < 0) {
        t->py_error = 1;
        t->nevents = 0;
    }
    return rc;
}

/* The next stop or death (its pid), 0 to look again, or -1 with errno. While a phase
 * switch holds the program it polls with a growing nap and the switch's deadline;
 * with live events waiting it flushes them before it would block. */
static pid_t next_stop(tracer_t *t, int *status, uint64_t *nap_ns)
{
    pid_t pid;
    if (switch_running(t)) {
        pid = waitpid(-1, status, __WALL | WNOHANG);
        if (pid == 0) {
            switch_check_deadline(t);
            struct timespec ts = {0, (long)*nap_ns};
            (void)nanosleep(&ts, NULL); /* EINTR: a stop signal, seen by the caller */
            if (*nap_ns < 1000000)
                *nap_ns *= 2;
        } else {
            *nap_ns = 2000;
        }
        return pid;
    }
    uint64_t wake = service_wake_ns(t), report = snapshot_wake_ns(t);
    if (report != 0 && (wake == 0 || report < wake))
        wake = report;
    if (wake != 0) /* a service's signal or deadline, or a report, is due: poll */
        return wait_until(status, wake);
    if (t->nevents > 0) {
        pid = waitpid(-1, status, __WALL | WNOHANG);
        if (pid == 0) /* about to block: show what we have */
            flush_with_gil(t);
        return pid;
    }
    return waitpid(-1, status, __WALL);
}

int loop_run(tracer_t *t)
{
    uint64_t nap_ns = 2000;
    t->tstate = PyEval_SaveThread();
    while (t->live_tasks > (size_t)t->root_held) {
        if (loop_stop_signal() && !t->interrupted)
            t->interrupted = loop_stop_signal();
        service_poll(t);
        if ((t->interrupted || t->py_error || t->error.call || attach_done(t)) && !t->draining)
            start_drain(t); /* attach_done: run -p installed its filters; detach */
        if (t->live_tasks <= (size_t)t->root_held)
            break;
        if (t->nawaiting > 0 && t->nawaiting + (size_t)t->root_held == t->live_tasks)
            adopt_orphans(t);
        int status;
        pid_t pid = next_stop(t, &status, &nap_ns);
        if (pid == 0) {
            snapshot_take(t);
            continue;
        }
        if (pid < 0) {
            if (errno == EINTR) {
                PyEval_RestoreThread(t->tstate);
                if (PyErr_CheckSignals() < 0)
                    t->py_error = 1;
                t->tstate = PyEval_SaveThread();
                continue;
            }
            if (errno == ECHILD)
                break; /* every tracee is gone */
            core_fail(t, "waitpid", errno, 0);
            break;
        }
        t->stops++;
        if (WIFSTOPPED(status))
            on_stop(t, pid, status);
        else if (WIFEXITED(status) || WIFSIGNALED(status))
            on_gone(t, pid, status);
        if (t->nevents >= t->batch_max)
            flush_with_gil(t);
        violations_flush(t); /* reported as they happen */
        snapshot_take(t);
    }
    if (t->nevents > 0)
        flush_with_gil(t);
    violations_flush(t);
    PyEval_RestoreThread(t->tstate);
    t->tstate = NULL;
    return 0;
}
