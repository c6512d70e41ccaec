/* module.c: sysphase._core, the method table and trace().
 *
 * trace() spawns a program (or attaches to a pid), runs the stop loop with
 * the GIL released, and returns everything at once as plain tuples:
 * nodes, images and counters. In live mode it also calls `sink` with lists
 * of event tuples, in batches. sysphase._host.tracer is its only caller.
 */
#include "core.h"

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

/* list of bytes -> NULL-terminated char* array (PyMem, freed by free_strv) */
static char **to_strv(PyObject *seq, const char *what)
{
    PyObject *fast = PySequence_Fast(seq, what);
    if (fast == NULL)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    char **v = PyMem_Calloc((size_t)n + 1, sizeof(char *));
    if (v == NULL) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(fast, i);
        char *s;
        Py_ssize_t len;
        if (PyBytes_AsStringAndSize(item, &s, &len) < 0 || (Py_ssize_t)strlen(s) != len) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_ValueError, "%s: embedded NUL byte", what);
            free_strv(v);
            Py_DECREF(fast);
            return NULL;
        }
        v[i] = PyMem_Malloc((size_t)len + 1);
        if (v[i] == NULL) {
            free_strv(v);
            Py_DECREF(fast);
            PyErr_NoMemory();
            return NULL;
        }
        memcpy(v[i], s, (size_t)len + 1);
    }
    Py_DECREF(fast);
    return v;
}

/* Append (node, phase, arch, nr, calls, errors, time_ns, unfinished, in_flight) per counter. */
static int counters_fill(PyObject *list, const counter_table_t *tab)
{
    for (size_t i = 0; i < tab->cap; i++) {
        const counter_t *c = &tab->slots[i];
        if (c->key == 0)
            continue;
        PyObject *o = Py_BuildValue(
            "(iiiiKKKKK)", (int)(c->key >> 32) - 1, (int)((c->key >> 20) & 0xfff),
            (int)((c->key >> 16) & 0xf), (int)(c->key & 0xffff), (unsigned long long)c->calls,
            (unsigned long long)c->errors, (unsigned long long)c->time_ns,
            (unsigned long long)c->unfinished, (unsigned long long)c->in_flight);
        if (o == NULL || PyList_Append(list, o) < 0) {
            Py_XDECREF(o);
            return -1;
        }
        Py_DECREF(o);
    }
    return 0;
}

static PyObject *counters_list(const counter_table_t *tab)
{
    PyObject *list = PyList_New(0);
    if (list != NULL && counters_fill(list, tab) < 0)
        Py_CLEAR(list);
    return list;
}

