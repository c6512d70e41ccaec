/* options.c: the one options object of trace(), read into the tracer.
 *
 * Python decides the tracing mode once (sysphase._host.tracer.Mode) and hands
 * the core one object whose attributes _core.pyi lists (CoreOptions). This
 * file reads every attribute, copies what the loop keeps, derives the stop
 * mode from the tracing mode, and checks the combinations in one place:
 * a mode that needs a filter has one, recording filters are never mixed with
 * enforcement, attach mode records fully.
 */
#include "core.h"

#include <string.h>

/* A new reference to OPTS.NAME; NULL with TypeError if it is missing. */
static PyObject *attr(PyObject *opts, const char *name)
{
    PyObject *v = PyObject_GetAttrString(opts, name);
    if (v == NULL)
        PyErr_Format(PyExc_TypeError, "trace options lack the attribute %s", name);
    return v;
}

int attr_long(PyObject *opts, const char *name, long *out)
{
    PyObject *v = attr(opts, name);
    if (v == NULL)
        return -1;
    *out = PyLong_AsLong(v);
    Py_DECREF(v);
    return *out == -1 && PyErr_Occurred() ? -1 : 0;
}

/* A copy of OPTS.NAME (bytes, NUL-free) in *out, or NULL for b"" or None. */
static int attr_cstr(PyObject *opts, const char *name, char **out)
{
    *out = NULL;
    PyObject *v = attr(opts, name);
    if (v == NULL)
        return -1;
    int rc = 0;
    if (v != Py_None) {
        char *s;
        Py_ssize_t len;
        if (PyBytes_AsStringAndSize(v, &s, &len) < 0)
            rc = -1;
        else if (len > 0 && (*out = strdup(s)) == NULL) {
            PyErr_NoMemory();
            rc = -1;
        }
    }
    Py_DECREF(v);
    return rc;
}

