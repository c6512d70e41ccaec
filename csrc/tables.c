/* tables.c: the tracer's memory: tid map, tasks, nodes, images, counters.
 *
 * Memory grows with the number of tasks, nodes and distinct
 * (node, phase, arch, syscall) counters, never with the number of stops.
 * The tid map is a calloc'd array indexed by tid (pid_max entries): the
 * kernel only backs the pages that live tids touch.
 */
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static size_t read_pid_max(void)
{
    FILE *f = fopen("/proc/sys/kernel/pid_max", "re");
    long v = 0;
    if (f != NULL) {
        if (fscanf(f, "%ld", &v) != 1)
            v = 0;
        fclose(f);
    }
    if (v <= 0 || v > (1L << 22))
        v = 1L << 22; /* the kernel's PID_MAX_LIMIT on 64-bit */
    return (size_t)v + 1;
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 64;
    while (ncap < need)
        ncap *= 2;
    void *p = realloc(*arr, ncap * elem);
    if (p == NULL)
        return -1;
    *arr = p;
    *cap = ncap;
    return 0;
}

int tables_init(tracer_t *t)
{
    t->tidmap_len = read_pid_max();
    t->tidmap = calloc(t->tidmap_len, sizeof(task_t *));
    if (t->tidmap == NULL)
        return -1;
    return 0;
}

void tables_free(tracer_t *t)
{
    for (size_t i = 0; i < t->ntasks; i++) {
        free(t->tasks[i]->pending);
        free(t->tasks[i]->acc);
        free(t->tasks[i]->saved_regs);
        free(t->tasks[i]);
    }
    for (size_t i = 0; i < t->nimages; i++) {
        free(t->images[i].exe);
        free(t->images[i].argv);
    }
    free(t->tidmap);
    free(t->tasks);
    free(t->free_tasks);
    free(t->nodes);
    free(t->images);
    free(t->counters.slots);
    free(t->violations.slots);
    free(t->argvals);
    free(t->events);
    access_free(t);
}

task_t *task_get(tracer_t *t, pid_t tid)
{
    if (tid <= 0 || (size_t)tid >= t->tidmap_len)
        return NULL;
    return t->tidmap[tid];
}

/* Task structs never move: callers may hold a task_t* across task_new(). */
task_t *task_new(tracer_t *t, pid_t tid)
{
    if (tid <= 0 || (size_t)tid >= t->tidmap_len) {
        core_fail(t, "task table (tid above pid_max)", ERANGE, tid);
        return NULL;
    }
    task_t *task;
    if (t->nfree > 0) {
        task = t->free_tasks[--t->nfree];
    } else {
        if (grow((void **)&t->tasks, &t->cap_tasks, t->ntasks + 1, sizeof(task_t *)) < 0 ||
            grow((void **)&t->free_tasks, &t->cap_free, t->ntasks + 1, sizeof(task_t *)) < 0 ||
            (task = calloc(1, sizeof(task_t))) == NULL) {
            core_fail(t, "malloc", ENOMEM, tid);
            return NULL;
        }
        t->tasks[t->ntasks++] = task;
    }
    pending_t *keep = task->pending; /* a reused struct keeps its buffers */
    void *regs = task->saved_regs, *acc = task->acc;
    memset(task, 0, sizeof(*task));
    task->pending = keep;
    task->acc = acc;
    task->saved_regs = regs;
    task->tid = tid;
    task->tgid = tid;
    task->node = -1;
    t->tidmap[tid] = task;
    t->live_tasks++;
    return task;
}

void task_del(tracer_t *t, task_t *task)
{
    if (t->tidmap[task->tid] == task)
        t->tidmap[task->tid] = NULL;
    if (task->awaiting)
        t->nawaiting--;
    task->awaiting = 0;
    task->tid = 0;
    task->node = -1;
    t->free_tasks[t->nfree++] = task; /* room reserved in task_new */
    t->live_tasks--;
}

void task_move(tracer_t *t, task_t *task, pid_t new_tid)
{
    if (t->tidmap[task->tid] == task)
        t->tidmap[task->tid] = NULL;
    task->tid = new_tid;
    t->tidmap[new_tid] = task;
}

int32_t node_new(tracer_t *t, pid_t tid, pid_t tgid, int32_t parent, int kind, int32_t image)
{
    if (grow((void **)&t->nodes, &t->cap_nodes, t->nnodes + 1, sizeof(node_t)) < 0) {
        core_fail(t, "malloc", ENOMEM, tid);
        return -1;
    }
    node_t *n = &t->nodes[t->nnodes];
    memset(n, 0, sizeof(*n));
    n->tid = tid;
    n->tgid = tgid;
    n->parent = parent;
    n->image = image;
    n->kind = (uint8_t)kind;
    n->end = END_RUNNING;
    n->exit_nr = -1;
    n->start_ns = now_ns();
    return (int32_t)t->nnodes++;
}