static PyObject *build_result(tracer_t *t)
{
    PyObject *nodes = PyList_New((Py_ssize_t)t->nnodes);
    PyObject *images = PyList_New((Py_ssize_t)t->nimages);
    PyObject *counts = PyList_New(0);
    PyObject *names = PyList_New((Py_ssize_t)t->nphase_names);
    if (nodes == NULL || images == NULL || counts == NULL || names == NULL)
        goto fail;
    for (size_t i = 0; i < t->nphase_names; i++) {
        /* a marker's name is the program's bytes: decoded as file names are (surrogateescape) */
        PyObject *name = PyUnicode_DecodeFSDefault(t->phase_names[i].name);
        PyObject *o = name == NULL ? NULL : Py_BuildValue("(Ns)", name, t->phase_names[i].trigger);
        if (o == NULL)
            goto fail;
        PyList_SET_ITEM(names, (Py_ssize_t)i, o);
    }
    for (size_t i = 0; i < t->nnodes; i++) {
        node_t *n = &t->nodes[i];
        PyObject *phases = PyTuple_New(n->nphases);
        if (phases == NULL)
            goto fail;
        for (uint16_t k = 0; k < n->nphases; k++) {
            PyObject *id = PyLong_FromLong(n->phases[k]);
            if (id == NULL) {
                Py_DECREF(phases);
                goto fail;
            }
            PyTuple_SET_ITEM(phases, k, id);
        }
        PyObject *o = Py_BuildValue("(iiiiiiiKKKKNii)", (int)n->tid, (int)n->tgid, (int)n->parent,
                                    (int)n->image, (int)n->kind, (int)n->end, (int)n->end_value,
                                    (unsigned long long)n->start_ns, (unsigned long long)n->end_ns,
                                    (unsigned long long)n->load_base, (unsigned long long)n->entry,
                                    phases, (int)n->exit_nr, (int)n->exit_arch);
        if (o == NULL)
            goto fail;
        PyList_SET_ITEM(nodes, (Py_ssize_t)i, o);
    }
    for (size_t i = 0; i < t->nimages; i++) {
        image_t *im = &t->images[i];
        PyObject *o = Py_BuildValue("(y#y#s)", im->exe, (Py_ssize_t)strlen(im->exe), im->argv,
                                    (Py_ssize_t)im->argv_len, im->build_id);
        if (o == NULL)
            goto fail;
        PyList_SET_ITEM(images, (Py_ssize_t)i, o);
    }
    PyObject *argvals = PyList_New(0);
    if (argvals == NULL)
        goto fail;
    for (size_t i = 0; i < t->cap_argvals; i++) {
        argval_t *a = &t->argvals[i];
        if (a->key == 0)
            continue;
        PyObject *o =
            Py_BuildValue("(iiiiiK)", (int)(a->key >> 32) - 1, (int)((a->key >> 20) & 0xfff),
                          (int)((a->key >> 16) & 0xf), (int)(a->key & 0xffff), (int)a->arg,
                          (unsigned long long)a->value);
        if (o == NULL || PyList_Append(argvals, o) < 0) {
            Py_XDECREF(o);
            Py_DECREF(argvals);
            goto fail;
        }
        Py_DECREF(o);
    }
    PyObject *violations = counters_list(&t->violations);
    if (counters_fill(counts, &t->counters) < 0 || violations == NULL) {
        Py_DECREF(argvals);
        Py_XDECREF(violations);
        goto fail;
    }
    return Py_BuildValue(
        "{s:N,s:N,s:N,s:N,s:N,s:N,s:i,s:i,s:i,s:i,s:K,s:i,s:K,s:K}", "nodes", nodes, "images",
        images, "counts", counts, "violations", violations, "arg_values", argvals, "phase_names",
        names, "filter_errno", t->filter_errno, "root_status", t->root_status, "interrupted",
        t->interrupted, "exec_errno", t->exec_errno, "stops", (unsigned long long)t->stops, "root",
        (int)t->root, "switches", (unsigned long long)t->switches, "switch_ns",
        (unsigned long long)t->switch_ns);
fail:
    Py_XDECREF(nodes);
    Py_XDECREF(images);
    Py_XDECREF(counts);
    Py_XDECREF(names);
    return NULL;
}

/* {arch code: bytes} -> per-arch byte tables indexed by syscall number (the
 * dict is kept alive in *keep while the loop reads the bytes). */
static int load_arch_tables(PyObject *d, const uint8_t **tab, size_t *len, const char *what,
                            PyObject **keep)
{
    if (d == NULL || d == Py_None)
        return 0;
    if (!PyDict_Check(d)) {
        PyErr_Format(PyExc_TypeError, "%s must be a dict {arch code: bytes}", what);
        return -1;
    }
    *keep = Py_NewRef(d);
    PyObject *k, *v;
    Py_ssize_t pos = 0;
    while (PyDict_Next(d, &pos, &k, &v)) {
        long a = PyLong_AsLong(k);
        if (a == -1 && PyErr_Occurred())
            return -1;
        if (a < 0 || a >= ARCH_COUNT || !PyBytes_Check(v)) {
            PyErr_Format(PyExc_ValueError, "%s: bad arch code or table", what);
            return -1;
        }
        tab[a] = (const uint8_t *)PyBytes_AS_STRING(v);
        len[a] = (size_t)PyBytes_GET_SIZE(v);
    }
    return 0;
}

/* list of str -> NULL-terminated malloc'd char* array */
static char **to_strv_utf8(PyObject *seq)
{
    PyObject *fast = PySequence_Fast(seq, "expected a sequence of str");
    if (fast == NULL)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    char **v = calloc((size_t)n + 1, sizeof(char *));
    for (Py_ssize_t i = 0; v != NULL && i < n; i++) {
        const char *s = PyUnicode_AsUTF8(PySequence_Fast_GET_ITEM(fast, i));
        if (s == NULL || (v[i] = strdup(s)) == NULL) {
            for (Py_ssize_t j = 0; j < i; j++)
                free(v[j]);
            free(v);
            v = NULL;
        }
    }
    Py_DECREF(fast);
    if (v == NULL && !PyErr_Occurred())
        PyErr_NoMemory();
    return v;
}

