/* guard.c: the run-time half of a binary patched by `sysphase patch`.
 *
 * The patched copy names this library (built with the generated policy
 * file, see guard.h) as its first needed library, so:
 *
 *   - its constructor runs before main: it resolves every interposed
 *     function, sets no_new_privs and installs the first phase's filter
 *     with SECCOMP_FILTER_FLAG_TSYNC (every thread). If any of this fails
 *     it writes one line to stderr and exits 126: the program never runs
 *     unsandboxed. The dynamic loader and the constructors of the other
 *     libraries have run by then; the filter covers everything after.
 *     Before that filter it builds every phase's Landlock ruleset and
 *     applies the first phase's in every thread (guard_landlock.c).
 *   - after each install it asks the kernel which filter is the newest (each phase's
 *     filter answers a probe prctl with its own errno): a seccomp() that returned 0
 *     without installing anything (a filter of the program answering for the kernel)
 *     is caught, and the program exits 126 instead of running in the wider phase.
 *   - it comes before libc in the symbol search order, so the functions
 *     it defines (the generated file's interposers) replace libc's for the
 *     program and its libraries. Each calls sysphase_guard_enter() and then
 *     libc's function. Phases are sequential, as under the tracer: a call
 *     starts phase k+1 only while phase k is in force, and a call advances
 *     at most one phase. The next filter is installed once per process, by
 *     the first thread that gets there; threads that call meanwhile go on
 *     under the earlier filter, which allows everything the later one does.
 *     If the phase has a Landlock ruleset, every thread then applies it
 *     (guard_landlock.c) before the phase counts as started.
 *
 * No allocation and no system call but seccomp (and write/exit_group on a
 * failure) happens after the first filter is in force, except a Landlock
 * switch's calls, which patch adds to the filters (guard_landlock.c).
 */
#define _GNU_SOURCE
#include "guard.h"

#include <dlfcn.h>
#include <errno.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define EXIT_REFUSED 126

/* Index of the phase whose filter is in force; -1 before the first one is installed. */
static atomic_int current = -1;
/* Index of the highest phase a thread has set out to install (claimed before installing). */
static atomic_int claimed = -1;

/* write(2) through syscall(): the guard may interpose write itself. */
static void say(const char *text)
{
    size_t len = strlen(text);
    while (len > 0) {
        long n = syscall(SYS_write, 2, text, len);
        if (n <= 0)
            return;
        text += n;
        len -= (size_t)n;
    }
}

static void vsay(const char *fmt, va_list ap, const char *tail)
{
    char line[512];
    int n = snprintf(line, sizeof(line), "sysphase-guard: %s: ", program_invocation_short_name);
    if (n > 0 && (size_t)n < sizeof(line))
        vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    say(line);
    say(tail);
}

void sysphase_guard_say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(fmt, ap, "\n");
    va_end(ap);
}

void sysphase_guard_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(fmt, ap, "; refusing to run unsandboxed\n");
    va_end(ap);
    _exit(EXIT_REFUSED);
}

const char *sysphase_guard_errname(int err)
{
    const char *name = strerrorname_np(err);
    return name != NULL ? name : "unknown error";
}

static void install(int index)
{
    const struct sysphase_guard_phase *phase = &sysphase_guard_phases[index];
    struct sock_fprog prog = {
        .len = phase->len,
        .filter = (struct sock_filter *)phase->filter, /* the kernel only reads it */
    };
    long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
    if (rc < 0)
        sysphase_guard_die("seccomp(SECCOMP_SET_MODE_FILTER) failed for phase \"%s\": %s",
                           phase->name, sysphase_guard_errname(errno));
    if (rc > 0) /* TSYNC: a thread whose filters differ cannot follow */
        sysphase_guard_die(
            "seccomp(SECCOMP_FILTER_FLAG_TSYNC) failed for phase \"%s\": thread %ld cannot "
            "be synchronised",
            phase->name, rc);
    errno = 0;
    long probe = syscall(SYS_prctl, SYSPHASE_GUARD_PROBE_OPTION, 0, 0, 0, 0);
    if (probe != -1 || errno != SYSPHASE_GUARD_PROBE_ERRNO + index)
        sysphase_guard_die(
            "seccomp(SECCOMP_SET_MODE_FILTER) returned 0 for phase \"%s\", but the kernel "
            "does not run its filter (a filter of the program answered in its place)",
            phase->name);
}

void sysphase_guard_enter(unsigned long long phases)
{
    int cur = atomic_load(&current);
    if (cur < 0 || (unsigned)cur + 1 >= sysphase_guard_nphases || !((phases >> (cur + 1)) & 1))
        return;
    int expected = cur;
    if (!atomic_compare_exchange_strong(&claimed, &expected, cur + 1))
        return; /* another thread (or an interrupted call of this one) is installing it */
    int saved = errno;
    install(cur + 1);
    sysphase_guard_landlock_switch(cur + 1);
    atomic_store(&current, cur + 1);
    errno = saved;
}

void sysphase_guard_resolve(const char *name, void **real)
{
    void *next = dlsym(RTLD_NEXT, name);
    if (next == NULL)
        sysphase_guard_die("no library after the guard defines %s()", name);
    *real = next;
}

/* A child forked while another thread was installing a filter: let it install again. */
static void after_fork_in_child(void)
{
    atomic_store(&claimed, atomic_load(&current));
    sysphase_guard_landlock_forked();
}

__attribute__((constructor)) static void sysphase_guard_init(void)
{
    if (sysphase_guard_nphases < 1 || sysphase_guard_nphases > SYSPHASE_GUARD_MAX_PHASES)
        sysphase_guard_die("the guard holds %u phases", sysphase_guard_nphases);
    for (const struct sysphase_guard_hook *hook = sysphase_guard_hooks; hook->name; hook++)
        if (*hook->real == NULL)
            sysphase_guard_resolve(hook->name, hook->real);
    int err = pthread_atfork(NULL, NULL, after_fork_in_child);
    if (err != 0)
        sysphase_guard_die("pthread_atfork failed: %s", sysphase_guard_errname(err));
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        sysphase_guard_die("prctl(PR_SET_NO_NEW_PRIVS) failed: %s", sysphase_guard_errname(errno));
    sysphase_guard_landlock_init();
    install(0);
    atomic_store(&claimed, 0);
    atomic_store(&current, 0);
}
