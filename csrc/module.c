/* module.c: sysphase._core, the method table, trace() and the module's constants.
 *
 * trace(target, options) spawns a program (target: an object with path, argv
 * and envp, all bytes) or attaches to a pid (target: an int), runs the stop
 * loop with the GIL released, and returns one TraceResult (results.c). The
 * options object is read by options.c; the tracing mode it names (MODE_*)
 * is decided in Python, once. Like psutil's, the constants Python needs
 * (modes, node kinds and ends, argument kinds, the marker fd) are defined in
 * C and exported here, so they are written once. sysphase._host.tracer is
 * the only caller.
 */
#include "core.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static void free_strv(char **v)
{
    if (v == NULL)
        return;
    for (char **p = v; *p != NULL; p++)
        PyMem_Free(*p);
    PyMem_Free(v);
}

/* TARGET.NAME, a sequence of bytes -> NULL-terminated char* array (PyMem, free_strv) */
static char **to_strv(PyObject *target, const char *name)
{
    PyObject *seq = PyObject_GetAttrString(target, name);
    PyObject *fast = seq == NULL ? NULL : PySequence_Fast(seq, name);
    Py_XDECREF(seq);
    if (fast == NULL)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    char **v = PyMem_Calloc((size_t)n + 1, sizeof(char *));
    for (Py_ssize_t i = 0; v != NULL && i < n; i++) {
        char *s;
        Py_ssize_t len;
        if (PyBytes_AsStringAndSize(PySequence_Fast_GET_ITEM(fast, i), &s, &len) < 0 ||
            (Py_ssize_t)strlen(s) != len || (v[i] = PyMem_Malloc((size_t)len + 1)) == NULL) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_ValueError, "%s: embedded NUL byte", name);
            free_strv(v);
            v = NULL;
            break;
        }
        memcpy(v[i], s, (size_t)len + 1);
    }
    Py_DECREF(fast);
    if (v == NULL && !PyErr_Occurred())
        PyErr_NoMemory();
    return v;
}

/* Spawn (or attach, or adopt), run the loop with the stop signals owned, and collect. */
static int run(tracer_t *t, const char *path, char **argv, char **envp, pid_t pid, int ready_fd)
{
    saved_signals_t old;
    if (loop_install_handlers(&old, t->adopt) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    /* Spawn mode: orphaned tracees are reparented to us, not to init, so that the loop
     * reaps them and no zombie outlives the trace. */
    int was_subreaper = 0;
    int subreaper = !t->attach && !t->adopt;
    if (subreaper && (prctl(PR_GET_CHILD_SUBREAPER, &was_subreaper) < 0 ||
                      prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)) {
        loop_restore_handlers(&old);
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    int errfd = -1;
    int ok = t->attach  ? loop_attach(t, pid)
             : t->adopt ? loop_adopt(t, pid, ready_fd)
                        : (errfd = loop_spawn(t, path, argv, envp));
    if (ok >= 0 || t->live_tasks > 0)
        loop_run(t);
    loop_restore_handlers(&old);
    if (subreaper)
        (void)prctl(PR_SET_CHILD_SUBREAPER, was_subreaper); /* restoring a value we read */
    if (errfd >= 0) {
        int msg[2];
        if (read(errfd, msg, sizeof(msg)) == (ssize_t)sizeof(msg)) {
            if (msg[0] == 1)
                t->filter_errno = msg[1];
            else if (msg[0] == 3)
                t->landlock_errno = msg[1];
            else
                t->exec_errno = msg[1];
        }
        close(errfd);
    }
    return 0;
}

/* What trace() and exec_program() hold for the length of a call, given back. */
static void call_end(tracer_t *t, PyObject *path, char **argv, char **envp, PyObject *keep[2])
{
    phases_free(t);
    options_free(t);
    free_strv(argv);
    free_strv(envp);
    Py_XDECREF(path);
    Py_XDECREF(keep[0]);
    Py_XDECREF(keep[1]);
}

PyDoc_STRVAR(trace_doc,
             "trace($module, target, options)\n"
             "--\n\n"
             "Spawn target.path with target.argv and target.envp (bytes), or attach to\n"
             "the pid target, and trace the whole tree in options.mode until every\n"
             "tracee is gone or the tracer gets SIGINT, SIGTERM or SIGHUP. In live mode\n"
             "(options.sink) sink(list) receives Event records in batches. Returns a\n"
             "TraceResult; a failing call raises CoreError.");

static PyObject *core_trace(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *kwlist[] = {"target", "options", NULL};
    PyObject *target, *opts;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO", kwlist, &target, &opts))
        return NULL;
    tracer_t t;
    memset(&t, 0, sizeof(t));
    t.root_status = -1;
    t.attach = PyLong_Check(target);
    t.adopt = !t.attach && PyObject_HasAttrString(target, "ready_fd");
    PyObject *keep[2] = {NULL, NULL};
    char **argv = NULL, **envp = NULL;
    PyObject *path = NULL, *result = NULL;
    long pid = 0, ready_fd = -1;
    if (t.attach && (pid = PyLong_AsLong(target)) == -1 && PyErr_Occurred())
        return NULL;
    if (t.adopt &&
        (attr_long(target, "pid", &pid) < 0 || attr_long(target, "ready_fd", &ready_fd) < 0))
        return NULL;
    if (options_load(&t, opts, keep) < 0)
        goto out;
    if (!t.attach && !t.adopt &&
        ((path = PyObject_GetAttrString(target, "path")) == NULL || !PyBytes_Check(path) ||
         (argv = to_strv(target, "argv")) == NULL || (envp = to_strv(target, "envp")) == NULL)) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "target.path must be bytes");
        goto out;
    }
    if (tables_init(&t) < 0) {
        PyErr_NoMemory();
        goto out;
    }
    if (run(&t, path ? PyBytes_AS_STRING(path) : NULL, argv, envp, (pid_t)pid, (int)ready_fd) < 0)
        goto out;
    if (t.py_error && PyErr_Occurred())
        goto out;
    if (t.error.call != NULL) {
        core_raise(&t.error);
        goto out;
    }
    result = results_build(&t);
out:
    call_end(&t, path, argv, envp, keep); /* phases_free reads the node table: first */
    tables_free(&t);
    return result;
}

