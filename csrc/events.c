/* events.c: live mode. Copies the memory a syscall line needs while the
 * tracee is stopped (paths at entry, read buffers at exit) and batches whole
 * calls for Python. Counting mode never comes here.
 */
#include "core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#define PAGE 4096UL

/* Copy up to len bytes from the tracee, stopping quietly at an unmapped
 * page: returns the number of bytes copied. */
size_t tracee_peek(pid_t tid, uint64_t addr, char *buf, size_t len)
{
    if (addr == 0 || len == 0)
        return 0;
    struct iovec local = {buf, len};
    struct iovec remote[2];
    size_t first = PAGE - (addr & (PAGE - 1));
    int n = 1;
    remote[0].iov_base = (void *)(uintptr_t)addr;
    if (first >= len) {
        remote[0].iov_len = len;
    } else {
        remote[0].iov_len = first;
        remote[1].iov_base = (void *)(uintptr_t)(addr + first);
        remote[1].iov_len = len - first;
        n = 2;
    }
    ssize_t r = process_vm_readv(tid, &local, 1, remote, (unsigned long)n, 0);
    return r > 0 ? (size_t)r : 0;
}

static uint16_t copy_cstring(pid_t tid, uint64_t addr, char *out)
{
    size_t n = tracee_peek(tid, addr, out, STR_COPY_MAX);
    char *nul = memchr(out, '\0', n);
    return (uint16_t)(nul ? (size_t)(nul - out) : n);
}

static uint16_t copy_strv(pid_t tid, uint64_t addr, int compat, char *out)
{
    size_t used = 0;
    for (int i = 0; i < 32 && used < STR_COPY_MAX; i++) {
        uint64_t ptr = 0;
        if (compat) {
            uint32_t p32 = 0;
            if (tracee_peek(tid, addr + 4 * (uint64_t)i, (char *)&p32, 4) != 4)
                break;
            ptr = p32;
        } else if (tracee_peek(tid, addr + 8 * (uint64_t)i, (char *)&ptr, 8) != 8) {
            break;
        }
        if (ptr == 0)
            break;
        if (i > 0) {
            out[used++] = '\0';
            if (used >= STR_COPY_MAX)
                break;
        }
        char tmp[STR_COPY_MAX];
        uint16_t n = copy_cstring(tid, ptr, tmp);
        size_t room = STR_COPY_MAX - used;
        size_t take = n < room ? n : room;
        memcpy(out + used, tmp, take);
        used += take;
    }
    return (uint16_t)used;
}

static uint8_t kind_of(tracer_t *t, uint8_t arch, uint32_t nr, int i)
{
    uint8_t a = arch == ARCH_X32 ? ARCH_X86_64 : arch;
    if (a >= ARCH_COUNT || t->arg_kinds[a] == NULL)
        return 0;
    size_t off = (size_t)nr * 6 + (size_t)i;
    return off < t->arg_kinds_len[a] ? t->arg_kinds[a][off] : 0;
}

void events_capture_entry(tracer_t *t, task_t *task, uint8_t arch, uint32_t nr,
                          const uint64_t *args)
{
    if (task->pending == NULL) {
        task->pending = malloc(sizeof(pending_t));
        if (task->pending == NULL) {
            core_fail(t, "malloc", ENOMEM, task->tid);
            return;
        }
    }
    pending_t *p = task->pending;
    for (int i = 0; i < 6; i++) {
        p->args[i] = args[i];
        p->has_data[i] = 0;
        p->data_len[i] = 0;
        uint8_t k = kind_of(t, arch, nr, i);
        switch (k & 0xf) {
        case ARGK_CSTRING:
            p->data_len[i] = copy_cstring(task->tid, args[i], p->data[i]);
            p->has_data[i] = args[i] != 0;
            break;
        case ARGK_BUF_IN: {
            uint64_t len = args[(k >> 4) % 6];
            p->data_len[i] = (uint16_t)tracee_peek(task->tid, args[i], p->data[i],
                                                   len < BUF_COPY_MAX ? len : BUF_COPY_MAX);
            p->has_data[i] = args[i] != 0;
            break;
        }
        case ARGK_STRV:
            p->data_len[i] = copy_strv(task->tid, args[i], arch == ARCH_I386, p->data[i]);
            p->has_data[i] = args[i] != 0;
            break;
        default:
            break;
        }
    }
}

void events_capture_exit(tracer_t *t, task_t *task, int64_t rval, int returned, uint64_t dur)
{
    if (task->pending == NULL)
        return; /* entry failed to allocate: already an error */
    if (t->events == NULL) {
        t->events = malloc(t->batch_max * sizeof(event_t));
        if (t->events == NULL) {
            core_fail(t, "malloc", ENOMEM, task->tid);
            return;
        }
    }
    if (t->nevents >= t->batch_max)
        return; /* the loop flushes before this can happen */
    event_t *e = &t->events[t->nevents++];
    e->tid = task->tid;
    e->arch = task->entry_arch;
    e->nr = task->entry_nr;
    e->retval = rval;
    e->returned = (uint8_t)returned;
    e->time_ns = dur;
    pending_t *p = task->pending;
    for (int i = 0; i < 6; i++) {
        uint8_t k = kind_of(t, task->entry_arch, task->entry_nr, i) & 0xf;
        if (k == ARGK_BUF_OUT && returned && rval > 0) {
            uint64_t n = (uint64_t)rval < BUF_COPY_MAX ? (uint64_t)rval : BUF_COPY_MAX;
            p->data_len[i] = (uint16_t)tracee_peek(task->tid, p->args[i], p->data[i], n);
            p->has_data[i] = p->args[i] != 0;
        }
    }
    memcpy(e->p.args, p->args, sizeof(p->args));
    memcpy(e->p.data_len, p->data_len, sizeof(p->data_len));
    memcpy(e->p.has_data, p->has_data, sizeof(p->has_data));
    for (int i = 0; i < 6; i++)
        if (p->has_data[i])
            memcpy(e->p.data[i], p->data[i], p->data_len[i]);
}

int events_flush(tracer_t *t)
{
    if (t->nevents == 0 || t->sink == NULL)
        return 0;
    PyObject *batch = PyList_New((Py_ssize_t)t->nevents);
    if (batch == NULL)
        return -1;
    for (size_t i = 0; i < t->nevents; i++) {
        PyObject *ev = results_event(&t->events[i]);
        if (ev == NULL) {
            Py_DECREF(batch);
            return -1;
        }
        PyList_SET_ITEM(batch, (Py_ssize_t)i, ev);
    }
    t->nevents = 0;
    PyObject *r = PyObject_CallOneArg(t->sink, batch);
    Py_DECREF(batch);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}
