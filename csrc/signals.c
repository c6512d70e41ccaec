/* signals.c: SIGINT, SIGTERM and SIGHUP while the loop runs.
 *
 * The core owns the three stop signals during a trace: the handler records
 * the first one and, in spawn mode, SIGKILLs the first tracee so that
 * waitpid wakes; the loop then drains (kills or detaches every tracee) and
 * returns what it counted with `interrupted` set. The caller's dispositions
 * and signal mask are saved and restored around the trace.
 */
#include "core.h"

#include <signal.h>
#include <string.h>

/* Set by the SIGINT/SIGTERM/SIGHUP handler installed for the loop. */
static volatile sig_atomic_t g_stop_signal;
static volatile pid_t g_kill_pid; /* spawn mode: killed from the handler to wake waitpid */

int loop_stop_signal(void)
{
    return g_stop_signal;
}

void loop_kill_on_signal(pid_t pid)
{
    g_kill_pid = pid;
}

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