/* A copy of a BPF program (bytes of 1 to 4096 instructions), or NULL for None. */
static int bpf_copy(PyObject *v, const char *what, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (v == Py_None)
        return 0;
    Py_ssize_t n = PyBytes_Check(v) ? PyBytes_GET_SIZE(v) : -1;
    if (n <= 0 || n % 8 != 0 || n / 8 > 4096) {
        PyErr_Format(PyExc_ValueError, "%s must be 1 to 4096 BPF instructions", what);
        return -1;
    }
    if ((*out = malloc((size_t)n)) == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(*out, PyBytes_AS_STRING(v), (size_t)n);
    *len = (size_t)n;
    return 0;
}

/* {arch code: bytes} -> per-arch byte tables indexed by syscall number (the dict is
 * kept alive in *keep while the loop reads the bytes). */
static int arch_tables(PyObject *opts, const char *name, const uint8_t **tab, size_t *len,
                       PyObject **keep)
{
    PyObject *d = attr(opts, name);
    if (d == NULL)
        return -1;
    if (d == Py_None) {
        Py_DECREF(d);
        return 0;
    }
    *keep = d;
    if (!PyDict_Check(d)) {
        PyErr_Format(PyExc_TypeError, "%s must be a dict {arch code: bytes}", name);
        return -1;
    }
    PyObject *k, *v;
    Py_ssize_t pos = 0;
    while (PyDict_Next(d, &pos, &k, &v)) {
        long a = PyLong_AsLong(k);
        if (a == -1 && PyErr_Occurred())
            return -1;
        if (a < 0 || a >= ARCH_COUNT || !PyBytes_Check(v)) {
            PyErr_Format(PyExc_ValueError, "%s: bad arch code or table", name);
            return -1;
        }
        tab[a] = (const uint8_t *)PyBytes_AS_STRING(v);
        len[a] = (size_t)PyBytes_GET_SIZE(v);
    }
    return 0;
}

/* phase_names: [(name, trigger)] for ids 0.. (at least "start"). */
static int load_names(tracer_t *t, PyObject *opts)
{
    PyObject *names = attr(opts, "phase_names");
    if (names == NULL)
        return -1;
    PyObject *fast = PySequence_Fast(names, "phase_names must be a sequence");
    Py_DECREF(names);
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
    if (t->nphase_names == 0 && phase_intern(t, "start", "start") != 0) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* One trigger object (CoreTrigger: kind, arch, nr, exe, offset, phase, program, program_id). */
static int load_trigger(tracer_t *t, PyObject *o, trigger_t *tr)
{
    long arch, nr, offset, phase, main_only, after_nr;
    PyObject *kind = attr(o, "kind");
    if (kind == NULL)
        return -1;
    int syscall = PyUnicode_Check(kind) && PyUnicode_CompareWithASCIIString(kind, "syscall") == 0;
    int bp = PyUnicode_Check(kind) && PyUnicode_CompareWithASCIIString(kind, "breakpoint") == 0;
    Py_DECREF(kind);
    if (attr_long(o, "arch", &arch) < 0 || attr_long(o, "nr", &nr) < 0 ||
        attr_long(o, "offset", &offset) < 0 || attr_long(o, "phase", &phase) < 0 ||
        attr_cstr(o, "exe", &tr->exe) < 0 || attr_cstr(o, "program", &tr->program) < 0 ||
        attr_cstr(o, "program_id", &tr->program_id) < 0 ||
        attr_long(o, "main_only", &main_only) < 0 || attr_long(o, "after_nr", &after_nr) < 0)
        return -1;
    if (!syscall && !bp) {
        PyErr_SetString(PyExc_ValueError, "a trigger's kind is syscall or breakpoint");
        return -1;
    }
    if (phase <= 0 || (size_t)phase >= t->nphase_names || arch < 0 || arch >= ARCH_COUNT ||
        nr < 0 || offset < 0 || (bp && tr->exe == NULL) || after_nr < -1 ||
        (bp && (main_only || after_nr >= 0))) {
        PyErr_SetString(PyExc_ValueError, "a trigger needs a named phase id and its target");
        return -1;
    }
    tr->kind = syscall ? TRIG_SYSCALL : TRIG_BREAKPOINT;
    tr->arch = (uint8_t)arch;
    tr->nr = (uint32_t)nr;
    tr->offset = (uint64_t)offset;
    tr->phase = (uint16_t)phase;
    tr->main_only = main_only != 0;
    tr->after_nr = (int32_t)after_nr;
    return 0;
}

static int load_triggers(tracer_t *t, PyObject *opts)
{
    PyObject *seq = attr(opts, "triggers");
    if (seq == NULL)
        return -1;
    PyObject *fast = PySequence_Fast(seq, "triggers must be a sequence");
    Py_DECREF(seq);
    if (fast == NULL)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    t->triggers = calloc((size_t)n + 1, sizeof(trigger_t));
    int rc = t->triggers == NULL ? (PyErr_NoMemory(), -1) : 0;
    for (Py_ssize_t i = 0; rc == 0 && i < n; i++) {
        t->ntriggers++; /* counted first: its strings are freed with the rest */
        rc = load_trigger(t, PySequence_Fast_GET_ITEM(fast, i), &t->triggers[i]);
    }
    Py_DECREF(fast);
    return rc;
}

static int load_signal_names(tracer_t *t, PyObject *opts)
{
    PyObject *seq = attr(opts, "signal_names");
    if (seq == NULL)
        return -1;
    PyObject *fast = PySequence_Fast(seq, "signal_names must be a sequence of str");
    Py_DECREF(seq);
    if (fast == NULL)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    t->signal_phase_names = calloc((size_t)n + 1, sizeof(char *));
    int rc = t->signal_phase_names == NULL ? (PyErr_NoMemory(), -1) : 0;
    for (Py_ssize_t i = 0; rc == 0 && i < n; i++) {
        const char *s = PyUnicode_AsUTF8(PySequence_Fast_GET_ITEM(fast, i));
        if (s == NULL)
            rc = -1;
        else if ((t->signal_phase_names[i] = strdup(s)) == NULL)
            rc = (PyErr_NoMemory(), -1);
        else
            t->nsignal_names++;
    }
    Py_DECREF(fast);
    return rc;
}

/* phase_filters: [bytes] indexed by phase id, b"" where none (copied), or None. */
static int load_phase_filters(tracer_t *t, PyObject *opts)
{
    PyObject *seq = attr(opts, "phase_filters");
    if (seq == NULL)
        return -1;
    if (seq == Py_None) {
        Py_DECREF(seq);
        return 0;
    }
    PyObject *fast = PySequence_Fast(seq, "phase_filters must be a sequence of bytes");
    Py_DECREF(seq);
    if (fast == NULL)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    t->phase_filters = calloc((size_t)n + 1, sizeof(uint8_t *));
    t->phase_filter_lens = calloc((size_t)n + 1, sizeof(size_t));
    int rc = t->phase_filters == NULL || t->phase_filter_lens == NULL ? (PyErr_NoMemory(), -1) : 0;
    for (Py_ssize_t i = 0; rc == 0 && i < n; i++) {
        PyObject *b = PySequence_Fast_GET_ITEM(fast, i);
        uint8_t *copy = NULL;
        size_t len = 0;
        if (PyBytes_Check(b) && PyBytes_GET_SIZE(b) == 0)
            copy = calloc(1, 1); /* no filter for this phase id */
        else if (bpf_copy(b, "each phase filter", &copy, &len) < 0)
            rc = -1;
        if (rc == 0 && copy == NULL)
            rc = (PyErr_NoMemory(), -1);
        if (rc == 0) {
            t->phase_filters[i] = copy;
            t->phase_filter_lens[i] = len;
            t->nphase_filters++;
        }
    }
    Py_DECREF(fast);
    return rc;
}

/* landlock_first: our descriptor of the first phase's ruleset, -1 if none; landlock_fds:
 * per phase id, (the program's descriptor, ours) of its ruleset, (-1, -1) if none. */
static int load_landlock(tracer_t *t, PyObject *opts)
{
    long first = -1;
    PyObject *seq = attr(opts, "landlock_fds");
    if (seq == NULL || attr_long(opts, "landlock_first", &first) < 0) {
        Py_XDECREF(seq);
        return -1;
    }
    t->ll_first = first >= 0 && first <= INT32_MAX ? (int)first : -1;
    PyObject *fast = PySequence_Fast(seq, "landlock_fds must be a sequence of pairs");
    Py_DECREF(seq);
    if (fast == NULL)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    int rc = 0;
    if (n > 0 && ((t->ll_tracer_fd = calloc((size_t)n, sizeof(int))) == NULL ||
                  (t->ll_tracee_fd = calloc((size_t)n, sizeof(int))) == NULL))
        rc = (PyErr_NoMemory(), -1);
    for (Py_ssize_t i = 0; rc == 0 && i < n; i++) {
        int theirs = -1, ours = -1;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(fast, i), "ii", &theirs, &ours))
            rc = -1;
        t->ll_tracee_fd[i] = theirs >= 0 && ours >= 0 ? theirs : -1;
        t->ll_tracer_fd[i] = theirs >= 0 && ours >= 0 ? ours : -1;
        t->nll = (size_t)i + 1;
    }
    Py_DECREF(fast);
    return rc;
}