/* phase_names: [(name, trigger)] for ids 0..; triggers: [("syscall", arch, nr, phase,
 * program, program_id) | ("breakpoint", exe bytes, offset, phase, program, program_id)];
 * signal_names: [str] for phase-signal phases. */
static int load_phases(tracer_t *t, PyObject *names, PyObject *triggers, PyObject *signal_names)
{
    if (names != Py_None) {
        PyObject *fast = PySequence_Fast(names, "phase_names must be a sequence");
        if (fast == NULL)
            return -1;
        for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(fast); i++) {
            const char *name, *trigger;
            if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(fast, i), "ss", &name, &trigger) ||
                phase_intern(t, name, trigger) != (int)i) {
                Py_DECREF(fast);
                if (!PyErr_Occurred())
                    PyErr_SetString(PyExc_ValueError, "phase_names must be distinct");
                return -1;
            }
        }
        Py_DECREF(fast);
    }
    if (t->nphase_names == 0 && phase_intern(t, "start", "start") != 0) {
        PyErr_NoMemory();
        return -1;
    }
    if (triggers != Py_None) {
        PyObject *fast = PySequence_Fast(triggers, "triggers must be a sequence");
        if (fast == NULL)
            return -1;
        Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
        t->triggers = calloc((size_t)n + 1, sizeof(trigger_t));
        if (t->triggers == NULL) {
            Py_DECREF(fast);
            PyErr_NoMemory();
            return -1;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *item = PySequence_Fast_GET_ITEM(fast, i);
            trigger_t *tr = &t->triggers[t->ntriggers];
            const char *kind, *exe, *program, *program_id;
            int arch;
            unsigned int nr, phase;
            unsigned long long off;
            if (PyArg_ParseTuple(item, "siIIyy", &kind, &arch, &nr, &phase, &program,
                                 &program_id) &&
                strcmp(kind, "syscall") == 0) {
                tr->kind = TRIG_SYSCALL;
                tr->arch = (uint8_t)arch;
                tr->nr = nr;
            } else if ((PyErr_Clear(), PyArg_ParseTuple(item, "syKIyy", &kind, &exe, &off, &phase,
                                                        &program, &program_id)) &&
                       strcmp(kind, "breakpoint") == 0) {
                tr->kind = TRIG_BREAKPOINT;
                tr->offset = off;
                if ((tr->exe = strdup(exe)) == NULL) {
                    Py_DECREF(fast);
                    PyErr_NoMemory();
                    return -1;
                }
            } else {
                PyErr_Clear();
                Py_DECREF(fast);
                PyErr_SetString(PyExc_ValueError, "bad trigger");
                return -1;
            }
            t->ntriggers++;
            tr->phase = (uint16_t)phase;
            if (phase == 0 || phase >= t->nphase_names) {
                Py_DECREF(fast);
                PyErr_SetString(PyExc_ValueError, "a trigger's phase must be a named phase id");
                return -1;
            }
            if ((*program && (tr->program = strdup(program)) == NULL) ||
                (*program_id && (tr->program_id = strdup(program_id)) == NULL)) {
                Py_DECREF(fast);
                PyErr_NoMemory();
                return -1;
            }
        }
        Py_DECREF(fast);
    }
    if (signal_names != Py_None) {
        char **v = to_strv_utf8(signal_names);
        if (v == NULL)
            return -1;
        t->signal_phase_names = v;
        while (v[t->nsignal_names] != NULL)
            t->nsignal_names++;
    }
    return 0;
}

/* phase_filters: [bytes] indexed by phase id, b"" where none (copied); enforce_exe (or a
 * program with build-id enforce_id): the program whose phase-signal phases are enforced. */