static char *read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
        if (n == cap) {
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    close(fd);
    if (buf != NULL)
        *len = n;
    return buf;
}

/* Read the executable path and argv of a stopped process into a new image.
 * A process that vanished meanwhile gets an image with empty strings. */
int32_t image_read(tracer_t *t, pid_t pid)
{
    if (grow((void **)&t->images, &t->cap_images, t->nimages + 1, sizeof(image_t)) < 0) {
        core_fail(t, "malloc", ENOMEM, pid);
        return -1;
    }
    char path[64], exe[4096];
    snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
    ssize_t n = readlink(path, exe, sizeof(exe) - 1);
    if (n < 0)
        n = 0;
    exe[n] = '\0';
    image_t *im = &t->images[t->nimages];
    im->exe = strdup(exe);
    identity_read(pid, im->build_id, sizeof(im->build_id));
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    im->argv_len = 0;
    im->argv = read_file(path, &im->argv_len);
    if (im->argv == NULL)
        im->argv = strdup("");
    if (im->exe == NULL || im->argv == NULL) {
        free(im->exe);
        free(im->argv);
        core_fail(t, "malloc", ENOMEM, pid);
        return -1;
    }
    return (int32_t)t->nimages++;
}

/* key layout: node+1 (32 bits) | phase (12) | arch (4) | nr (16); never 0. */
uint64_t counter_key(int32_t node, uint16_t phase, uint8_t arch, uint32_t nr)
{
    if (nr > 0xffff)
        nr = 0xffff; /* numbers past the table: one "out of range" bucket */
    return ((uint64_t)(uint32_t)(node + 1) << 32) | ((uint64_t)(phase & 0xfff) << 20) |
           ((uint64_t)(arch & 0xf) << 16) | nr;
}

static inline size_t hash_key(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return (size_t)k;
}

static int counters_grow(counter_table_t *tab)
{
    size_t ncap = tab->cap ? tab->cap * 2 : 1024;
    counter_t *nc = calloc(ncap, sizeof(counter_t));
    if (nc == NULL)
        return -1;
    for (size_t i = 0; i < tab->cap; i++) {
        counter_t *c = &tab->slots[i];
        if (c->key == 0)
            continue;
        size_t j = hash_key(c->key) & (ncap - 1);
        while (nc[j].key != 0)
            j = (j + 1) & (ncap - 1);
        nc[j] = *c;
    }
    free(tab->slots);
    tab->slots = nc;
    tab->cap = ncap;
    return 0;
}

counter_t *counter_get(tracer_t *t, counter_table_t *tab, uint64_t key)
{
    if ((tab->n + 1) * 2 > tab->cap && counters_grow(tab) < 0) {
        core_fail(t, "malloc", ENOMEM, 0);
        return NULL;
    }
    size_t mask = tab->cap - 1;
    size_t i = hash_key(key) & mask;
    uint64_t now = now_ns();
    while (tab->slots[i].key != 0) {
        if (tab->slots[i].key == key) {
            tab->slots[i].last_ns = now;
            return &tab->slots[i];
        }
        i = (i + 1) & mask;
    }
    tab->slots[i].key = key;
    tab->slots[i].first_ns = now;
    tab->slots[i].last_ns = now;
    tab->n++;
    return &tab->slots[i];
}

static inline size_t hash_argval(uint64_t key, uint8_t arg, uint64_t value)
{
    return hash_key(key ^ (value * 0x9e3779b97f4a7c15ULL) ^ ((uint64_t)arg << 56));
}

/* Remember that argument ARG of the call counted under KEY had VALUE. */
int argval_add(tracer_t *t, uint64_t key, uint8_t arg, uint64_t value)
{
    if ((t->nargvals + 1) * 2 > t->cap_argvals) {
        size_t ncap = t->cap_argvals ? t->cap_argvals * 2 : 256;
        argval_t *na = calloc(ncap, sizeof(argval_t));
        if (na == NULL) {
            core_fail(t, "malloc", ENOMEM, 0);
            return -1;
        }
        for (size_t i = 0; i < t->cap_argvals; i++) {
            argval_t *a = &t->argvals[i];
            if (a->key == 0)
                continue;
            size_t j = hash_argval(a->key, a->arg, a->value) & (ncap - 1);
            while (na[j].key != 0)
                j = (j + 1) & (ncap - 1);
            na[j] = *a;
        }
        free(t->argvals);
        t->argvals = na;
        t->cap_argvals = ncap;
    }
    size_t mask = t->cap_argvals - 1;
    size_t i = hash_argval(key, arg, value) & mask;
    while (t->argvals[i].key != 0) {
        argval_t *a = &t->argvals[i];
        if (a->key == key && a->arg == arg && a->value == value)
            return 0;
        i = (i + 1) & mask;
    }
    t->argvals[i].key = key;
    t->argvals[i].arg = arg;
    t->argvals[i].value = value;
    t->nargvals++;
    return 0;
}

uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}