/* known_filters: [CoreKnown(exe, phase, bpf)]; unknown_filter: bytes or None (copied). */
static int load_known(tracer_t *t, PyObject *opts)
{
    PyObject *unknown = attr(opts, "unknown_filter");
    if (unknown == NULL)
        return -1;
    int rc = bpf_copy(unknown, "unknown_filter", &t->unknown_bpf, &t->unknown_len);
    Py_DECREF(unknown);
    PyObject *seq = rc < 0 ? NULL : attr(opts, "known_filters");
    if (seq == NULL)
        return -1;
    PyObject *fast = PySequence_Fast(seq, "known_filters must be a sequence");
    Py_DECREF(seq);
    if (fast == NULL)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    t->known = calloc((size_t)n + 1, sizeof(known_t));
    rc = t->known == NULL ? (PyErr_NoMemory(), -1) : 0;
    for (Py_ssize_t i = 0; rc == 0 && i < n; i++) {
        PyObject *o = PySequence_Fast_GET_ITEM(fast, i);
        known_t *k = &t->known[t->nknown++];
        PyObject *phase = attr(o, "phase"), *bpf = phase ? attr(o, "bpf") : NULL;
        const char *name = bpf ? PyUnicode_AsUTF8(phase) : NULL;
        rc = name == NULL || attr_cstr(o, "exe", &k->exe) < 0 ||
                     bpf_copy(bpf, "each known filter", &k->bpf, &k->len) < 0 || k->bpf == NULL ||
                     (k->phase = strdup(name)) == NULL
                 ? -1
                 : 0;
        if (rc < 0 && !PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "a known filter needs exe, phase and bpf");
        Py_XDECREF(phase);
        Py_XDECREF(bpf);
    }
    Py_DECREF(fast);
    return rc;
}