static int load_phase_filters(tracer_t *t, PyObject *filters, const char *exe, const char *id)
{
    if (filters == Py_None)
        return 0;
    PyObject *fast = PySequence_Fast(filters, "phase_filters must be a sequence of bytes");
    if (fast == NULL)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    t->phase_filters = calloc((size_t)n + 1, sizeof(uint8_t *));
    t->phase_filter_lens = calloc((size_t)n + 1, sizeof(size_t));
    if (t->phase_filters == NULL || t->phase_filter_lens == NULL ||
        (exe != NULL && *exe && (t->enforce_exe = strdup(exe)) == NULL) ||
        (id != NULL && *id && (t->enforce_id = strdup(id)) == NULL)) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *b = PySequence_Fast_GET_ITEM(fast, i);
        Py_ssize_t len = PyBytes_Check(b) ? PyBytes_GET_SIZE(b) : -1;
        if (len < 0 || len % 8 != 0 || len / 8 > 4096) {
            Py_DECREF(fast);
            PyErr_SetString(PyExc_ValueError, "each phase filter must be 1 to 4096 instructions");
            return -1;
        }
        uint8_t *copy = malloc((size_t)len + 1);
        if (copy == NULL) {
            Py_DECREF(fast);
            PyErr_NoMemory();
            return -1;
        }
        memcpy(copy, PyBytes_AS_STRING(b), (size_t)len);
        t->phase_filters[i] = copy;
        t->phase_filter_lens[i] = (size_t)len;
        t->nphase_filters++;
    }
    Py_DECREF(fast);
    return 0;
}

/* known: [(exe bytes, phase str, bpf bytes)]; unknown: bytes or None (copied). */
static int load_known(tracer_t *t, PyObject *known, PyObject *unknown)
{
    if (unknown != Py_None) {
        if (!PyBytes_Check(unknown) || PyBytes_GET_SIZE(unknown) == 0 ||
            PyBytes_GET_SIZE(unknown) % 8 != 0 || PyBytes_GET_SIZE(unknown) / 8 > 4096) {
            PyErr_SetString(PyExc_ValueError, "unknown_filter must be 1 to 4096 instructions");
            return -1;
        }
        t->unknown_bpf = (const uint8_t *)PyBytes_AS_STRING(unknown); /* kept by the caller */
        t->unknown_len = (size_t)PyBytes_GET_SIZE(unknown);
    }
    if (known == Py_None)
        return 0;
    PyObject *fast = PySequence_Fast(known, "known_filters must be a sequence");
    if (fast == NULL)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    t->known = calloc((size_t)n + 1, sizeof(known_t));
    if (t->known == NULL) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        const char *exe, *phase, *bpf;
        Py_ssize_t len;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(fast, i), "ysy#", &exe, &phase, &bpf,
                              &len)) {
            Py_DECREF(fast);
            return -1;
        }
        if (len == 0 || len % 8 != 0 || len / 8 > 4096) {
            Py_DECREF(fast);
            PyErr_SetString(PyExc_ValueError, "each known filter must be 1 to 4096 instructions");
            return -1;
        }
        known_t *k = &t->known[t->nknown];
        k->exe = strdup(exe);
        k->phase = strdup(phase);
        k->bpf = malloc((size_t)len);
        t->nknown++;
        if (k->exe == NULL || k->phase == NULL || k->bpf == NULL) {
            Py_DECREF(fast);
            PyErr_NoMemory();
            return -1;
        }
        memcpy(k->bpf, bpf, (size_t)len);
        k->len = (size_t)len;
    }
    Py_DECREF(fast);
    return 0;
}

PyDoc_STRVAR(trace_doc,
             "trace($module, path, argv, envp, *, pid=0, sink=None, arg_kinds=None, batch=256, "
             "phase_names=None, triggers=None, phase_signal=0, signal_names=None, arg_watch=None, "
             "filter=None, syscall_stops=True, complain=False, phase_filters=None, "
             "enforce_exe=b'', enforce_id=b'', seccomp_stops=0, no_new_privs=True, "
             "known_filters=None, unknown_filter=None)\n"
             "--\n\n"
             "Spawn path with argv and envp (bytes), or attach to pid (path None), and\n"
             "trace the whole tree until every tracee is gone or the tracer gets\n"
             "SIGINT, SIGTERM or SIGHUP. In live mode (sink given) sink(list) receives\n"
             "event tuples (tid, arch, nr, args, retval|None, data, time_ns).\n"
             "Returns nodes, images, counts, root_status, interrupted, exec_errno, stops.");

