/* verify.c: what the kernel says about a program during a phase switch.
 *
 * switch.c believes no return value. Before it injects a filter it asks the
 * kernel whether any thread or process of the program escapes the tracer
 * (made with CLONE_UNTRACED: /proc/PID/task, /proc/PID/task/TID/children);
 * after, whether every thread of the process carries one filter more than
 * before (/proc/PID/task/TID/status, Seccomp_filters) and, where the tracer
 * may read filters (CAP_SYS_ADMIN), whether each thread's newest filter is,
 * byte for byte, the one written (PTRACE_SECCOMP_GET_FILTER).
 */
#include "core.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <unistd.h>

#ifndef PTRACE_SECCOMP_GET_FILTER
#define PTRACE_SECCOMP_GET_FILTER 0x420c
#endif

static const char *phase_name(const tracer_t *t, uint16_t phase)
{
    return phase < t->nphase_names ? t->phase_names[phase].name : "?";
}

/* The number of seccomp filters thread TID of TGID carries, -1 (errno set) if unknown. */
long filter_count(pid_t tgid, pid_t tid)
{
    char path[64], buf[4096];
    snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)tgid, (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    int err = errno;
    close(fd);
    if (n <= 0) {
        errno = n < 0 ? err : EIO;
        return -1;
    }
    buf[n] = '\0';
    const char *line = strstr(buf, "\nSeccomp_filters:");
    if (line == NULL) {
        errno = ENOTSUP; /* a kernel before 5.9 */
        return -1;
    }
    return strtol(line + strlen("\nSeccomp_filters:"), NULL, 10);
}

/* Whether the newest of the COUNT filters of thread TID is BPF: 1 yes, 0 no, -1 the kernel
 * will not say. The kernel numbers filters from the oldest (0). */
static int newest_filter_is(tracer_t *t, pid_t tid, long count, const uint8_t *bpf, size_t len)
{
    static struct sock_filter got[4096]; /* BPF_MAXINSNS; the loop runs on one thread */
    if (t->get_filter_ok < 0 || count < 1)
        return -1;
    long n = ptrace(PTRACE_SECCOMP_GET_FILTER, tid, count - 1, got);
    if (n < 0) {
        if (t->get_filter_ok == 0 && errno != ESRCH) {
            t->get_filter_ok = -1; /* no CAP_SYS_ADMIN, or sysphase runs under seccomp */
            return -1;
        }
        return errno == ESRCH ? -1 : 0;
    }
    t->get_filter_ok = 1;
    return (size_t)n * sizeof(struct sock_filter) == len && memcmp(got, bpf, len) == 0;
}

/* Read "/proc/PID/stat": the state letter and the parent pid; -1 if gone. */
static int read_stat(pid_t pid, char *state, pid_t *ppid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    const char *end = strrchr(buf, ')'); /* the command name may hold anything */
    int p;
    if (end == NULL || sscanf(end + 1, " %c %d", state, &p) != 2)
        return -1;
    *ppid = (pid_t)p;
    return 0;
}

static int running(pid_t pid)
{
    char state;
    pid_t ppid;
    return read_stat(pid, &state, &ppid) == 0 && state != 'Z' && state != 'X';
}

/* The first child of thread TID (of PID) that is alive, untraced and, with OWN >= 0,
 * carries more filters than OWN: streamed from /proc/PID/task/TID/children. 0 if none. */
static pid_t untraced_child(tracer_t *t, pid_t pid, pid_t tid, long own)
{
    char path[80], buf[4096];
    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    pid_t found = 0;
    size_t have = 0; /* bytes of a number cut by the last read, kept at buf[0] */
    for (;;) {
        ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        size_t len = have + (size_t)n;
        buf[len] = '\0';
        char *p = buf, *end;
        for (;;) {
            long v = strtol(p, &end, 10);
            if (end == p || *end == '\0') /* no number, or one the next read may continue */
                break;
            pid_t kid = (pid_t)v;
            if (found == 0 && task_get(t, kid) == NULL && running(kid) &&
                (own < 0 || filter_count(kid, kid) > own))
                found = kid;
            p = end;
        }
        have = (size_t)(buf + len - p);
        memmove(buf, p, have);
    }
    close(fd);
    if (found == 0 && have > 0) { /* the last number, at the end of the file */
        buf[have] = '\0';
        char *end;
        long v = strtol(buf, &end, 10);
        pid_t kid = (pid_t)v;
        if (end != buf && task_get(t, kid) == NULL && running(kid) &&
            (own < 0 || filter_count(kid, kid) > own))
            found = kid;
    }
    return found;
}

/* Stop PID (it cannot fork any more), do the same to every process below it, then kill
 * them all: an untraced process dies with its descendants. DEPTH bounds the walk. */
