/* known.c: recording filters with known sets (`record --baseline`).
 *
 * Each (program, phase) of the baseline profile has a filter that allows
 * the syscalls already known for it and returns TRACE for the rest; calls
 * that stop are counted at their seccomp stop (loop.c). Filters only stack,
 * and across stacked filters TRACE outranks ALLOW, so a process's effective
 * allow-set is the intersection of every filter it carries: stacking the
 * filter of each (program, phase) a process enters keeps the allow-set
 * inside that phase's known set, and a call passes without a stop only if
 * it is known for the phase it occurs in (it may also stop when known, which
 * only costs time). The filter is stacked when the phase changes: at a
 * syscall trigger or a marker right at its seccomp stop; after an exec, a
 * breakpoint or the phase signal at the thread's next syscall-entry stop
 * (the process runs with PTRACE_SYSCALL until then). A filter that cannot be
 * stacked (the kernel's 32768-instruction limit per process) degrades the
 * process to syscall-entry stops, where every call is counted. A new thread's first
 * WATCH_CALLS calls are recorded at its own entry stops, known or not (loop.c sets
 * task->watch, syscalls.c counts them): its start-up calls belong in its own node.
 */
#include "core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int same(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    return alen == blen && (a == b || (a != NULL && b != NULL && memcmp(a, b, alen) == 0));
}

static const char *task_exe(tracer_t *t, const task_t *task)
{
    if (task->node < 0 || t->nodes[task->node].image < 0)
        return NULL;
    return t->images[t->nodes[task->node].image].exe;
}

/* Set what the task's (program, phase) wants stacked, and whether it must be. */
void known_update(tracer_t *t, task_t *task)
{
    if (t->nknown == 0 && t->unknown_bpf == NULL)
        return;
    const char *exe = task_exe(t, task);
    if (exe == NULL || task->phase >= t->nphase_names)
        return; /* before the spawned child's exec: the filter it installed holds */
    const char *phase = t->phase_names[task->phase].name;
    const uint8_t *bpf = t->unknown_bpf;
    size_t len = t->unknown_len;
    for (size_t i = 0; i < t->nknown; i++) {
        if (strcmp(t->known[i].exe, exe) == 0 && strcmp(t->known[i].phase, phase) == 0) {
            bpf = t->known[i].bpf;
            len = t->known[i].len;
            break;
        }
    }
    task->want_bpf = bpf;
    task->want_len = len;
    task->switch_pending = !task->degraded && !same(bpf, len, task->cur_bpf, task->cur_len);
}

/* After the injected seccomp(): the whole thread group has the filter (TSYNC), or,
 * if it failed, the process and its future children stop at every syscall entry. */
static void stacked(tracer_t *t, task_t *task, int ok)
{
    for (size_t i = 0; i < t->ntasks; i++) {
        task_t *o = t->tasks[i];
        if (o->tid == 0 || o->tgid != task->tgid)
            continue;
        o->switch_pending = 0;
        if (ok) {
            o->cur_bpf = task->want_bpf;
            o->cur_len = task->want_len;
        } else {
            o->degraded = 1;
        }
    }
}

/* At a syscall-entry or seccomp stop: stack the wanted filter now if one is pending.
 * Returns 1 if the call was swapped for seccomp() (it runs again afterwards). */
int known_inject(tracer_t *t, task_t *task)
{
    if (!task->switch_pending || task->injecting || task->degraded)
        return 0;
    const char *what;
    int err = inject_begin(t, task, task->want_bpf, task->want_len, &what);
    if (err == 0)
        return 1;
    if (err != ESRCH)
        stacked(t, task, 0); /* not stacked: this process stops at every entry from now on */
    return 0;
}

/* The exit stop of the injected seccomp(): stacked, or degraded. */
void known_finish(tracer_t *t, task_t *task)
{
    int64_t rval = -1;
    int err = inject_end(t, task, &rval);
    if (err == ESRCH)
        return;
    if (err != 0)
        core_fail(t, "PTRACE_SETREGS (stacking a recording filter)", err, task->tid);
    int ok = err == 0 && rval == 0;
    stacked(t, task, ok);
    if (ok) {
        t->switches++;
        t->switch_ns += now_ns() - task->inject_ns;
    }
}

void known_free(tracer_t *t)
{
    for (size_t i = 0; i < t->nknown; i++) {
        free(t->known[i].exe);
        free(t->known[i].phase);
        free(t->known[i].bpf);
    }
    free(t->known);
    t->known = NULL;
    t->nknown = 0;
}
