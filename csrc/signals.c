/* signals.c: the signals the tracer itself receives while the loop runs.
 *
 * Ordinary traces (`trace`, several recording runs, the Python API) own
 * SIGINT, SIGTERM and SIGHUP: the handler records the first one and, in
 * spawn mode, SIGKILLs the first tracee so that waitpid wakes; the loop then
 * drains (kills or detaches every tracee) and returns what it counted with
 * `interrupted` set.
 *
 * A traced service (adopt mode: the program kept the pid of the sysphase
 * command, and this tracer is a detached process of its own, service.c)
 * leaves the decisions to the loop: the handler only records which signal
 * came, from whom and when, for SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1,
 * SIGUSR2 and SIGWINCH. The caller's dispositions and signal mask are saved
 * and restored around the trace.
 */
#include "core.h"

#include <signal.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t g_stop_signal;
static volatile pid_t g_kill_pid;       /* spawn mode: killed from the handler to wake waitpid */
static volatile sig_atomic_t g_service; /* adopt mode: record, never kill */
/* adopt mode: per signal number, when it came (0: not pending) and from which pid */
static volatile uint64_t g_when[65];
static volatile pid_t g_from[65];

static const int SIGNALS[SAVED_SIGNALS] = {SIGINT,  SIGTERM, SIGHUP,  SIGQUIT,
                                           SIGUSR1, SIGUSR2, SIGWINCH};

int loop_stop_signal(void)
{
    return g_stop_signal;
}

void loop_kill_on_signal(pid_t pid)
{
    g_kill_pid = pid;
}

int loop_peek_signal(int sig, uint64_t *when, pid_t *from)
{
    if (sig <= 0 || sig > 64 || g_when[sig] == 0)
        return 0;
    *when = g_when[sig];
    *from = g_from[sig];
    return 1;
}

void loop_clear_signal(int sig)
{
    if (sig > 0 && sig <= 64)
        g_when[sig] = 0;
}

static void on_signal(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    if (g_service) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts); /* async-signal-safe */
        g_from[sig] = si != NULL ? si->si_pid : 0;
        g_when[sig] = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
        return;
    }
    if (g_stop_signal == 0)
        g_stop_signal = sig;
    pid_t p = g_kill_pid;
    if (p > 0)
        kill(p, SIGKILL);
}

/* Installs the handler (for the three stop signals, or in SERVICE mode all seven), then
 * unblocks them: one the caller left pending while blocked (sysphase's worker does, once
 * the process that started it is gone) is delivered to the handler at once. */
int loop_install_handlers(saved_signals_t *old, int service)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_SIGINFO; /* no SA_RESTART: waitpid must return EINTR */
    g_stop_signal = 0;
    g_kill_pid = 0;
    g_service = service;
    memset((void *)g_when, 0, sizeof(g_when));
    old->count = service ? SAVED_SIGNALS : 3;
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < old->count; i++) {
        if (sigaction(SIGNALS[i], &sa, &old->act[i]) < 0) {
            while (i-- > 0)
                (void)sigaction(SIGNALS[i], &old->act[i], NULL);
            return -1;
        }
        (void)sigaddset(&set, SIGNALS[i]); /* cannot fail: valid signals */
    }
    int rc = pthread_sigmask(SIG_UNBLOCK, &set, &old->mask);
    if (rc != 0) {
        for (int i = 0; i < old->count; i++)
            (void)sigaction(SIGNALS[i], &old->act[i], NULL);
        errno = rc;
        return -1;
    }
    return 0;
}

void loop_restore_handlers(const saved_signals_t *old)
{
    g_kill_pid = 0;
    g_service = 0;
    (void)pthread_sigmask(SIG_SETMASK, &old->mask, NULL); /* cannot fail: a mask we read */
    for (int i = 0; i < old->count; i++)
        (void)sigaction(SIGNALS[i], &old->act[i], NULL); /* cannot fail: same signals */
}