static void kill_tree(pid_t pid, int depth)
{
    if (kill(pid, SIGSTOP) < 0)
        return;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = depth < 64 ? opendir(path) : NULL;
    struct dirent *de;
    while (d != NULL && (de = readdir(d)) != NULL) {
        pid_t tid = (pid_t)atoi(de->d_name);
        char kids_path[80], buf[4096];
        snprintf(kids_path, sizeof(kids_path), "/proc/%d/task/%d/children", (int)pid, (int)tid);
        int fd = tid > 0 ? open(kids_path, O_RDONLY | O_CLOEXEC) : -1;
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
        if (fd >= 0)
            close(fd);
        buf[n > 0 ? n : 0] = '\0';
        for (char *p = buf, *end;; p = end) {
            long v = strtol(p, &end, 10);
            if (end == p)
                break;
            kill_tree((pid_t)v, depth + 1);
        }
    }
    if (d != NULL)
        closedir(d);
    (void)kill(pid, SIGKILL);
}

/* No thread or process of the program escapes the tracer: every thread of a traced
 * process is traced, every child of a traced thread is, and no process the tracer
 * adopted (it is the subreaper) carries more filters than the tracer. Else a sentence
 * in WHY, and an untraced process found is killed (an untraced thread dies with its
 * traced process). Reads /proc for the program's threads only. */
int untraced_scan(tracer_t *t, char *why, size_t size)
{
    for (size_t i = 0; i < t->ntasks; i++) {
        task_t *o = t->tasks[i];
        if (o->tid == 0)
            continue;
        if (o->tid == o->tgid) { /* a process: every thread of it is traced */
            char path[64];
            snprintf(path, sizeof(path), "/proc/%d/task", (int)o->tgid);
            DIR *d = opendir(path);
            struct dirent *de;
            while (d != NULL && (de = readdir(d)) != NULL) {
                pid_t tid = (pid_t)atoi(de->d_name);
                if (tid > 0 && task_get(t, tid) == NULL && running(tid)) {
                    closedir(d);
                    snprintf(why, size,
                             "thread %d of process %d runs untraced (made with CLONE_UNTRACED)",
                             (int)tid, (int)o->tgid);
                    return -1;
                }
            }
            if (d != NULL)
                closedir(d);
        }
        pid_t kid = untraced_child(t, o->tgid, o->tid, -1);
        if (kid != 0) {
            kill_tree(kid, 0); /* it dies with the program it escaped from */
            snprintf(why, size,
                     "process %d, a child of traced process %d, runs untraced (made with "
                     "CLONE_UNTRACED)",
                     (int)kid, (int)o->tgid);
            return -1;
        }
    }
    long own = filter_count(getpid(), getpid());
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)getpid());
    DIR *d = opendir(path);
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && own >= 0 && d != NULL && (de = readdir(d)) != NULL) {
        pid_t tid = (pid_t)atoi(de->d_name);
        pid_t kid = tid > 0 ? untraced_child(t, getpid(), tid, own) : 0;
        if (kid != 0) {
            kill_tree(kid, 0);
            snprintf(why, size,
                     "process %d, left to sysphase by a process of the program, runs untraced",
                     (int)kid);
            rc = -1;
        }
    }
    if (d != NULL)
        closedir(d);
    return rc;
}

/* Every thread of the actor's process carries one filter more than before, and (where the
 * kernel says) the newest one is the filter written. Else a sentence in WHY. */
int switch_verify(tracer_t *t, task_t *a, long pre_count, char *why, size_t size)
{
    uint16_t phase = t->sw.phase;
    const uint8_t *bpf = t->phase_filters[phase];
    size_t len = t->phase_filter_lens[phase];
    long want = pre_count + 1;
    for (size_t i = 0; i < t->ntasks; i++) {
        task_t *o = t->tasks[i];
        if (o->tid == 0 || o->tgid != a->tgid || o->exited)
            continue; /* past its exit: TSYNC skips it, and it runs no code */
        long n = filter_count(o->tgid, o->tid);
        if (n < 0 && errno == ENOENT)
            continue; /* exited meanwhile */
        if (n != want) {
            snprintf(why, size,
                     "thread %d carries %ld seccomp filters after installing phase %s's, "
                     "not %ld: a filter of the program answered seccomp() in the kernel's place",
                     (int)o->tid, n, phase_name(t, phase), want);
            return -1;
        }
        if (!o->in_vfork && newest_filter_is(t, o->tid, n, bpf, len) == 0) {
            snprintf(why, size,
                     "thread %d's newest seccomp filter is not the one sysphase wrote for phase "
                     "%s: the program changed it before the kernel read it",
                     (int)o->tid, phase_name(t, phase));
            return -1;
        }
    }
    return 0;
}
