/* results.c: what trace() hands back, as named, typed records.
 *
 * Every record is a struct sequence (a named tuple made in C, like
 * os.stat_result): TraceResult, Node, Image, Counter, ArgValue, PhaseName and,
 * in live mode, Event. Their fields are listed here once and typed in
 * _core.pyi, which mypy's stubtest checks against this module.
 */
#include "core.h"

#include <string.h>

static PyTypeObject *result_type, *node_type, *image_type, *counter_type, *argvalue_type,
    *phasename_type, *event_type, *violation_type, *access_type;

#define FIELD(name, doc)                                                                           \
    {                                                                                              \
        name, doc                                                                                  \
    }

static PyStructSequence_Field result_fields[] = {
    FIELD("nodes", "every node (program image of one task), in creation order"),
    FIELD("images", "the executables, by image index"),
    FIELD("counts", "calls per (node, phase, arch, syscall)"),
    FIELD("violations", "complain mode: calls outside the filter, same keys"),
    FIELD("arg_values", "distinct values of watched arguments"),
    FIELD("phase_names", "(name, trigger) by phase id"),
    FIELD("filter_errno", "errno of the child's failed filter install, 0 if none"),
    FIELD("root_status", "raw wait status of the root process, -1 if unknown"),
    FIELD("interrupted", "the signal that stopped the tracer, 0 if none"),
    FIELD("exec_errno", "errno of the spawned child's failed exec, 0 if none"),
    FIELD("stops", "ptrace stops handled"),
    FIELD("root", "pid of the spawned or attached process"),
    FIELD("switches", "filters installed into stopped threads (enforcing, known sets)"),
    FIELD("switch_ns", "the time those switches took, in nanoseconds"),
    FIELD("fires", "(node, phase id) of each trigger that fired: the thread it fired in"),
    FIELD("accesses", "path capture: the distinct paths and ports calls touched"),
    FIELD("accesses_dropped", "distinct accesses past the table's bound"),
    FIELD("landlock_errno", "errno of the child's failed first Landlock restriction, 0 if none"),
    {NULL, NULL}};

static PyStructSequence_Field node_fields[] = {
    FIELD("tid", "thread id"),
    FIELD("tgid", "process id"),
    FIELD("parent", "parent node index, -1 for a root"),
    FIELD("image", "index into images, -1 if unknown"),
    FIELD("kind", "how it came to be: KIND_*"),
    FIELD("end", "how it ended: END_*"),
    FIELD("end_value", "exit code or signal number"),
    FIELD("start_ns", "monotonic time it began"),
    FIELD("end_ns", "monotonic time it ended, 0 if it did not"),
    FIELD("load_base", "where its executable was loaded, 0 if unknown"),
    FIELD("entry", "its executable's entry point, 0 if unknown"),
    FIELD("phases", "phase ids in the order it entered them"),
    FIELD("phase_ns", "monotonic time it entered each of them"),
    FIELD("exit_nr", "enforcing: the syscall it was in when it died, -1 if unknown"),
    FIELD("exit_arch", "that syscall's ARCH_*"),
    {NULL, NULL}};

static PyStructSequence_Field image_fields[] = {
    FIELD("exe", "the executable's path (bytes, from /proc/PID/exe)"),
    FIELD("argv", "the command line (bytes, NUL-separated)"),
    FIELD("build_id", "the executable's GNU build-id in hex, '' if none"),
    {NULL, NULL}};

static PyStructSequence_Field counter_fields[] = {
    FIELD("node", "node index"),
    FIELD("phase", "phase id"),
    FIELD("arch", "ARCH_*"),
    FIELD("nr", "syscall number (x32: without the x32 bit)"),
    FIELD("calls", "completed calls"),
    FIELD("errors", "calls that returned -errno"),
    FIELD("time_ns", "time from entry to exit, summed"),
    FIELD("unfinished", "calls that never returned"),
    FIELD("in_flight", "calls a thread was in when its process entered this phase"),
    FIELD("first_ns", "monotonic time of the first stop that counted it"),
    FIELD("last_ns", "monotonic time of the latest"),
    {NULL, NULL}};

