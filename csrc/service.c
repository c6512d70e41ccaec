/* service.c: a traced service keeps its pid, its signals, and its exit.
 *
 * In adopt mode the program is the process the user (a shell, systemd) started:
 * `sysphase run` and `record` exec it in place, and this tracer is a detached
 * grandchild that seized it first (spawn.c: loop_adopt). So:
 *   - signals sent to the program reach it as without sysphase; the tracer sees
 *     their delivery. The first SIGINT or SIGTERM arms a deadline (kill_after),
 *     and so does the program's end (what it leaves running gets as long, as
 *     under systemd): when it passes (interrupted = SIGKILL) the whole tree is
 *     killed (the trace drains, results are still returned). Later SIGINTs and
 *     SIGTERMs are only delivered: what a second one means is the program's
 *     (redis exits at once, deleting its temporary files first);
 *   - signals sent to the tracer itself (SIGINT, SIGTERM, SIGHUP, SIGQUIT,
 *     SIGUSR1, SIGUSR2, SIGWINCH) are forwarded to the program, unless the
 *     program got the same signal at about the same time (systemd signals a
 *     whole cgroup: the program must not get it twice): each waits
 *     SIGNAL_GRACE_NS for the program's own copy to show up; once the
 *     program has ended, one kills what it left running;
 *   - the program's exit is held: its main thread stops at PTRACE_EVENT_EXIT
 *     and is let go (release) only after the caller has written its results,
 *     so whoever waits for the program sees it end after the profile exists.
 *     (A SIGKILLed program does not stop there; its end is seen at once.)
 */
#include "core.h"

#include <errno.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#define SIGNAL_GRACE_NS (50ULL * 1000000ULL)
#define SAME_SIGNAL_NS (1000ULL * 1000000ULL)

static const int FORWARDED[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
#define NFORWARDED ((int)(sizeof(FORWARDED) / sizeof(FORWARDED[0])))

static int stops_service(int sig)
{
    return sig == SIGINT || sig == SIGTERM;
}

void service_root_signal(tracer_t *t, task_t *task, int sig)
{
    if (!t->adopt || sig <= 0 || sig > 64)
        return;
    siginfo_t si;
    pid_t from = ptrace(PTRACE_GETSIGINFO, task->tid, 0, &si) == 0 ? si.si_pid : 0;
    uint64_t now = now_ns();
    t->root_sig_ns[sig] = now;
    t->root_sig_from[sig] = from;
    if (!stops_service(sig) || (from > 0 && task_get(t, from) != NULL))
        return; /* not a stop, or one the program sent itself (a handler's raise()) */
    /* the first arms the deadline; a later one is the program's own business (redis exits
     * at once on a second SIGINT, and cleans up first): it is delivered, nothing more */
    if (t->kill_at_ns == 0)
        t->kill_at_ns = t->kill_after_ns == 0 ? UINT64_MAX /* never */ : now + t->kill_after_ns;
}

/* Forward the signals the tracer got to the program; a SIGINT or SIGTERM only once its
 * grace has passed and the program has not had its own copy. */
void service_poll(tracer_t *t)
{
    if (!t->adopt)
        return;
    uint64_t now = now_ns();
    for (int i = 0; i < NFORWARDED; i++) {
        int sig = FORWARDED[i];
        uint64_t when;
        pid_t from;
        if (!loop_peek_signal(sig, &when, &from))
            continue;
        if (now < when + SIGNAL_GRACE_NS)
            continue; /* the program's own copy may still be on its way */
        loop_clear_signal(sig);
        if (t->root_status != -1) { /* the program has ended: its remaining processes */
            if (stops_service(sig) && !t->interrupted)
                t->interrupted = sig;
            continue;
        }
        uint64_t last = t->root_sig_ns[sig];
        int had_it = last != 0 && last + SAME_SIGNAL_NS >= when && last <= when + SAME_SIGNAL_NS &&
                     (from == 0 || t->root_sig_from[sig] == from);
        if (!had_it && kill(t->root, sig) < 0 && errno != ESRCH)
            core_fail(t, "kill (forwarding a signal to the program)", errno, t->root);
    }
    if (t->kill_at_ns != 0 && now >= t->kill_at_ns) {
        t->kill_at_ns = UINT64_MAX; /* once */
        if (!t->interrupted)
            t->interrupted = SIGKILL; /* --kill-after passed: the whole tree */
    }
}

uint64_t service_wake_ns(tracer_t *t)
{
    if (!t->adopt)
        return 0;
    uint64_t wake = t->kill_at_ns == UINT64_MAX ? 0 : t->kill_at_ns;
    for (int i = 0; i < NFORWARDED; i++) {
        uint64_t when;
        pid_t from;
        if (loop_peek_signal(FORWARDED[i], &when, &from)) {
            uint64_t at = when + SIGNAL_GRACE_NS;
            if (wake == 0 || at < wake)
                wake = at;
        }
    }
    return wake;
}

void service_root_ended(tracer_t *t)
{
    if (t->adopt && t->kill_at_ns == 0)
        t->kill_at_ns = t->kill_after_ns == 0 ? UINT64_MAX : now_ns() + t->kill_after_ns;
}

int service_hold_exit(tracer_t *t, task_t *task)
{
    if (!t->adopt || t->adopt_preexec || task->tid != t->root || t->draining)
        return 0; /* not a service's program (one that never started is not held) */
    unsigned long msg = 0;
    if (ptrace(PTRACE_GETEVENTMSG, task->tid, 0, &msg) < 0)
        return 0;
    int status = (int)msg;
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        return 0; /* dying of SIGKILL (an exec's other thread, a kill -9): it will not stop */
    t->root_held = 1;
    t->root_status = status;
    service_root_ended(t);
    return 1;
}

int service_release(pid_t pid)
{
    if (ptrace(PTRACE_DETACH, pid, 0, 0) < 0 && errno != ESRCH)
        return errno;
    return 0;
}

/* The root's exec in place ends its pre-exec run without syscall stops; that execve is
 * counted as a spawned child's would be at its entry stop. */
void service_first_exec(tracer_t *t, task_t *task)
{
    if (!t->adopt_preexec || task->tid != t->root)
        return;
    t->adopt_preexec = 0;
    if (t->seccomp_stops != STOPS_SYSCALL || t->no_syscall_stops || ARCH_NATIVE == ARCH_UNKNOWN)
        return; /* a filter's TRACE stop counted it, or nothing is counted */
    counter_t *c =
        counter_get(t, &t->counters, counter_key(task->node, task->phase, ARCH_NATIVE, SYS_execve));
    if (c != NULL)
        c->calls++;
}

/* One waitpid without blocking, for a loop with a deadline (a service's signal grace or
 * kill_after, a report's time): a nap of at most 5 ms, until WAKE, when nothing is there. */
pid_t wait_until(int *status, uint64_t wake)
{
    pid_t pid = waitpid(-1, status, __WALL | WNOHANG);
    uint64_t now = now_ns();
    if (pid == 0 && wake > now) {
        uint64_t nap = wake - now < 5000000 ? wake - now : 5000000;
        struct timespec ts = {0, (long)nap};
        (void)nanosleep(&ts, NULL); /* EINTR: a signal, seen by the caller */
    }
    return pid;
}
