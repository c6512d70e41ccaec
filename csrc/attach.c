/* attach.c: sandbox a running process (`sysphase run -p PID`).
 *
 * The caller (Python) has checked what the kernel needs (no_new_privs or
 * CAP_SYS_ADMIN in the process, no child processes, not traced already).
 * loop_attach seized and interrupted every thread; here each is given the
 * phase it must run under (attach_target), so the first syscall entry of any
 * of its threads makes a switch as `run` does at a trigger (switch.c): every
 * thread held, the phase's filter installed with TSYNC, every thread's filter
 * count (and, as root, the filter's bytes) checked. A failure from then on
 * kills the process (the switch fails closed). Once every process is under
 * its last phase's filter and no trigger is left, the tracer detaches: the
 * filters stay for the life of the process.
 */
#include "core.h"

void attach_set_targets(tracer_t *t)
{
    if (!t->attach || t->attach_target == 0)
        return;
    for (size_t i = 0; i < t->ntasks; i++)
        if (t->tasks[i]->tid != 0)
            t->tasks[i]->target = t->attach_target;
}

int attach_done(const tracer_t *t)
{
    if (!t->attach || t->attach_target == 0 || t->draining || switch_running(t))
        return 0;
    for (size_t i = 0; i < t->ntasks; i++) {
        const task_t *task = t->tasks[i];
        if (task->tid == 0)
            continue;
        if (task->fphase != task->target || task->trig_pos < t->ntriggers || task->injecting)
            return 0;
    }
    return t->switches > 0;
}