static PyStructSequence_Field argvalue_fields[] = {
    FIELD("node", "node index"),
    FIELD("phase", "phase id"),
    FIELD("arch", "ARCH_*"),
    FIELD("nr", "syscall number"),
    FIELD("arg", "argument index"),
    FIELD("value", "the raw value (unsigned 64-bit)"),
    {NULL, NULL}};

static PyStructSequence_Field phasename_fields[] = {
    FIELD("name", "the phase's name"),
    FIELD("trigger", "what started it: start, exec, marker, signal:N, or the trigger given"),
    {NULL, NULL}};

static PyStructSequence_Field event_fields[] = {
    FIELD("tid", "thread id"),
    FIELD("arch", "ARCH_*"),
    FIELD("nr", "syscall number"),
    FIELD("args", "the six raw argument registers"),
    FIELD("retval", "the return value, None if the call did not return"),
    FIELD("data", "per argument: the bytes copied from the tracee, or None"),
    FIELD("time_ns", "time from entry to exit"),
    {NULL, NULL}};

static PyStructSequence_Field violation_fields[] = {
    FIELD("time_ns", "monotonic time it was seen"),
    FIELD("pid", "process id"),
    FIELD("tid", "thread id"),
    FIELD("exe", "the process's executable (bytes), b'' if unknown"),
    FIELD("build_id", "its GNU build-id in hex, '' if none"),
    FIELD("phase", "the process's phase (its label)"),
    FIELD("filter_phase", "the phase whose filter it ran under (its label)"),
    FIELD("arch", "ARCH_*"),
    FIELD("nr", "syscall number (x32: without the x32 bit)"),
    FIELD("args", "the six raw argument registers"),
    FIELD("killed", "True: the filter killed it; False: complain mode let it run"),
    {NULL, NULL}};

static PyStructSequence_Field access_fields[] = {
    FIELD("node", "node index"),
    FIELD("phase", "phase id"),
    FIELD("nr", "syscall number (x86_64)"),
    FIELD("which", "0: the call's first path, 1: its second"),
    FIELD("flags", "the call's flags argument (open flags, AT_* flags, mode)"),
    FIELD("ftype", "file type, st_mode >> 12, 0 if unknown"),
    FIELD("existed", "the path existed at the call's entry: 1, 0, -1 not checked"),
    FIELD("err", "errno, 0 for success"),
    FIELD("path", "the resolved path (bytes), or tcp:PORT, udp:PORT, unix:PATH..."),
    {NULL, NULL}};

#define DESC(name, fields, doc)                                                                    \
    {                                                                                              \
        "sysphase._core." name, doc, fields, 0                                                     \
    }

static PyStructSequence_Desc descs[] = {
    DESC("TraceResult", result_fields, "Everything one trace() call produced."),
    DESC("Node", node_fields, "One program image of one task."),
    DESC("Image", image_fields, "An executable a node ran."),
    DESC("Counter", counter_fields, "Calls of one syscall in one node and phase."),
    DESC("ArgValue", argvalue_fields, "A distinct value of a watched argument."),
    DESC("PhaseName", phasename_fields, "A phase id's name and trigger."),
    DESC("Event", event_fields, "One system call, live mode."),
    DESC("Violation", violation_fields, "A seccomp kill or complain-mode violation."),
    DESC("Access", access_fields, "A distinct path or port a call touched."),
};

int results_init(PyObject *module)
{
    PyTypeObject **types[] = {&result_type,  &node_type,      &image_type,
                              &counter_type, &argvalue_type,  &phasename_type,
                              &event_type,   &violation_type, &access_type};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (*types[i] == NULL) {
            descs[i].n_in_sequence = 0;
            while (descs[i].fields[descs[i].n_in_sequence].name != NULL)
                descs[i].n_in_sequence++;
            if ((*types[i] = PyStructSequence_NewType(&descs[i])) == NULL)
                return -1;
        }
        const char *dot = strrchr(descs[i].name, '.');
        if (PyModule_AddObjectRef(module, dot + 1, (PyObject *)*types[i]) < 0)
            return -1;
    }
    return 0;
}

/* A struct sequence of TYPE from values (new references, stolen; NULL ones fail it). */
static PyObject *record(PyTypeObject *type, PyObject **values, Py_ssize_t n)
{
    PyObject *r = PyStructSequence_New(type);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (r == NULL || values[i] == NULL) {
            for (Py_ssize_t j = i; j < n; j++)
                Py_XDECREF(values[j]);
            Py_XDECREF(r);
            return NULL;
        }
        PyStructSequence_SetItem(r, i, values[i]);
    }
    return r;
}