/* The stop mode, no_new_privs and the checks of each tracing mode. */
static int derive_mode(tracer_t *t, long mode, int supervise)
{
    int recording_filter = mode == MODE_SETS || mode == MODE_KNOWN || mode == MODE_FILTERED;
    int enforcing = mode == MODE_ENFORCE || mode == MODE_COMPLAIN;
    const char *problem = NULL;
    if (mode < MODE_FULL || mode > MODE_COMPLAIN)
        problem = "unknown mode";
    else if (recording_filter && t->filter == NULL)
        problem = "a recording mode needs its filter";
    else if (t->attach && (recording_filter || (enforcing && t->attach_target == 0)))
        problem = "attach mode records fully, or enforces from attach_target";
    else if (t->attach_target != 0 &&
             (!t->attach || t->filter != NULL || t->attach_target >= t->nphase_filters ||
              t->phase_filter_lens[t->attach_target] == 0))
        problem = "attach_target is a phase with a filter, for attach mode without a first one";
    else if (!recording_filter && !enforcing && t->filter != NULL)
        problem = "full recording takes no filter";
    else if ((t->nknown > 0 || t->unknown_bpf != NULL) != (mode == MODE_KNOWN))
        problem = "known filters go with MODE_KNOWN, and only with it";
    else if (t->nphase_filters > 0 && !enforcing)
        problem = "phase filters go with MODE_ENFORCE or MODE_COMPLAIN";
    else if (t->capture_access && mode != MODE_FULL)
        problem = "path capture needs MODE_FULL (entry and exit stops)";
    else if ((t->ll_first >= 0 || t->nll > 0) && !enforcing)
        problem = "Landlock rulesets go with MODE_ENFORCE or MODE_COMPLAIN";
    else if (t->nll > 0 && t->attach)
        problem = "Landlock rulesets need a program started under them, not attach mode";
    if (problem != NULL) {
        PyErr_Format(PyExc_ValueError, "trace options: %s", problem);
        return -1;
    }
    t->seccomp_stops = mode == MODE_SETS || mode == MODE_KNOWN ? STOPS_SECCOMP
                       : mode == MODE_FILTERED                 ? STOPS_SECCOMP_EXIT
                                                               : STOPS_SYSCALL;
    t->no_new_privs = !recording_filter; /* recording filters change nothing for the program */
    t->complain = mode == MODE_COMPLAIN;
    t->no_syscall_stops = enforcing && !supervise;
    return 0;
}

