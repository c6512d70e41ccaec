/* errors.c: the first failure of a trace, kept until the GIL is back.
 *
 * The loop runs without the GIL, so a failing call is recorded here
 * (call name, errno, pid) and turned into an OSError once the tracees are
 * gone. ESRCH from a tracee that just died is an event, never recorded.
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

/* Raise OSError(errno, "CALL failed for pid N: strerror"); returns NULL. */
PyObject *core_raise(const core_error_t *e)
{
    PyObject *msg;
    if (e->pid > 0)
        msg = PyUnicode_FromFormat("%s failed for pid %d: %s", e->call, (int)e->pid,
                                   strerror(e->err));
    else
        msg = PyUnicode_FromFormat("%s failed: %s", e->call, strerror(e->err));
    if (msg == NULL)
        return NULL;
    PyObject *args = Py_BuildValue("(iN)", e->err, msg);
    if (args != NULL) {
        PyErr_SetObject(PyExc_OSError, args);
        Py_DECREF(args);
    }
    return NULL;
}
