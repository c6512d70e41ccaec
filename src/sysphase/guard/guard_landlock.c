/* guard_landlock.c: the Landlock rulesets of a binary patched by `sysphase patch`.
 *
 * The generated policy file gives each phase with a Landlock section its
 * ruleset as data (guard.h: handled rights, path-beneath rules, TCP ports,
 * scopes), made for the newest ABI sysphase knows.
 *
 *   - The constructor (guard.c, before the first seccomp filter, while the
 *     program is trusted) asks the kernel for its Landlock ABI and builds
 *     every phase's ruleset, leaving out what that ABI does not know (one
 *     line on stderr says what), rules on paths that do not exist (a line
 *     each) and, on non-directories, rights other than file rights. No
 *     Landlock at all: one line, and seccomp alone is enforced. It opens
 *     /proc/self/task and installs the handler of SWITCH_SIGNAL, then applies
 *     the first phase's ruleset in every thread.
 *   - At a later switch, after the phase's filter is in force (TSYNC), every
 *     thread must call landlock_restrict_self itself (Landlock restricts the
 *     calling thread only, and has no TSYNC on ABI 7). As glibc's setxid
 *     broadcast does: the switching thread reads /proc/self/task and sends
 *     SWITCH_SIGNAL to every other thread (tgkill); each thread's handler
 *     restricts it and acknowledges (its tid, and the switch's number);
 *     the switching thread reads the list again until two readings in a row
 *     find no thread that has not acknowledged (threads started meanwhile are
 *     signalled too), and restricts itself last (every signal then goes from
 *     a thread no more restricted than its target, which the signal scope
 *     allows on any kernel). Any failure, or threads that do not answer
 *     within SWITCH_TIMEOUT_S, end the process (exit 126, one line), as a
 *     failed seccomp switch does.
 *   - A forked child's /proc/self/task descriptor lists its parent's threads;
 *     it cannot open its own (its ruleset may not allow it), so it counts the
 *     threads it started (the pthread_create interposer): none, it restricts
 *     itself alone; some, the switch fails closed.
 *
 * The rulesets are closed once applied. The calls a switch makes
 * (sysphase.policy.guard_landlock.SWITCH_CALLS) are added by patch to the
 * filters of every phase up to the last one with a ruleset.
 */
#define _GNU_SOURCE
#include "guard_landlock.h"
#include "guard.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct ll_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

/* The switch's signal: glibc keeps 32 and 33 for itself; SIGRTMAX - 1 is left to programs,
 * and a patched program must leave it alone. */
#define SWITCH_SIGNAL (SIGRTMAX - 1)
#define SWITCH_TIMEOUT_S 5
/* At most this many threads answer one switch; the acknowledgements live in a ring twice as
 * large (an answer late from an earlier switch can never overwrite a current one). */
#define MAX_THREADS 8192
#define ACK_RING (2 * MAX_THREADS)

static int ruleset_fd[SYSPHASE_GUARD_MAX_PHASES];
static int task_fd = -1;
static pid_t task_pid;
static dev_t task_dev;
static ino_t task_ino;
static pthread_t main_thread;
static atomic_int main_thread_gone;
static atomic_int threads_since_fork;

/* The switch being made: its number (phase index + 1; 0: none) and ruleset. */
static atomic_int switch_gen;
static atomic_int switch_fd = -1;
/* errno of a handler's failed landlock_restrict_self (0: none). */
static atomic_int switch_error;
/* Acknowledgements: (switch number << 32 | tid), at ack_count % ACK_RING. */
static _Atomic unsigned long long acks[ACK_RING];
static atomic_ulong ack_count;
/* A thread's answer to SWITCH_SIGNAL: restrict itself, acknowledge (its kernel tid). It
 * restricts itself at every signal: nothing the thread keeps may say it did already (threads
 * made by a raw clone without CLONE_SETTLS share their creator's thread-local storage), and
 * a second restriction with the same ruleset grants nothing more. */
static void on_switch_signal(int sig, siginfo_t *info, void *context)
{
    (void)sig, (void)info, (void)context;
    int saved = errno;
    int gen = atomic_load(&switch_gen);
    if (gen > 0 && syscall(LL_RESTRICT_SELF, atomic_load(&switch_fd), 0) != 0) {
        atomic_store(&switch_error, errno);
    } else if (gen > 0) {
        unsigned long long tid = (unsigned long long)syscall(SYS_gettid);
        unsigned long i = atomic_fetch_add(&ack_count, 1);
        atomic_store(&acks[i % ACK_RING], (unsigned long long)gen << 32 | tid);
    }
    errno = saved;
}

static int acknowledged(pid_t tid, int gen, unsigned long from, unsigned long to)
{
    unsigned long long want = (unsigned long long)gen << 32 | (unsigned long long)tid;
    for (unsigned long i = from; i < to; i++)
        if (atomic_load(&acks[i % ACK_RING]) == want)
            return 1;
    return 0;
}

/* The threads a switch has signalled. */
struct signalled {
    pid_t tid[MAX_THREADS];
    unsigned n;
};