#define U64(v) PyLong_FromUnsignedLongLong((unsigned long long)(v))
#define I64(v) PyLong_FromLongLong((long long)(v))

static PyObject *counter_record(const void *item)
{
    const counter_t *c = item;
    PyObject *v[] = {I64((int)(c->key >> 32) - 1),
                     I64((c->key >> 20) & 0xfff),
                     I64((c->key >> 16) & 0xf),
                     I64(c->key & 0xffff),
                     U64(c->calls),
                     U64(c->errors),
                     U64(c->time_ns),
                     U64(c->unfinished),
                     U64(c->in_flight),
                     U64(c->first_ns),
                     U64(c->last_ns)};
    return record(counter_type, v, 11);
}

static PyObject *counters_list(const counter_table_t *tab)
{
    PyObject *list = PyList_New(0);
    for (size_t i = 0; list != NULL && i < tab->cap; i++) {
        if (tab->slots[i].key == 0)
            continue;
        PyObject *o = counter_record(&tab->slots[i]);
        if (o == NULL || PyList_Append(list, o) < 0)
            Py_CLEAR(list);
        Py_XDECREF(o);
    }
    return list;
}

static PyObject *node_record(const void *item)
{
    const node_t *n = item;
    PyObject *phases = PyTuple_New(n->nphases);
    for (uint16_t k = 0; phases != NULL && k < n->nphases; k++) {
        PyObject *id = I64(n->phases[k]);
        if (id == NULL)
            Py_CLEAR(phases);
        else
            PyTuple_SET_ITEM(phases, k, id);
    }
    PyObject *when = PyTuple_New(n->nphases);
    for (uint16_t k = 0; when != NULL && k < n->nphases; k++) {
        PyObject *ns = U64(n->phase_ns[k]);
        if (ns == NULL)
            Py_CLEAR(when);
        else
            PyTuple_SET_ITEM(when, k, ns);
    }
    PyObject *v[] = {I64(n->tid),    I64(n->tgid),      I64(n->parent),    I64(n->image),
                     I64(n->kind),   I64(n->end),       I64(n->end_value), U64(n->start_ns),
                     U64(n->end_ns), U64(n->load_base), U64(n->entry),     phases,
                     when,           I64(n->exit_nr),   I64(n->exit_arch)};
    return record(node_type, v, 15);
}

static PyObject *image_record(const void *item)
{
    const image_t *im = item;
    PyObject *v[] = {PyBytes_FromString(im->exe),
                     PyBytes_FromStringAndSize(im->argv, (Py_ssize_t)im->argv_len),
                     PyUnicode_FromString(im->build_id)};
    return record(image_type, v, 3);
}

static PyObject *argvalue_record(const void *item)
{
    const argval_t *a = item;
    PyObject *v[] = {I64((int)(a->key >> 32) - 1),
                     I64((a->key >> 20) & 0xfff),
                     I64((a->key >> 16) & 0xf),
                     I64(a->key & 0xffff),
                     I64(a->arg),
                     U64(a->value)};
    return record(argvalue_type, v, 6);
}

static PyObject *phasename_record(const void *item)
{
    const phase_name_t *p = item;
    /* a marker's name is the program's bytes: decoded as file names are (surrogateescape) */
    PyObject *v[] = {PyUnicode_DecodeFSDefault(p->name), PyUnicode_FromString(p->trigger)};
    return record(phasename_type, v, 2);
}

/* A list of N records made by MAKE from consecutive items of SIZE bytes at BASE; SKIP(item)
 * true leaves an item out. */
typedef PyObject *(*make_fn)(const void *);
typedef int (*skip_fn)(const void *);

static PyObject *records(const void *base, size_t n, size_t size, make_fn make, skip_fn skip)
{
    PyObject *list = PyList_New(0);
    for (size_t i = 0; list != NULL && i < n; i++) {
        const void *item = (const char *)base + i * size;
        if (skip != NULL && skip(item))
            continue;
        PyObject *o = make(item);
        if (o == NULL || PyList_Append(list, o) < 0)
            Py_CLEAR(list);
        Py_XDECREF(o);
    }
    return list;
}

