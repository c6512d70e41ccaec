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
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TRACE_OPTIONS                                                                              \
    (PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE |      \
     PTRACE_O_TRACEEXEC | PTRACE_O_TRACEEXIT | PTRACE_O_TRACEVFORKDONE)

#define NR_CLONE_X86_64 56
#define NR_CLONE_I386 120
#define NR_CLONE3 435

/* Set by the SIGINT/SIGTERM/SIGHUP handler installed for the loop. */
static volatile sig_atomic_t g_stop_signal;
static volatile pid_t g_kill_pid; /* spawn mode: killed from the handler to wake waitpid */

static void on_stop_signal(int sig)
{
    if (g_stop_signal == 0)
        g_stop_signal = sig;
    pid_t p = g_kill_pid;
    if (p > 0)
        kill(p, SIGKILL);
}

static const int STOP_SIGNALS[3] = {SIGINT, SIGTERM, SIGHUP};

/* Installs the handler, then unblocks the stop signals: one the caller left
 * pending while blocked (sysphase's worker does, once the process that started
 * it is gone) is delivered to the handler at once, and stops the trace. */
int loop_install_handlers(saved_signals_t *old)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: waitpid must return EINTR */
    g_stop_signal = 0;
    g_kill_pid = 0;
    sigset_t stops;
    sigemptyset(&stops);
    for (int i = 0; i < 3; i++) {
        if (sigaction(STOP_SIGNALS[i], &sa, &old->act[i]) < 0) {
            while (i-- > 0)
                (void)sigaction(STOP_SIGNALS[i], &old->act[i], NULL);
            return -1;
        }
        (void)sigaddset(&stops, STOP_SIGNALS[i]); /* cannot fail: valid signals */
    }
    int rc = pthread_sigmask(SIG_UNBLOCK, &stops, &old->mask);
    if (rc != 0) {
        for (int i = 0; i < 3; i++)
            (void)sigaction(STOP_SIGNALS[i], &old->act[i], NULL);
        errno = rc;
        return -1;
    }
    return 0;
}

void loop_restore_handlers(const saved_signals_t *old)
{
    g_kill_pid = 0;
    (void)pthread_sigmask(SIG_SETMASK, &old->mask, NULL); /* cannot fail: a mask we read */
    for (int i = 0; i < 3; i++)
        (void)sigaction(STOP_SIGNALS[i], &old->act[i], NULL); /* cannot fail: same signals */
}

static uint8_t arch_code(uint32_t audit_arch, uint64_t *nr)
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
static void count_unfinished(tracer_t *t, task_t *task)
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
        int stops = task->injecting || task->switch_pending || task->degraded ||
                    (t->seccomp_stops == STOPS_SECCOMP_EXIT && task->in_syscall);
        req = stops ? PTRACE_SYSCALL : PTRACE_CONT;
    } else {
        /* enforcing: after a process's last phase switch, only events (fork, exec, exit) */
        int done = t->nphase_filters > 0 && task->trig_pos >= t->ntriggers && !task->injecting &&
                   !switch_owed(t, task);
        req = t->no_syscall_stops || done ? PTRACE_CONT : PTRACE_SYSCALL;
        if (req == PTRACE_CONT)
            task->rerun = 0; /* no entry stop will show the re-run of a replaced call */
    }
    if (ptrace(req, task->tid, 0, sig) < 0 && errno != ESRCH)
        core_fail(t, "PTRACE_SYSCALL", errno, task->tid);
}

/* Resume a stopped task, unless a phase switch in progress keeps it stopped. */
static void resume(tracer_t *t, task_t *task, int sig)
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

static uint64_t clone_flags(task_t *task)
{
    if (task->entry_nr == NR_CLONE3) {
        uint64_t flags = 0;
        struct iovec local = {&flags, sizeof(flags)};
        struct iovec remote = {(void *)(uintptr_t)task->entry_arg0, sizeof(flags)};
        if (process_vm_readv(task->tid, &local, 1, &remote, 1, 0) != (ssize_t)sizeof(flags))
            return 0;
        return flags;
    }
    if ((task->entry_arch == ARCH_X86_64 && task->entry_nr == NR_CLONE_X86_64) ||
        (task->entry_arch == ARCH_I386 && task->entry_nr == NR_CLONE_I386))
        return task->entry_arg0;
    return 0;
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
    task->entry_arg0 = args[0];
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
    if (known_is_exit(task->entry_arch, task->entry_nr))
        c->unfinished++;
    else
        c->calls++;
}

static uint32_t nr32(uint64_t nr)
{
    return (uint32_t)(nr > 0xffffffffULL ? 0xffffffffULL : nr);
}

