/* errors.c: the first failure of a trace, kept until the GIL is back.
 *
 * The loop runs without the GIL, so a failing call is recorded here
 * (call name, errno, pid, and for a refused phase switch a sentence saying
 * why) and turned into a CoreError (an OSError with .call and .pid) once the
 * tracees are gone. ESRCH from a tracee that just died is an event, never
 * recorded.
 */
#include "core.h"

#include <string.h>

void core_fail(tracer_t *t, const char *call, int err, pid_t pid)
{
    if (t->error.call == NULL) {
        t->error.call = call;
        t->error.err = err;
        t->error.pid = pid;
    }
    t->draining = 1;
}

PyObject *core_error_type;

/* Raise CoreError(errno, "CALL failed for pid N: strerror") (or the detail sentence in
 * place of the whole message), with .call and .pid set; returns NULL. */
PyObject *core_raise(const core_error_t *e)
{
    PyObject *msg;
    if (e->detail[0] != '\0')
        msg = PyUnicode_FromString(e->detail);
    else if (e->pid > 0)
        msg = PyUnicode_FromFormat("%s failed for pid %d: %s", e->call, (int)e->pid,
                                   strerror(e->err));
    else
        msg = PyUnicode_FromFormat("%s failed: %s", e->call, strerror(e->err));
    if (msg == NULL)
        return NULL;
    PyObject *exc = PyObject_CallFunction(core_error_type, "iN", e->err, msg);
    if (exc == NULL)
        return NULL;
    PyObject *call = PyUnicode_FromString(e->call);
    PyObject *pid = PyLong_FromLong((long)e->pid);
    if (call != NULL && pid != NULL && PyObject_SetAttrString(exc, "call", call) == 0 &&
        PyObject_SetAttrString(exc, "pid", pid) == 0)
        PyErr_SetObject(core_error_type, exc);
    Py_XDECREF(call);
    Py_XDECREF(pid);
    Py_DECREF(exc);
    return NULL;
}