static PyObject *core_trace(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *kwlist[] = {
        "path",          "argv",           "envp",        "pid",           "sink",
        "arg_kinds",     "batch",          "phase_names", "triggers",      "phase_signal",
        "signal_names",  "arg_watch",      "filter",      "syscall_stops", "complain",
        "phase_filters", "enforce_exe",    "enforce_id",  "seccomp_stops", "no_new_privs",
        "known_filters", "unknown_filter", NULL};
    PyObject *path_obj, *argv_obj, *envp_obj, *sink = Py_None, *kinds = Py_None;
    PyObject *names = Py_None, *triggers = Py_None, *signal_names = Py_None, *watch = Py_None;
    int pid = 0, phase_signal = 0, syscall_stops = 1, complain = 0, seccomp_stops = 0;
    int no_new_privs = 1;
    PyObject *known = Py_None, *unknown = Py_None;
    Py_buffer filter = {0};
    PyObject *phase_filters = Py_None;
    const char *enforce_exe = NULL, *enforce_id = NULL;
    Py_ssize_t batch = 256;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOO|$iOOnOOiOOz*ppOyyipOO", kwlist, &path_obj,
                                     &argv_obj, &envp_obj, &pid, &sink, &kinds, &batch, &names,
                                     &triggers, &phase_signal, &signal_names, &watch, &filter,
                                     &syscall_stops, &complain, &phase_filters, &enforce_exe,
                                     &enforce_id, &seccomp_stops, &no_new_privs, &known, &unknown))
        return NULL;
    if (sink != Py_None && !PyCallable_Check(sink)) {
        PyErr_SetString(PyExc_TypeError, "sink must be callable or None");
        return NULL;
    }
    if (batch < 1)
        batch = 1;
    tracer_t t;
    memset(&t, 0, sizeof(t));
    t.root_status = -1;
    t.attach = pid > 0;
    t.live = sink != Py_None;
    t.sink = t.live ? sink : NULL;
    t.batch_max = (size_t)batch;
    PyObject *keep_kinds = NULL, *keep_watch = NULL;
    char **argv = NULL, **envp = NULL;
    const char *path = NULL;
    PyObject *result = NULL;
    t.phase_signal = phase_signal;
    t.no_syscall_stops = !syscall_stops;
    t.complain = complain;
    t.no_new_privs = no_new_privs;
    if (seccomp_stops < STOPS_SYSCALL || seccomp_stops > STOPS_SECCOMP_EXIT ||
        (seccomp_stops != STOPS_SYSCALL && (filter.buf == NULL || pid > 0 || complain))) {
        if (filter.buf != NULL)
            PyBuffer_Release(&filter);
        PyErr_SetString(PyExc_ValueError,
                        "seccomp_stops needs a filter, a spawned program and no complain mode");
        return NULL;
    }
    if (seccomp_stops == STOPS_SECCOMP_EXIT && (known != Py_None || unknown != Py_None)) {
        if (filter.buf != NULL)
            PyBuffer_Release(&filter);
        PyErr_SetString(PyExc_ValueError, "known filters count at seccomp stops (seccomp_stops=1)");
        return NULL;
    }
    t.seccomp_stops = seccomp_stops;
    if (filter.buf != NULL) {
        if (filter.len == 0 || filter.len % 8 != 0 || filter.len / 8 > 4096) {
            PyBuffer_Release(&filter);
            PyErr_SetString(PyExc_ValueError, "filter must be 1 to 4096 BPF instructions");
            return NULL;
        }
        t.filter = filter.buf;
        t.filter_len = (size_t)filter.len;
    }
    if (load_phase_filters(&t, phase_filters, enforce_exe, enforce_id) < 0 ||
        load_known(&t, known, unknown) < 0)
        goto out;
    if ((t.nknown > 0 || t.unknown_bpf != NULL) &&
        (t.seccomp_stops != STOPS_SECCOMP || t.nphase_filters > 0)) {
        PyErr_SetString(PyExc_ValueError,
                        "known filters need seccomp_stops=1 and no phase_filters");
        goto out;
    }
    if (load_arch_tables(kinds, t.arg_kinds, t.arg_kinds_len, "arg_kinds", &keep_kinds) < 0 ||
        load_arch_tables(watch, t.arg_watch, t.arg_watch_len, "arg_watch", &keep_watch) < 0 ||
        load_phases(&t, names, triggers, signal_names) < 0)
        goto out;
    if (!t.attach) {
        if (!PyBytes_Check(path_obj)) {
            PyErr_SetString(PyExc_TypeError, "path must be bytes");
            goto out;
        }
        path = PyBytes_AS_STRING(path_obj);
        if ((argv = to_strv(argv_obj, "argv")) == NULL ||
            (envp = to_strv(envp_obj, "envp")) == NULL)
            goto out;
    }
    if (tables_init(&t) < 0) {
        PyErr_NoMemory();
        goto out;
    }
    saved_signals_t old;
    if (loop_install_handlers(&old) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        goto out;
    }
    /* Spawn mode: orphaned tracees are reparented to us, not to init, so
     * that the loop reaps them and no zombie outlives the trace. */
    int was_subreaper = 0;
    if (!t.attach && (prctl(PR_GET_CHILD_SUBREAPER, &was_subreaper) < 0 ||
                      prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)) {
        loop_restore_handlers(&old);
        PyErr_SetFromErrno(PyExc_OSError);
        goto out;
    }
    int errfd = -1;
    int ok = t.attach ? loop_attach(&t, (pid_t)pid) : (errfd = loop_spawn(&t, path, argv, envp));
    if (ok >= 0 || t.live_tasks > 0)
        loop_run(&t);
    loop_restore_handlers(&old);
    if (!t.attach)
        (void)prctl(PR_SET_CHILD_SUBREAPER, was_subreaper); /* restoring a value we read */
    if (errfd >= 0) {
        int msg[2];
        if (read(errfd, msg, sizeof(msg)) == (ssize_t)sizeof(msg)) {
            if (msg[0] == 1)
                t.filter_errno = msg[1];
            else
                t.exec_errno = msg[1];
        }
        close(errfd);
    }
    if (t.py_error && PyErr_Occurred())
        goto out;
    if (t.error.call != NULL) {
        core_raise(&t.error);
        goto out;
    }
    result = build_result(&t);