static void on_syscall_stop(tracer_t *t, task_t *task)
{
    if (task->injecting) { /* the exit of the seccomp() we injected */
        if (t->seccomp_stops == STOPS_SYSCALL) {
            switch_finish(t, task);
        } else {
            known_finish(t, task);
            resume(t, task, 0);
        }
        return;
    }
    struct __ptrace_syscall_info info;
    if (ptrace(PTRACE_GET_SYSCALL_INFO, task->tid, sizeof(info), &info) < 0) {
        if (errno != ESRCH)
            core_fail(t, "PTRACE_GET_SYSCALL_INFO", errno, task->tid);
        return;
    }
    if (info.op == PTRACE_SYSCALL_INFO_ENTRY && t->seccomp_stops != STOPS_SYSCALL) {
        /* asked for by a pending filter switch, or a process whose switch failed */
        if (task->degraded) {
            uint64_t nr = info.entry.nr;
            uint8_t arch = arch_code(info.arch, &nr);
            on_entry(t, task, arch, nr32(nr), info.entry.args, info.instruction_pointer);
            if (t->seccomp_stops == STOPS_SECCOMP)
                count_at_entry(t, task);
        } else {
            uint64_t nr = info.entry.nr;
            task->entry_arch = arch_code(info.arch, &nr);
            known_inject(t, task); /* the call runs again after the switch */
        }
    } else if (info.op == PTRACE_SYSCALL_INFO_ENTRY) {
        uint64_t nr = info.entry.nr;
        uint8_t arch = arch_code(info.arch, &nr);
        on_entry(t, task, arch, nr32(nr), info.entry.args, info.instruction_pointer);
        /* enforcing: a process that owes a switch makes it before this call runs */
        if (switch_owed(t, task) && switch_request(t, task))
            return;
        if (switch_running(t) && switch_holds(t, task, 0, HOLD_RESUME, 1))
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
    }
    /* an exit without its entry (just attached) is not counted, like strace */
    resume(t, task, 0);
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
        kind = (clone_flags(task) & CLONE_THREAD) ? KIND_THREAD : KIND_CLONE;
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
    if (kind == KIND_VFORK)
        task->in_vfork = 1; /* runs no code until the child execs or exits (VFORK_DONE) */
    node_enter_phase(t, node, ct->phase);
    if (ct->awaiting) { /* its first stop came first: let it run now */
        ct->awaiting = 0;
        t->nawaiting--;
        if (t->draining && !t->attach)
            (void)kill(child, SIGKILL);
        resume(t, ct, 0);
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

/* The filter returned SECCOMP_RET_TRACE. Complain mode: a call outside the policy,
 * counted as a violation. Recording through a filter: the call's entry (counted here,
 * or at its exit stop when filtered tracing wants results). Resuming lets it run. */
static void on_seccomp(tracer_t *t, task_t *task)
{
    if (!t->complain && (t->seccomp_stops == STOPS_SYSCALL || task->injecting || task->degraded))
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

/* Enforcing: a filter's kill arrives as a forced SIGSYS whose siginfo names the call
 * (si_code SYS_SECCOMP) in the culprit thread, before anything dies. */
static void on_seccomp_sigsys(tracer_t *t, task_t *task)
{
    siginfo_t si;
    if (task->node < 0 || ptrace(PTRACE_GETSIGINFO, task->tid, 0, &si) < 0)
        return; /* gone: the culprit stays unknown */
    if (si.si_code != 1 /* SYS_SECCOMP */)
        return;
    uint64_t nr = (uint64_t)(uint32_t)si.si_syscall;
    uint8_t arch = arch_code(si.si_arch, &nr);
    t->nodes[task->node].exit_arch = arch;
    t->nodes[task->node].exit_nr = (int32_t)nr;
}

/* Enforcing: remember the call a dying thread was in, unless its SIGSYS already said. */
static void on_exit_event(tracer_t *t, task_t *task)
{
#ifdef __x86_64__
    if (t->filter == NULL || t->seccomp_stops != STOPS_SYSCALL || task->node < 0 ||
        t->nodes[task->node].exit_nr >= 0)
        return;
    struct user_regs_struct regs;
    struct __ptrace_syscall_info info;
    if (ptrace(PTRACE_GETREGS, task->tid, 0, &regs) < 0 ||
        ptrace(PTRACE_GET_SYSCALL_INFO, task->tid, sizeof(info), &info) < 0)
        return; /* gone already: the culprit stays unknown */
    uint64_t nr = regs.orig_rax;
    t->nodes[task->node].exit_arch = arch_code(info.arch, &nr);
    t->nodes[task->node].exit_nr = (int32_t)nr;
#else
    (void)t;
    (void)task;
#endif
}

static void on_stop(tracer_t *t, pid_t pid, int status)
{
    task_t *task = task_get(t, pid);
    if (task == NULL) {
        /* A new child's first stop, before its parent's fork/clone event:
         * hold it until the event tells us its parent. */
        task = task_new(t, pid);
        if (task != NULL) {
            task->awaiting = 1;
            t->nawaiting++;
        }
        if (t->draining && !t->attach)
            (void)kill(pid, SIGKILL);
        return;
    }
    int sig = WSTOPSIG(status);
    int event = (int)((unsigned)status >> 16);
    task->in_vfork = 0; /* it stopped: it is out of its vfork */
    if (sig == (SIGTRAP | 0x80)) {
        on_syscall_stop(t, task);
        return;
    }
    switch (event) {
    case 0: /* signal-delivery-stop: pass the signal on, unless it marks a phase */
        if (sig == SIGSYS && t->filter != NULL && t->seccomp_stops == STOPS_SYSCALL)
            on_seccomp_sigsys(t, task);
        sig = phases_on_signal(t, task, sig) ? 0 : sig;
        switch_begin_at_stop(t, task); /* a breakpoint or the phase signal: hold the program */
        resume(t, task, sig);
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
    case PTRACE_EVENT_STOP:
        if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU) {
            /* group-stop: stay stopped, but let SIGCONT and SIGKILL through */
            if (t->draining && t->attach)
                detach(t, task, 0);
            else if (!switch_holds(t, task, 0, HOLD_LISTEN, 0))
                let_go(t, task, 0, HOLD_LISTEN);
            return;
        }
        if (task->awaiting)
            return; /* still waiting for its parent's event */
        break;
    case PTRACE_EVENT_SECCOMP:
        on_seccomp(t, task);
        break;
    case PTRACE_EVENT_EXIT: /* it runs no code of the program again: never held */
        on_exit_event(t, task);
        switch_forget(t, task);
        let_go(t, task, 0, HOLD_RESUME);
        return;
    default:
        break;
    }
    resume(t, task, 0);
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
    if (pid == t->root)
        t->root_status = status;
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
        resume(t, task, 0);
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

int loop_spawn(tracer_t *t, const char *path, char *const argv[], char *const envp[])
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        core_fail(t, "pipe2", errno, 0);
        return -1;
    }
    struct sock_fprog prog = {(unsigned short)(t->filter_len / 8),
                              (struct sock_filter *)(uintptr_t)t->filter};
    pid_t pid = fork();
    if (pid < 0) {
        core_fail(t, "fork", errno, 0);
        close(pipefd[0]);
        close(pipefd[1]);
        return -1;
    }
    if (pid == 0) {
        /* child: only async-signal-safe calls from here on */
        sigset_t none;
        sigemptyset(&none);
        (void)sigprocmask(SIG_SETMASK, &none, NULL);
        (void)signal(SIGPIPE, SIG_DFL); /* Python ignores these; a shell would not */
        (void)signal(SIGXFSZ, SIG_DFL);
        close(pipefd[0]);
        (void)kill(getpid(), SIGSTOP); /* wait to be seized; nothing runs in between */
        int msg[2] = {0, 0};           /* {stage, errno}: 1 installing the filter, 2 exec */
        /* without no_new_privs when allowed (CAP_SYS_ADMIN) and asked for: a recording
         * filter must not change what setuid programs can do */
        long rc = t->filter == NULL || t->no_new_privs
                      ? -1
                      : syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
        if (t->filter != NULL && rc < 0 &&
            (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
             syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)) {
            msg[0] = 1;
            msg[1] = errno;
        } else {
            execve(path, argv, envp);
            msg[0] = 2;
            msg[1] = errno;
        }
        ssize_t w = write(pipefd[1], msg, sizeof(msg));
        (void)w;
        _exit(msg[0] == 1 ? 126 : 127);
    }
    close(pipefd[1]);
    t->root = pid;
    int status;
    pid_t w;
    do
        w = waitpid(pid, &status, WSTOPPED);
    while (w < 0 && errno == EINTR);
    if (w < 0 || !WIFSTOPPED(status)) {
        core_fail(t, "waitpid (spawned child)", w < 0 ? errno : ECHILD, pid);
        close(pipefd[0]);
        return -1;
    }
    long options = TRACE_OPTIONS | PTRACE_O_EXITKILL |
                   (t->complain || t->seccomp_stops ? PTRACE_O_TRACESECCOMP : 0);
    if (ptrace(PTRACE_SEIZE, pid, 0, options) < 0) {
        core_fail(t, "PTRACE_SEIZE", errno, pid);
        (void)kill(pid, SIGKILL);
        (void)waitpid(pid, &status, 0);
        close(pipefd[0]);
        return -1;
    }
    task_t *task = task_new(t, pid);
    int32_t node = node_new(t, pid, pid, -1, KIND_SPAWN, -1);
    if (task == NULL || node < 0) {
        close(pipefd[0]);
        return -1;
    }
    task->node = node;
    task->cur_bpf = t->filter; /* what the child installs before its exec */
    task->cur_len = t->filter_len;
    node_enter_phase(t, node, 0);
    g_kill_pid = pid;
    if (kill(pid, SIGCONT) < 0) {
        core_fail(t, "kill (SIGCONT)", errno, pid);
        close(pipefd[0]);
        return -1;
    }
    return pipefd[0];
}

static int attach_thread(tracer_t *t, pid_t tgid, pid_t tid, int32_t leader_node, int32_t image)
{
    if (task_get(t, tid) != NULL)
        return 0;
    if (ptrace(PTRACE_SEIZE, tid, 0, TRACE_OPTIONS) < 0) {
        if (errno == ESRCH)
            return 0; /* the thread exited meanwhile */
        core_fail(t, "PTRACE_SEIZE", errno, tid);
        return -1;
    }
    task_t *task = task_new(t, tid);
    if (task == NULL)
        return -1;
    int kind = tid == tgid ? KIND_ATTACH : KIND_THREAD;
    int32_t node = node_new(t, tid, tgid, tid == tgid ? -1 : leader_node, kind, image);
    if (node < 0)
        return -1;
    task->node = node;
    task->tgid = tgid;
    if (tid == tgid)
        phases_on_exec(t, task); /* addresses and the first phase of the image */
    else
        node_enter_phase(t, node, 0);
    if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) < 0 && errno != ESRCH) {
        core_fail(t, "PTRACE_INTERRUPT", errno, tid);
        return -1;
    }
    return 1;
}