/* Signal TID unless done already: 1 if it owes an answer, 0 if it is gone. */
static int signal_thread(struct signalled *sent, pid_t pid, pid_t tid, const char *phase)
{
    for (unsigned i = 0; i < sent->n; i++)
        if (sent->tid[i] == tid)
            return 1;
    if (syscall(SYS_tgkill, pid, tid, SWITCH_SIGNAL) != 0) {
        if (errno == ESRCH)
            return 0;
        if (errno == EAGAIN)
            return 1; /* the signal queue is full: again at the next reading */
        sysphase_guard_die("tgkill of thread %d for the Landlock ruleset of phase \"%s\": %s",
                           (int)tid, phase, sysphase_guard_errname(errno));
    }
    if (sent->n == MAX_THREADS)
        sysphase_guard_die("more than %d threads for the Landlock ruleset of phase \"%s\"",
                           MAX_THREADS, phase);
    sent->tid[sent->n++] = tid;
    return 1;
}

static void check_task_dir(const char *phase)
{
    struct stat st;
    if (syscall(SYS_fstat, task_fd, &st) != 0 || st.st_dev != task_dev || st.st_ino != task_ino)
        sysphase_guard_die("the descriptor of /proc/self/task is gone (%s), so the threads "
                           "that owe the Landlock ruleset of phase \"%s\" are unknown",
                           errno ? sysphase_guard_errname(errno) : "replaced", phase);
    if (syscall(SYS_lseek, task_fd, 0, SEEK_SET) != 0)
        sysphase_guard_die("lseek on /proc/self/task: %s", sysphase_guard_errname(errno));
}

/* One reading of /proc/self/task: the threads that owe an answer (signalled now or before).
 * Read in one getdents64 call where it fits (a reading resumed across calls may skip a
 * thread when others end meanwhile; the switch ends only after two clean readings). */
static unsigned owing(struct signalled *sent, int gen, unsigned long from, const char *phase)
{
    static char buf[65536] __attribute__((aligned(8))); /* one switch at a time */
    pid_t pid = (pid_t)syscall(SYS_getpid), self = (pid_t)syscall(SYS_gettid);
    unsigned long to = atomic_load(&ack_count);
    unsigned owe = 0;
    errno = 0;
    check_task_dir(phase);
    for (;;) {
        long n = syscall(SYS_getdents64, task_fd, buf, sizeof(buf));
        if (n < 0)
            sysphase_guard_die("reading /proc/self/task: %s", sysphase_guard_errname(errno));
        if (n == 0)
            return owe;
        for (long at = 0; at < n;) {
            struct ll_dirent64 *d = (struct ll_dirent64 *)(buf + at);
            at += d->d_reclen;
            pid_t tid = 0;
            for (const char *c = d->d_name; *c >= '0' && *c <= '9'; c++)
                tid = tid * 10 + (*c - '0');
            if (tid <= 0 || tid == self || acknowledged(tid, gen, from, to))
                continue;
            if (tid == pid && atomic_load(&main_thread_gone))
                continue; /* a main thread that called pthread_exit: a zombie until the end */
            owe += (unsigned)signal_thread(sent, pid, tid, phase);
        }
    }
}

static double now(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        sysphase_guard_die("clock_gettime: %s", sysphase_guard_errname(errno));
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void restrict_self(int fd, const char *phase)
{
    if (syscall(LL_RESTRICT_SELF, fd, 0) != 0)
        sysphase_guard_die("landlock_restrict_self failed for phase \"%s\": %s", phase,
                           sysphase_guard_errname(errno));
}

/* Every other thread restricts itself with FD and answers; then this one restricts itself. */
static void broadcast(int index, int fd)
{
    static struct signalled sent;
    const char *phase = sysphase_guard_phases[index].name;
    int gen = index + 1;
    unsigned long from = atomic_load(&ack_count);
    sent.n = 0;
    atomic_store(&switch_error, 0);
    atomic_store(&switch_fd, fd);
    atomic_store(&switch_gen, gen);
    double deadline = now() + SWITCH_TIMEOUT_S;
    struct timespec nap = {0, 200 * 1000};
    for (int clean = 0; clean < 2;) {
        if (owing(&sent, gen, from, phase) == 0) {
            clean++;
            continue;
        }
        clean = 0;
        int err = atomic_load(&switch_error);
        if (err != 0)
            sysphase_guard_die("landlock_restrict_self failed in a thread for phase \"%s\": %s",
                               phase, sysphase_guard_errname(err));
        if (atomic_load(&ack_count) - from > MAX_THREADS)
            sysphase_guard_die("more than %d threads for the Landlock ruleset of phase \"%s\"",
                               MAX_THREADS, phase);
        if (now() > deadline)
            sysphase_guard_die("threads did not apply the Landlock ruleset of phase \"%s\" "
                               "within %d s (signal %d blocked, ignored or handled by the "
                               "program, or a thread stopped)",
                               phase, SWITCH_TIMEOUT_S, SWITCH_SIGNAL);
        if (syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &nap, NULL) != 0 && errno != EINTR)
            sysphase_guard_die("clock_nanosleep: %s", sysphase_guard_errname(errno));
    }
    restrict_self(fd, phase);
}