PyDoc_STRVAR(exec_doc,
             "exec_program($module, target, options)\n"
             "--\n\n"
             "Become target (a Spawn): signals as a shell leaves them, options' first\n"
             "filter installed as trace() would have the spawned child install it, then\n"
             "execve. Returns only on failure: (stage, errno), stage 1 the filter, 2 exec,\n"
             "3 the first Landlock ruleset.");

static PyObject *core_exec_program(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *target, *opts, *path = NULL, *result = NULL;
    if (!PyArg_ParseTuple(args, "OO", &target, &opts))
        return NULL;
    tracer_t t;
    memset(&t, 0, sizeof(t));
    PyObject *keep[2] = {NULL, NULL};
    char **argv = NULL, **envp = NULL;
    if (options_load(&t, opts, keep) == 0 && (path = PyObject_GetAttrString(target, "path")) &&
        PyBytes_Check(path) && (argv = to_strv(target, "argv")) != NULL &&
        (envp = to_strv(target, "envp")) != NULL) {
        int stage = 0;
        default_signals(); /* traced without syscall stops until the exec: not counted */
        int err = exec_in_place(&t, PyBytes_AS_STRING(path), argv, envp, &stage);
        result = Py_BuildValue("(ii)", stage, err);
    } else if (!PyErr_Occurred()) {
        PyErr_SetString(PyExc_TypeError, "target.path must be bytes");
    }
    call_end(&t, path, argv, envp, keep);
    return result;
}

PyDoc_STRVAR(release_doc, "release($module, pid)\n"
                          "--\n\n"
                          "Let an adopted program that trace() held at its exit finish exiting\n"
                          "(PTRACE_DETACH). Returns 0, or the errno (a process that is gone: 0).");

/* A pid argument: 0 and *pid set, or -1 with a Python error. */
static int pid_arg(PyObject *arg, pid_t *pid)
{
    long v = PyLong_AsLong(arg);
    if (v == -1 && PyErr_Occurred())
        return -1;
    *pid = (pid_t)v;
    return 0;
}

