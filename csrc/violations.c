/* violations.c: each seccomp kill and complain-mode violation, reported as it happens.
 *
 * Under `run` the supervisor sees a filter's kill at the culprit thread's exit
 * (kill_on_exit; before Linux 5.16 also as its forced SIGSYS, kill_on_sigsys)
 * and, in complain mode, a call outside the policy as
 * its filter's TRACE stop (syscalls.c). Each becomes one violation_t in a small
 * queue that the loop hands to the options' violation sink (a Python callable)
 * right after the stop, with the GIL, as Violation records (results.c): a
 * service that never exits still has every one reported while it runs.
 * The snapshot sink (`run --complain --report-every`) gets the whole trace so
 * far (a TraceResult) every snapshot_every_ns, for a report written while the
 * program runs.
 */
#include "core.h"

#include <linux/ptrace.h>
#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

void violation_add(tracer_t *t, task_t *task, uint8_t arch, uint32_t nr, const uint64_t *args,
                   int killed)
{
    if (t->violation_sink == NULL)
        return;
    if (t->nviolations == VIOLATIONS_MAX)
        violations_flush(t);
    violation_t *v = &t->violation_queue[t->nviolations++];
    v->time_ns = now_ns();
    v->pid = task->tgid;
    v->tid = task->tid;
    v->node = task->node;
    v->phase = task->phase;
    v->fphase = task->fphase;
    v->arch = arch;
    v->nr = nr;
    v->killed = (uint8_t)killed;
    memcpy(v->args, args, sizeof(v->args));
}

/* Enforcing: a filter's kill arrives as a forced SIGSYS whose siginfo names the call
 * (si_code SYS_SECCOMP) in the culprit thread, before anything dies. */
void kill_on_sigsys(tracer_t *t, task_t *task)
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
    arch_regs_t regs;
    uint64_t args[6] = {0, 0, 0, 0, 0, 0};
    if (arch_get_regs(task->tid, &regs) == 0) /* rolled back to the call: its arguments */
        arch_syscall_args(&regs, arch, args);
    violation_add(t, task, arch, (uint32_t)nr, args, 1);
}

/* Enforcing: remember the call a dying thread was in, unless its SIGSYS already said. */
void kill_on_exit(tracer_t *t, task_t *task)
{
    if ((t->filter == NULL && t->nphase_filters == 0) || t->seccomp_stops != STOPS_SYSCALL ||
        task->node < 0 || t->nodes[task->node].exit_nr >= 0)
        return;
    arch_regs_t regs;
    struct __ptrace_syscall_info info;
    if (arch_get_regs(task->tid, &regs) != 0 ||
        ptrace(PTRACE_GET_SYSCALL_INFO, task->tid, sizeof(info), &info) < 0)
        return; /* gone already, or no register file here: the culprit stays unknown */
    uint64_t nr = arch_syscall_nr(&regs);
    uint8_t arch = arch_code(info.arch, &nr);
    t->nodes[task->node].exit_arch = arch;
    t->nodes[task->node].exit_nr = (int32_t)nr;
    unsigned long status = 0;
    if (ptrace(PTRACE_GETEVENTMSG, task->tid, 0, &status) == 0 && WIFSIGNALED((int)status) &&
        WTERMSIG((int)status) == SIGSYS && arch_killed_at_call(&regs)) {
        /* the culprit of a filter's kill (its SIGSYS is not shown to a tracer since 5.16) */
        uint64_t args[6];
        arch_syscall_args(&regs, arch, args);
        violation_add(t, task, arch, (uint32_t)nr, args, 1);
    }
}

/* Hand the queue to the sink: called without the GIL, from the loop's thread. */
void violations_flush(tracer_t *t)
{
    if (t->nviolations == 0)
        return;
    if (t->py_error) {
        t->nviolations = 0;
        return;
    }
    PyEval_RestoreThread(t->tstate);
    PyObject *batch = PyList_New(0);
    for (size_t i = 0; batch != NULL && i < t->nviolations; i++) {
        PyObject *r = results_violation(t, &t->violation_queue[i]);
        if (r == NULL || PyList_Append(batch, r) < 0)
            Py_CLEAR(batch);
        Py_XDECREF(r);
    }
    PyObject *rv = batch == NULL ? NULL : PyObject_CallOneArg(t->violation_sink, batch);
    Py_XDECREF(batch);
    if (rv == NULL)
        t->py_error = 1; /* the loop drains; trace() raises it */
    Py_XDECREF(rv);
    t->nviolations = 0;
    t->tstate = PyEval_SaveThread();
}

uint64_t snapshot_wake_ns(tracer_t *t)
{
    if (t->snapshot_sink == NULL || t->snapshot_every_ns == 0)
        return 0;
    if (t->snapshot_at_ns == 0)
        t->snapshot_at_ns = now_ns() + t->snapshot_every_ns;
    return t->snapshot_at_ns;
}

void snapshot_take(tracer_t *t)
{
    uint64_t due = snapshot_wake_ns(t), now = now_ns();
    if (due == 0 || now < due || t->py_error)
        return;
    t->snapshot_at_ns = now + t->snapshot_every_ns;
    PyEval_RestoreThread(t->tstate);
    PyObject *result = results_build(t);
    PyObject *rv = result == NULL ? NULL : PyObject_CallOneArg(t->snapshot_sink, result);
    Py_XDECREF(result);
    if (rv == NULL)
        t->py_error = 1; /* the loop drains; trace() raises it */
    Py_XDECREF(rv);
    t->tstate = PyEval_SaveThread();
}