/* A forked child: the inherited descriptor lists the parent's threads, and libc or a raw
 * clone may have started threads the interposers never saw. Its own list where its ruleset
 * lets it open /proc/self/task (1), else 0 (the descriptor closed either way). */
static int child_task_dir(void)
{
    (void)syscall(SYS_close, task_fd); /* the parent's list: nothing to keep */
    task_fd = -1;
    int fd =
        (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || syscall(SYS_fstat, fd, &st) != 0) {
        if (fd >= 0)
            (void)syscall(SYS_close, fd);
        return 0;
    }
    task_fd = fd;
    task_dev = st.st_dev;
    task_ino = st.st_ino;
    task_pid = (pid_t)syscall(SYS_getpid);
    return 1;
}

/* Phase INDEX's ruleset in every thread of this process, then closed. */
static void apply(int index)
{
    int fd = ruleset_fd[index];
    const char *phase = sysphase_guard_phases[index].name;
    if ((pid_t)syscall(SYS_getpid) == task_pid || child_task_dir()) {
        broadcast(index, fd);
    } else { /* a forked child that cannot list its threads: only pthread_create is known */
        if (atomic_load(&threads_since_fork) > 0)
            sysphase_guard_die("a forked child that started threads cannot list them to apply "
                               "the Landlock ruleset of phase \"%s\"",
                               phase);
        restrict_self(fd, phase);
    }
    ruleset_fd[index] = -1;
    if (syscall(SYS_close, fd) != 0)
        sysphase_guard_die("closing the Landlock ruleset of phase \"%s\": %s", phase,
                           sysphase_guard_errname(errno));
}

void sysphase_guard_landlock_switch(int index)
{
    if (ruleset_fd[index] >= 0)
        apply(index);
}

void sysphase_guard_landlock_forked(void)
{
    atomic_store(&threads_since_fork, 0);
    atomic_store(&main_thread_gone, 0);
    main_thread = pthread_self(); /* the forking thread is the child's main thread */
}

void sysphase_guard_thread_created(void)
{
    atomic_fetch_add(&threads_since_fork, 1);
}

void sysphase_guard_thread_exiting(void)
{
    if (pthread_equal(pthread_self(), main_thread))
        atomic_store(&main_thread_gone, 1);
}

const sigset_t *sysphase_guard_unblockable(int how, const sigset_t *set, sigset_t *copy)
{
    if (set == NULL || how == SIG_UNBLOCK || sigismember(set, SWITCH_SIGNAL) != 1)
        return set;
    *copy = *set;
    if (sigdelset(copy, SWITCH_SIGNAL) != 0)
        return set;
    return copy;
}

/* --- the constructor ------------------------------------------------------------- */

static void open_task_dir(void)
{
    int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        sysphase_guard_die("cannot open /proc/self/task, where the threads that apply Landlock "
                           "rulesets are found: %s",
                           sysphase_guard_errname(errno));
    task_fd = sysphase_guard_high_fd(fd);
    struct stat st;
    if (fstat(task_fd, &st) != 0)
        sysphase_guard_die("fstat /proc/self/task: %s", sysphase_guard_errname(errno));
    task_dev = st.st_dev;
    task_ino = st.st_ino;
    task_pid = getpid();
}

static void install_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_switch_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    if (sigfillset(&sa.sa_mask) != 0 || sigaction(SWITCH_SIGNAL, &sa, NULL) != 0)
        sysphase_guard_die("sigaction(%d): %s", SWITCH_SIGNAL, sysphase_guard_errname(errno));
}

void sysphase_guard_landlock_init(void)
{
    int any = 0;
    main_thread = pthread_self();
    for (unsigned i = 0; i < SYSPHASE_GUARD_MAX_PHASES; i++)
        ruleset_fd[i] = -1;
    for (unsigned i = 0; i < sysphase_guard_nphases; i++)
        any |= sysphase_guard_phases[i].landlock != NULL;
    if (!any)
        return;
    long abi = syscall(LL_CREATE_RULESET, NULL, 0, LL_CREATE_RULESET_VERSION);
    if (abi <= 0) {
        sysphase_guard_say("this kernel has no Landlock (%s): the policy's Landlock rules are "
                           "not applied",
                           sysphase_guard_errname(errno));
        return;
    }
    struct sysphase_guard_ruleset lost;
    memset(&lost, 0, sizeof(lost));
    for (unsigned i = 0; i < sysphase_guard_nphases; i++)
        if (sysphase_guard_phases[i].landlock != NULL)
            ruleset_fd[i] = sysphase_guard_ruleset_build((int)i, (int)abi, &lost);
    sysphase_guard_say_left_out((int)abi, &lost);
    open_task_dir();
    install_handler();
    if (ruleset_fd[0] >= 0)
        apply(0);
}