int loop_attach(tracer_t *t, pid_t pid)
{
    t->root = pid;
    int32_t image = image_read(t, pid);
    if (image < 0)
        return -1;
    if (attach_thread(t, pid, pid, -1, image) < 0)
        return -1;
    if (t->ntasks == 0) {
        core_fail(t, "PTRACE_SEIZE", ESRCH, pid);
        return -1;
    }
    int32_t leader = task_get(t, pid)->node;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    /* Threads may be created while we attach: rescan until a pass finds none. */
    for (int found = 1; found > 0;) {
        found = 0;
        DIR *d = opendir(path);
        if (d == NULL) {
            core_fail(t, "opendir /proc/PID/task", errno, pid);
            return -1;
        }
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            pid_t tid = (pid_t)atoi(de->d_name);
            if (tid <= 0)
                continue;
            int r = attach_thread(t, pid, tid, leader, image);
            if (r < 0) {
                closedir(d);
                return -1;
            }
            found += r;
        }
        closedir(d);
    }
    return 0;
}

int loop_run(tracer_t *t)
{
    uint64_t nap_ns = 2000;
    t->tstate = PyEval_SaveThread();
    while (t->live_tasks > 0) {
        if (g_stop_signal && !t->interrupted)
            t->interrupted = g_stop_signal;
        if ((t->interrupted || t->py_error || t->error.call) && !t->draining)
            start_drain(t);
        if (t->live_tasks == 0)
            break;
        if (t->nawaiting == t->live_tasks)
            adopt_orphans(t);
        int status;
        pid_t pid;
        if (switch_running(t)) {
            /* a phase switch holds the program: wait with a deadline (switch.c) */
            pid = waitpid(-1, &status, __WALL | WNOHANG);
            if (pid == 0) {
                switch_check_deadline(t);
                struct timespec ts = {0, (long)nap_ns};
                (void)nanosleep(&ts, NULL); /* EINTR: a stop signal, seen at the top */
                if (nap_ns < 1000000)
                    nap_ns *= 2;
                continue;
            }
            nap_ns = 2000;
        } else if (t->nevents > 0) {
            pid = waitpid(-1, &status, __WALL | WNOHANG);
            if (pid == 0) { /* about to block: show what we have */
                flush_with_gil(t);
                continue;
            }
        } else {
            pid = waitpid(-1, &status, __WALL);
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
    }
    if (t->nevents > 0)
        flush_with_gil(t);
    PyEval_RestoreThread(t->tstate);
    t->tstate = NULL;
    return 0;
}