int options_load(tracer_t *t, PyObject *opts, PyObject **keep)
{
    long mode, batch, phase_signal, supervise, kill_after_ns, attach_target, paths;
    PyObject *sink = NULL, *filter = NULL, *vsink = NULL, *ssink = NULL;
    long snapshot_every_ns = 0;
    int rc = attr_long(opts, "mode", &mode) < 0 || attr_long(opts, "batch", &batch) < 0 ||
                     attr_long(opts, "phase_signal", &phase_signal) < 0 ||
                     attr_long(opts, "supervise", &supervise) < 0 ||
                     attr_long(opts, "kill_after_ns", &kill_after_ns) < 0 ||
                     attr_long(opts, "attach_target", &attach_target) < 0 ||
                     attr_long(opts, "paths", &paths) < 0 || (sink = attr(opts, "sink")) == NULL ||
                     (filter = attr(opts, "filter")) == NULL ||
                     (vsink = attr(opts, "violation_sink")) == NULL ||
                     (ssink = attr(opts, "snapshot_sink")) == NULL ||
                     attr_long(opts, "snapshot_every_ns", &snapshot_every_ns) < 0
                 ? -1
                 : 0;
    if (rc == 0 && ((sink != Py_None && !PyCallable_Check(sink)) ||
                    (vsink != Py_None && !PyCallable_Check(vsink)) ||
                    (ssink != Py_None && !PyCallable_Check(ssink)))) {
        PyErr_SetString(PyExc_TypeError, "the sinks must be callable or None");
        rc = -1;
    }
    if (rc == 0) { /* kept alive by the options object */
        t->violation_sink = vsink != Py_None ? vsink : NULL;
        t->snapshot_sink = ssink != Py_None ? ssink : NULL;
        t->snapshot_every_ns = snapshot_every_ns < 0 ? 0 : (uint64_t)snapshot_every_ns;
    }
    Py_XDECREF(vsink);
    Py_XDECREF(ssink);
    if (rc == 0) {
        t->live = sink != Py_None;
        t->sink = t->live ? sink : NULL; /* kept alive by the options object */
        t->batch_max = batch < 1 ? 1 : (size_t)batch;
        t->phase_signal = (int)phase_signal;
        t->capture_access = paths != 0;
        t->kill_after_ns = kill_after_ns < 0 ? 0 : (uint64_t)kill_after_ns;
        t->attach_target =
            attach_target > 0 && attach_target < MAX_PHASES ? (uint16_t)attach_target : 0;
        rc = bpf_copy(filter, "filter", &t->filter, &t->filter_len);
    }
    Py_XDECREF(sink);
    Py_XDECREF(filter);
    if (rc < 0 || load_names(t, opts) < 0 || load_triggers(t, opts) < 0 ||
        load_signal_names(t, opts) < 0 || load_phase_filters(t, opts) < 0 ||
        load_known(t, opts) < 0 || load_landlock(t, opts) < 0 ||
        attr_cstr(opts, "enforce_exe", &t->enforce_exe) < 0 ||
        attr_cstr(opts, "enforce_id", &t->enforce_id) < 0 ||
        arch_tables(opts, "arg_kinds", t->arg_kinds, t->arg_kinds_len, &keep[0]) < 0 ||
        arch_tables(opts, "arg_watch", t->arg_watch, t->arg_watch_len, &keep[1]) < 0)
        return -1;
    return derive_mode(t, mode, (int)supervise);
}

void options_free(tracer_t *t)
{
    free(t->filter);
    free(t->unknown_bpf);
    for (size_t i = 0; i < t->nphase_filters; i++)
        free(t->phase_filters[i]);
    free(t->phase_filters);
    free(t->phase_filter_lens);
    free(t->enforce_exe);
    free(t->enforce_id);
    for (size_t i = 0; i < t->ntriggers; i++) {
        free(t->triggers[i].exe);
        free(t->triggers[i].program);
        free(t->triggers[i].program_id);
    }
    free(t->triggers);
    landlock_free(t);
    for (size_t i = 0; i < t->nsignal_names; i++)
        free(t->signal_phase_names[i]);
    free(t->signal_phase_names);
    known_free(t);
}