static PyObject *access_record(const void *item)
{
    const access_t *a = item;
    PyObject *v[] = {I64(a->node),    I64(a->phase), I64(a->nr),
                     I64(a->which),   U64(a->flags), I64(a->ftype),
                     I64(a->existed), I64(a->err),   PyBytes_FromString(a->path)};
    return record(access_type, v, 9);
}

static int access_empty(const void *a)
{
    return ((const access_t *)a)->hash == 0;
}

static int argval_empty(const void *a)
{
    return ((const argval_t *)a)->key == 0;
}

static PyObject *fires_list(const tracer_t *t)
{
    PyObject *list = PyList_New((Py_ssize_t)t->nfires);
    for (size_t i = 0; list != NULL && i < t->nfires; i++) {
        PyObject *pair = Py_BuildValue("(iI)", (int)t->fires[i].node, (unsigned)t->fires[i].phase);
        if (pair == NULL) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, pair);
    }
    return list;
}

PyObject *results_build(tracer_t *t)
{
    PyObject *v[] = {
        records(t->nodes, t->nnodes, sizeof(node_t), node_record, NULL),
        records(t->images, t->nimages, sizeof(image_t), image_record, NULL),
        counters_list(&t->counters),
        counters_list(&t->violations),
        records(t->argvals, t->cap_argvals, sizeof(argval_t), argvalue_record, argval_empty),
        records(t->phase_names, t->nphase_names, sizeof(phase_name_t), phasename_record, NULL),
        I64(t->filter_errno),
        I64(t->root_status),
        I64(t->interrupted),
        I64(t->exec_errno),
        U64(t->stops),
        I64(t->root),
        U64(t->switches),
        U64(t->switch_ns),
        fires_list(t),
        records(t->accesses, t->cap_accesses, sizeof(access_t), access_record, access_empty),
        U64(t->accesses_dropped),
        I64(t->landlock_errno),
    };
    return record(result_type, v, 18);
}

PyObject *results_event(const event_t *e)
{
    PyObject *args = PyTuple_New(6), *data = PyTuple_New(6);
    for (int i = 0; args != NULL && data != NULL && i < 6; i++) {
        PyObject *a = U64(e->p.args[i]);
        PyObject *d = e->p.has_data[i] ? PyBytes_FromStringAndSize(e->p.data[i], e->p.data_len[i])
                                       : Py_NewRef(Py_None);
        if (a == NULL || d == NULL) {
            Py_XDECREF(a);
            Py_XDECREF(d);
            Py_CLEAR(args);
            break;
        }
        PyTuple_SET_ITEM(args, i, a);
        PyTuple_SET_ITEM(data, i, d);
    }
    PyObject *v[] = {I64(e->tid),
                     I64(e->arch),
                     I64(e->nr),
                     args,
                     e->returned ? I64(e->retval) : Py_NewRef(Py_None),
                     data,
                     U64(e->time_ns)};
    return record(event_type, v, 7);
}

static const char *phase_label(const tracer_t *t, uint16_t phase)
{
    return phase < t->nphase_names ? t->phase_names[phase].name : "?";
}

PyObject *results_violation(const tracer_t *t, const violation_t *v)
{
    const image_t *im = NULL;
    if (v->node >= 0 && (size_t)v->node < t->nnodes && t->nodes[v->node].image >= 0)
        im = &t->images[t->nodes[v->node].image];
    PyObject *args = PyTuple_New(6);
    for (int i = 0; args != NULL && i < 6; i++) {
        PyObject *a = U64(v->args[i]);
        if (a == NULL) {
            Py_CLEAR(args);
            break;
        }
        PyTuple_SET_ITEM(args, i, a);
    }
    PyObject *vals[] = {U64(v->time_ns),
                        I64(v->pid),
                        I64(v->tid),
                        PyBytes_FromString(im != NULL ? im->exe : ""),
                        PyUnicode_FromString(im != NULL ? im->build_id : ""),
                        PyUnicode_DecodeFSDefault(phase_label(t, v->phase)),
                        PyUnicode_DecodeFSDefault(phase_label(t, v->fphase)),
                        I64(v->arch),
                        I64(v->nr),
                        args,
                        PyBool_FromLong(v->killed)};
    return record(violation_type, vals, 11);
}