static PyObject *core_release(PyObject *self, PyObject *arg)
{
    (void)self;
    pid_t pid;
    return pid_arg(arg, &pid) < 0 ? NULL : PyLong_FromLong(service_release(pid));
}

PyDoc_STRVAR(ptracer_doc,
             "allow_tracer($module, pid)\n"
             "--\n\n"
             "Let process pid trace this one under Yama's ptrace_scope 1 (PR_SET_PTRACER).\n"
             "Returns 0, or the errno (EINVAL: no Yama here, nothing to allow).");

static PyObject *core_allow_tracer(PyObject *self, PyObject *arg)
{
    (void)self;
    pid_t pid;
    if (pid_arg(arg, &pid) < 0)
        return NULL;
    return PyLong_FromLong(prctl(PR_SET_PTRACER, (unsigned long)pid, 0, 0, 0) < 0 ? errno : 0);
}

static PyMethodDef core_methods[] = {
    {"trace", (PyCFunction)(void (*)(void))core_trace, METH_VARARGS | METH_KEYWORDS, trace_doc},
    {"exec_program", core_exec_program, METH_VARARGS, exec_doc},
    {"release", core_release, METH_O, release_doc},
    {"allow_tracer", core_allow_tracer, METH_O, ptracer_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT,
    "sysphase._core",
    "The C core of sysphase: the ptrace stop loop and its counters.",
    -1,
    core_methods,
};

/* The constants Python uses, written once, here (psutil's psutil_add_constants). */
static int add_constants(PyObject *m)
{
    static const struct {
        const char *name;
        long value;
    } constants[] = {
        {"ARCH_X86_64", ARCH_X86_64},   {"ARCH_I386", ARCH_I386},
        {"ARCH_X32", ARCH_X32},         {"ARCH_AARCH64", ARCH_AARCH64},
        {"MODE_FULL", MODE_FULL},       {"MODE_SETS", MODE_SETS},
        {"MODE_KNOWN", MODE_KNOWN},     {"MODE_FILTERED", MODE_FILTERED},
        {"MODE_ENFORCE", MODE_ENFORCE}, {"MODE_COMPLAIN", MODE_COMPLAIN},
        {"KIND_SPAWN", KIND_SPAWN},     {"KIND_ATTACH", KIND_ATTACH},
        {"KIND_FORK", KIND_FORK},       {"KIND_VFORK", KIND_VFORK},
        {"KIND_CLONE", KIND_CLONE},     {"KIND_THREAD", KIND_THREAD},
        {"KIND_EXEC", KIND_EXEC},       {"END_RUNNING", END_RUNNING},
        {"END_EXITED", END_EXITED},     {"END_SIGNALED", END_SIGNALED},
        {"END_EXEC", END_EXEC},         {"END_DETACHED", END_DETACHED},
        {"END_VANISHED", END_VANISHED}, {"ARGK_PLAIN", ARGK_PLAIN},
        {"ARGK_CSTRING", ARGK_CSTRING}, {"ARGK_BUF_IN", ARGK_BUF_IN},
        {"ARGK_BUF_OUT", ARGK_BUF_OUT}, {"ARGK_STRV", ARGK_STRV},
        {"MARKER_FD", MARKER_FD},       {"MARKER_NAME_MAX", MARKER_NAME_MAX},
    };
    for (size_t i = 0; i < sizeof(constants) / sizeof(constants[0]); i++)
        if (PyModule_AddIntConstant(m, constants[i].name, constants[i].value) < 0)
            return -1;
    return 0;
}

PyMODINIT_FUNC PyInit__core(void)
{
    PyObject *m = PyModule_Create(&core_module);
    if (m == NULL)
        return NULL;
    if (core_error_type == NULL)
        core_error_type = PyErr_NewExceptionWithDoc(
            "sysphase._core.CoreError",
            "A call of the tracer failed: .call names it, .pid the process it was about (0: "
            "none), .errno and .strerror as in OSError.",
            PyExc_OSError, NULL);
    if (core_error_type == NULL || PyModule_AddObjectRef(m, "CoreError", core_error_type) < 0 ||
        add_constants(m) < 0 || results_init(m) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
