/* spawn.c: start tracing: spawn a program seized from its first instruction, or attach.
 *
 * Spawn: fork; the child restores SIGPIPE/SIGXFSZ, stops itself, and once seized
 * installs the first filter (with no_new_privs unless a recording filter may go
 * without) and execs; a failure comes back on a pipe as {stage, errno}. The
 * parent seizes it with the trace options and EXITKILL, then lets it go.
 * Attach: seize every thread of a process, rescanning /proc/PID/task until no
 * new thread appears.
 * Adopt: seize a process that is about to exec_in_place (sysphase's own, which keeps
 * its pid for the program: sysphase._host.keep_pid); no syscall stops until that exec.
 */
#include "core.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Signals as a shell leaves them for a program: none blocked, SIGPIPE and SIGXFSZ (which
 * Python ignores) at their defaults. Done before the trace sees calls (they are sysphase's,
 * not the program's). Async-signal-safe. */
void default_signals(void)
{
    sigset_t none;
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL); /* cannot fail: a valid mask */
    (void)signal(SIGPIPE, SIG_DFL);
    (void)signal(SIGXFSZ, SIG_DFL);
}

/* The program's start in the process that becomes it: the first Landlock ruleset, the first
 * filter (with no_new_privs unless a recording filter may go without), exec. Only
 * async-signal-safe calls: the spawned child runs it after fork. Returns only on failure:
 * the errno, with *stage 1 (installing the filter), 2 (exec) or 3 (Landlock). */
int exec_in_place(const tracer_t *t, const char *path, char *const argv[], char *const envp[],
                  int *stage)
{
    struct sock_fprog prog = {(unsigned short)(t->filter_len / 8),
                              (struct sock_filter *)(uintptr_t)t->filter};
    int err = landlock_child(t); /* before the filter, which need not allow it */
    if (err != 0) {
        *stage = 3;
        return err;
    }
    /* without no_new_privs when allowed (CAP_SYS_ADMIN) and asked for: a recording
     * filter must not change what setuid programs can do */
    long rc = t->filter == NULL || t->no_new_privs
                  ? -1
                  : syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
    if (t->filter != NULL && rc < 0 &&
        (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
         syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)) {
        *stage = 1;
        return errno;
    }
    execve(path, argv, envp);
    *stage = 2;
    return errno;
}

/* The spawned child: wait to be seized, then exec_in_place; a failure is reported on ERRFD
 * as {stage, errno}. */
__attribute__((noreturn)) static void
spawned_child(tracer_t *t, const char *path, char *const argv[], char *const envp[], int errfd)
{
    default_signals();
    (void)kill(getpid(), SIGSTOP); /* wait to be seized; nothing runs in between */
    int msg[2] = {0, 0};
    msg[1] = exec_in_place(t, path, argv, envp, &msg[0]);
    ssize_t w = write(errfd, msg, sizeof(msg));
    (void)w;
    _exit(msg[0] == 2 ? 127 : 126);
}

int loop_spawn(tracer_t *t, const char *path, char *const argv[], char *const envp[])
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        core_fail(t, "pipe2", errno, 0);
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        core_fail(t, "fork", errno, 0);
        close(pipefd[0]);
        close(pipefd[1]);
        return -1;
    }
    if (pid == 0) {
        close(pipefd[0]);
        spawned_child(t, path, argv, envp, pipefd[1]);
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
    loop_kill_on_signal(pid);
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
    if (ptrace(PTRACE_SEIZE, tid, 0, TRACE_OPTIONS | (t->complain ? PTRACE_O_TRACESECCOMP : 0)) <
        0) {
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
    attach_set_targets(t); /* run -p: each process owes its switch */
    return 0;
}

int loop_adopt(tracer_t *t, pid_t pid, int ready_fd)
{
    t->root = pid;
    long options = TRACE_OPTIONS | PTRACE_O_EXITKILL |
                   (t->complain || t->seccomp_stops ? PTRACE_O_TRACESECCOMP : 0);
    int err = ptrace(PTRACE_SEIZE, pid, 0, options) < 0 ? errno : 0;
    ssize_t w = write(ready_fd, &err, sizeof(err)); /* the process waits for this to exec */
    if (err == 0 && w != (ssize_t)sizeof(err))
        err = w < 0 ? errno : EPIPE;
    if (err != 0) {
        core_fail(t, "PTRACE_SEIZE", err, pid);
        return -1;
    }
    task_t *task = task_new(t, pid);
    int32_t node = node_new(t, pid, pid, -1, KIND_SPAWN, -1);
    if (task == NULL || node < 0)
        return -1;
    task->node = node;
    task->cur_bpf = t->filter; /* what the process installs before its exec */
    task->cur_len = t->filter_len;
    t->adopt_preexec = 1;
    node_enter_phase(t, node, 0);
    return 0;
}