out:
    phases_free(&t);
    known_free(&t);
    for (size_t i = 0; i < t.nphase_filters; i++)
        free((void *)t.phase_filters[i]);
    free(t.phase_filters);
    free(t.phase_filter_lens);
    free(t.enforce_exe);
    free(t.enforce_id);
    for (size_t i = 0; i < t.ntriggers; i++) {
        free(t.triggers[i].exe);
        free(t.triggers[i].program);
        free(t.triggers[i].program_id);
    }
    free(t.triggers);
    if (t.signal_phase_names != NULL) {
        for (size_t i = 0; i < t.nsignal_names; i++)
            free(t.signal_phase_names[i]);
        free(t.signal_phase_names);
    }
    tables_free(&t);
    free_strv(argv);
    free_strv(envp);
    Py_XDECREF(keep_kinds);
    Py_XDECREF(keep_watch);
    if (filter.buf != NULL)
        PyBuffer_Release(&filter);
    return result;
}

static PyMethodDef core_methods[] = {
    {"trace", (PyCFunction)(void (*)(void))core_trace, METH_VARARGS | METH_KEYWORDS, trace_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT,
    "sysphase._core",
    "The C core of sysphase: the ptrace stop loop and its counters.",
    -1,
    core_methods,
};

PyMODINIT_FUNC PyInit__core(void)
{
    PyObject *m = PyModule_Create(&core_module);
    if (m == NULL)
        return NULL;
    if (core_error_type == NULL) {
        core_error_type = PyErr_NewExceptionWithDoc(
            "sysphase._core.CoreError",
            "A call of the tracer failed: .call names it, .pid the process it was about (0: "
            "none), .errno and .strerror as in OSError.",
            PyExc_OSError, NULL);
        if (core_error_type == NULL) {
            Py_DECREF(m);
            return NULL;
        }
    }
    if (PyModule_AddObjectRef(m, "CoreError", core_error_type) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "ARCH_X86_64", ARCH_X86_64) < 0 ||
        PyModule_AddIntConstant(m, "ARCH_I386", ARCH_I386) < 0 ||
        PyModule_AddIntConstant(m, "ARCH_X32", ARCH_X32) < 0 ||
        PyModule_AddIntConstant(m, "ARCH_AARCH64", ARCH_AARCH64) < 0 ||
        PyModule_AddIntConstant(m, "STOPS_SYSCALL", STOPS_SYSCALL) < 0 ||
        PyModule_AddIntConstant(m, "STOPS_SECCOMP", STOPS_SECCOMP) < 0 ||
        PyModule_AddIntConstant(m, "STOPS_SECCOMP_EXIT", STOPS_SECCOMP_EXIT) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
