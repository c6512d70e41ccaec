/* phases.c: phase boundaries, decided in C at the stop where they happen.
 *
 * A phase belongs to a process (thread group): every thread of it switches
 * together, and the per-process fields of task_t are kept equal across the
 * group by group_sync(). Boundaries:
 *   - exec: a new image starts a phase named after the program;
 *   - sequential triggers: a syscall entry (TRIG_SYSCALL) or the first
 *     execution of an address (TRIG_BREAKPOINT, an int3 at load base +
 *     offset; threads that hit it together are all rewound);
 *   - a chosen signal (swallowed), phases "phase-1", "phase-2", ...;
 *   - SYSPHASE_MARK("name") from sysphase.h: write(MARKER_FD, name, len).
 * New processes and threads start in their parent's phase.
 */
#include "core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <unistd.h>

int phase_intern(tracer_t *t, const char *name, const char *trigger)
{
    for (size_t i = 0; i < t->nphase_names; i++)
        if (strcmp(t->phase_names[i].name, name) == 0)
            return (int)i;
    if (t->nphase_names >= MAX_PHASES) {
        core_fail(t, "phase table (more than 4095 phase names)", E2BIG, 0);
        return 0;
    }
    if (t->nphase_names == t->cap_phase_names) {
        size_t ncap = t->cap_phase_names ? t->cap_phase_names * 2 : 16;
        phase_name_t *p = realloc(t->phase_names, ncap * sizeof(*p));
        if (p == NULL) {
            core_fail(t, "malloc", ENOMEM, 0);
            return 0;
        }
        t->phase_names = p;
        t->cap_phase_names = ncap;
    }
    phase_name_t *p = &t->phase_names[t->nphase_names];
    p->name = strdup(name);
    p->trigger = strdup(trigger);
    if (p->name == NULL || p->trigger == NULL) {
        free(p->name);
        free(p->trigger);
        core_fail(t, "malloc", ENOMEM, 0);
        return 0;
    }
    return (int)t->nphase_names++;
}

void phases_free(tracer_t *t)
{
    for (size_t i = 0; i < t->nphase_names; i++) {
        free(t->phase_names[i].name);
        free(t->phase_names[i].trigger);
    }
    free(t->phase_names);
    for (size_t i = 0; i < t->nnodes; i++) {
        free(t->nodes[i].phases);
        free(t->nodes[i].phase_ns);
    }
    free(t->fires);
}

int node_enter_phase(tracer_t *t, int32_t node, uint16_t phase)
{
    if (node < 0)
        return 0;
    node_t *n = &t->nodes[node];
    for (uint16_t i = 0; i < n->nphases; i++)
        if (n->phases[i] == phase)
            return 0; /* re-entered: counts keep going into the same phase */
    if (n->nphases == n->cap_phases) {
        uint16_t ncap = n->cap_phases ? (uint16_t)(n->cap_phases * 2) : 4;
        uint16_t *p = realloc(n->phases, ncap * sizeof(uint16_t));
        if (p != NULL)
            n->phases = p;
        uint64_t *when = p == NULL ? NULL : realloc(n->phase_ns, ncap * sizeof(uint64_t));
        if (when == NULL) {
            core_fail(t, "malloc", ENOMEM, n->tid);
            return -1;
        }
        n->phase_ns = when;
        n->cap_phases = ncap;
    }
    n->phase_ns[n->nphases] = now_ns();
    n->phases[n->nphases++] = phase;
    return 0;
}

void phases_inherit(task_t *child, const task_t *parent)
{
    child->phase = parent->phase;
    child->trig_pos = parent->trig_pos;
    child->after_seen = parent->after_seen;
    child->sig_count = parent->sig_count;
    child->bp_addr = parent->bp_addr;
    child->bp_orig = parent->bp_orig;
    child->nformer = parent->nformer;
    memcpy(child->bp_former, parent->bp_former, sizeof(child->bp_former));
    child->cur_bpf = parent->cur_bpf; /* a new process inherits the filters */
    child->cur_len = parent->cur_len;
    child->want_bpf = parent->want_bpf;
    child->want_len = parent->want_len;
    child->switch_pending = parent->switch_pending;
    child->degraded = parent->degraded;
    child->target = parent->target;
    child->fphase = parent->fphase; /* a new process: the caller sets what it inherited */
}

/* Copy the per-process fields of task to every thread of its group and
 * record each thread's node entering the phase. */
static void group_sync(tracer_t *t, task_t *task)
{
    known_update(t, task);
    for (size_t i = 0; i < t->ntasks; i++) {
        task_t *o = t->tasks[i];
        if (o->tid == 0 || o->tgid != task->tgid)
            continue;
        if (o != task)
            phases_inherit(o, task);
        node_enter_phase(t, o->node, o->phase);
    }
}

/* The call thread O of a recorded process is in, from the tracer's own state (entry and
 * exit stops) or from /proc (seccomp stops only show entries): 0 and the call, or -1. */
static int call_in_progress(tracer_t *t, task_t *o, uint8_t *arch, uint32_t *nr)
{
    if (t->seccomp_stops == STOPS_SYSCALL) {
        if (!o->in_syscall || o->in_marker)
            return -1;
        *arch = o->entry_arch;
        *nr = o->entry_nr;
        return 0;
    }
    char path[64], buf[64];
    snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", (int)o->tgid, (int)o->tid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    int ok = fgets(buf, sizeof(buf), f) != NULL;
    fclose(f);
    char *end;
    long n = ok ? strtol(buf, &end, 10) : -1;
    if (!ok || end == buf || n < 0)
        return -1; /* "running", or blocked outside a call ("-1 ...") */
    *arch = (n & 0x40000000L) ? ARCH_X32 : ARCH_X86_64;
    *nr = (uint32_t)(n & ~0x40000000L);
    return 0;
}

/* Recording: TASK's process enters a new phase. A call another of its threads is in then
 * (blocked in futex, accept, ioctl...) belongs to the new phase too: under `sysphase run`
 * the switch stops every thread, and the kernel restarts such a call under the new
 * phase's filter. Counted as in_flight in the new phase. */
static void count_in_flight(tracer_t *t, task_t *task)
{
    if (t->nphase_filters > 0)
        return; /* enforcing or complaining: nothing to learn */
    for (size_t i = 0; i < t->ntasks; i++) {
        task_t *o = t->tasks[i];
        uint8_t arch;
        uint32_t nr;
        if (o->tid == 0 || o == task || o->tgid != task->tgid || o->node < 0 ||
            call_in_progress(t, o, &arch, &nr) < 0)
            continue;
        counter_t *c = counter_get(t, &t->counters, counter_key(o->node, task->phase, arch, nr));
        if (c != NULL)
            c->in_flight++;
    }
}

void phase_switch_group(tracer_t *t, task_t *task, uint16_t phase)
{
    task->phase = phase;
    group_sync(t, task);
    count_in_flight(t, task);
}

static const char *node_exe(tracer_t *t, int32_t node)
{
    if (node < 0 || t->nodes[node].image < 0)
        return "";
    return t->images[t->nodes[node].image].exe;
}

static const char *node_id(tracer_t *t, int32_t node)
{
    if (node < 0 || t->nodes[node].image < 0)
        return "";
    return t->images[t->nodes[node].image].build_id;
}

/* The index of the first trigger at or after FROM that applies to the program TASK runs
 * (by path or build-id; ntriggers if none): a process's triggers are sequential. */
static uint16_t first_trigger(tracer_t *t, task_t *task, size_t from)
{
    const char *exe = node_exe(t, task->node), *id = node_id(t, task->node);
    for (size_t i = from; i < t->ntriggers; i++) {
        trigger_t *tr = &t->triggers[i];
        if (tr->program == NULL || identity_matches(exe, id, tr->program, tr->program_id))
            return (uint16_t)i;
    }
    return (uint16_t)t->ntriggers;
}

/* Whether phase id PHASE has a filter to install (enforcing). */
static int has_filter(tracer_t *t, uint16_t phase)
{
    return phase < t->nphase_filters && t->phase_filter_lens[phase] > 0;
}

/* Arm the next trigger if it is a breakpoint in this process's executable. */
static void bp_arm(tracer_t *t, task_t *task)
{
    if (task->trig_pos >= t->ntriggers || task->bp_addr != 0 || task->node < 0)
        return;
    trigger_t *tr = &t->triggers[task->trig_pos];
    node_t *n = &t->nodes[task->node];
    if (tr->kind != TRIG_BREAKPOINT || n->load_base == 0 ||
        !identity_matches(node_exe(t, task->node), node_id(t, task->node), tr->exe, tr->program_id))
        return;
    uint64_t addr = n->load_base + tr->offset;
    errno = 0;
    long word = ptrace(PTRACE_PEEKTEXT, task->tid, (void *)(uintptr_t)addr, 0);
    if (errno != 0) {
        if (errno != ESRCH)
            core_fail(t, "PTRACE_PEEKTEXT (placing a breakpoint)", errno, task->tid);
        return;
    }
    uint64_t patched = arch_breakpoint_word((uint64_t)word);
    if (ptrace(PTRACE_POKETEXT, task->tid, (void *)(uintptr_t)addr, (void *)(uintptr_t)patched) <
        0) {
        if (errno != ESRCH)
            core_fail(t, "PTRACE_POKETEXT (placing a breakpoint)", errno, task->tid);
        return;
    }
    task->bp_addr = addr;
    task->bp_orig = (uint64_t)word;
    group_sync(t, task);
}

/* Remember which thread fired a trigger (record warns of one that is not the main thread). */
static void note_fire(tracer_t *t, task_t *task, uint16_t phase)
{
    if (t->nfires == t->cap_fires) {
        size_t cap = t->cap_fires ? t->cap_fires * 2 : 16;
        fire_t *f = realloc(t->fires, cap * sizeof(fire_t));
        if (f == NULL)
            return; /* only a warning is lost */
        t->fires = f;
        t->cap_fires = cap;
    }
    t->fires[t->nfires++] = (fire_t){task->node, phase};
}

static void advance(tracer_t *t, task_t *task)
{
    task->fired = 1;
    task->phase = t->triggers[task->trig_pos].phase;
    note_fire(t, task, task->phase);
    task->trig_pos = first_trigger(t, task, task->trig_pos + 1u);
    task->after_seen = 0;
    if (has_filter(t, task->phase))
        task->target = task->phase; /* enforcing: owed before any thread's next call */
    group_sync(t, task);
    count_in_flight(t, task);
    bp_arm(t, task);
}

int phases_on_entry(tracer_t *t, task_t *task, const uint64_t *args)
{
    if ((syscall_flags(task->entry_arch, task->entry_nr) & SYSF_MARKER) &&
        (int32_t)args[0] == MARKER_FD) { /* write takes an int fd */
        char name[MARKER_NAME_MAX + 1];
        size_t len = args[2] < MARKER_NAME_MAX ? (size_t)args[2] : MARKER_NAME_MAX;
        struct iovec local = {name, len};
        struct iovec remote = {(void *)(uintptr_t)args[1], len};
        ssize_t r = process_vm_readv(task->tid, &local, 1, &remote, 1, 0);
        if (r <= 0)
            return 1; /* an unreadable name: ignore the marker */
        name[r] = '\0';
        int id = phase_intern(t, name, "marker");
        phase_switch_group(t, task, (uint16_t)id);
        return 1;
    }
    if (task->trig_pos < t->ntriggers) {
        trigger_t *tr = &t->triggers[task->trig_pos];
        if (tr->kind != TRIG_SYSCALL || tr->arch != task->entry_arch)
            return 0;
        if (tr->after_nr >= 0 && !task->after_seen) {
            if ((uint32_t)tr->after_nr == task->entry_nr) {
                task->after_seen = 1; /* the process made the call the trigger must follow */
                group_sync(t, task);
            }
        } else if (tr->nr == task->entry_nr && (!tr->main_only || task->tid == task->tgid)) {
            advance(t, task);
        }
    }
    return 0;
}

/* SIGTRAP at one of our breakpoints: rewind, remove it (first hit), switch. */
static int on_breakpoint(tracer_t *t, task_t *task)
{
    if (task->bp_addr == 0 && task->nformer == 0)
        return 0;
    arch_regs_t regs;
    int err = arch_get_regs(task->tid, &regs);
    if (err != 0) {
        if (err != ESRCH)
            core_fail(t, "PTRACE_GETREGS", err, task->tid);
        return 0;
    }
    uint64_t addr = arch_breakpoint_hit(&regs); /* the instruction pointer, rewound to it */
    int ours = addr == task->bp_addr;
    for (uint8_t i = 0; !ours && i < task->nformer; i++)
        ours = addr == task->bp_former[i];
    if (!ours)
        return 0;
    if ((err = arch_set_regs(task->tid, &regs)) != 0) {
        if (err != ESRCH)
            core_fail(t, "PTRACE_SETREGS", err, task->tid);
        return 1;
    }
    if (addr != task->bp_addr)
        return 1; /* another thread already removed it and switched the phase */
    if (ptrace(PTRACE_POKETEXT, task->tid, (void *)(uintptr_t)addr,
               (void *)(uintptr_t)task->bp_orig) < 0 &&
        errno != ESRCH) {
        core_fail(t, "PTRACE_POKETEXT (removing a breakpoint)", errno, task->tid);
        return 1;
    }
    if (task->nformer < MAX_FORMER_BPS)
        task->bp_former[task->nformer++] = addr;
    task->bp_addr = 0;
    advance(t, task);
    return 1;
}

int phases_on_signal(tracer_t *t, task_t *task, int sig)
{
    if (sig == SIGTRAP && on_breakpoint(t, task))
        return 1;
    if (t->phase_signal == 0 || sig != t->phase_signal)
        return 0;
    task->sig_count++;
    char name[64], trigger[32];
    if (task->sig_count <= t->nsignal_names)
        snprintf(name, sizeof(name), "%s", t->signal_phase_names[task->sig_count - 1]);
    else
        snprintf(name, sizeof(name), "phase-%u", (unsigned)task->sig_count);
    snprintf(trigger, sizeof(trigger), "signal:%d", sig);
    task->phase = (uint16_t)phase_intern(t, name, trigger);
    /* enforcing signal-triggered phases of the program run started: the filter is owed
     * before any thread's next call (switch.c holds the program until then) */
    if (has_filter(t, task->phase) && t->enforce_exe != NULL &&
        identity_matches(node_exe(t, task->node), node_id(t, task->node), t->enforce_exe,
                         t->enforce_id))
        task->target = task->phase;
    group_sync(t, task);
    count_in_flight(t, task);
    return 1;
}

static void read_image_addresses(pid_t pid, const char *exe, node_t *n)
{
    char path[64], line[4608];
    snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "re");
    if (f != NULL) {
        while (fgets(line, sizeof(line), f) != NULL) {
            unsigned long long start, offset;
            char *slash = strchr(line, '/');
            if (slash == NULL || sscanf(line, "%llx-%*x %*s %llx", &start, &offset) != 2)
                continue;
            slash[strcspn(slash, "\n")] = '\0';
            if (strcmp(slash, exe) == 0) {
                n->load_base = start - offset;
                break;
            }
        }
        fclose(f);
    }
    snprintf(path, sizeof(path), "/proc/%d/auxv", (int)pid);
    f = fopen(path, "re");
    if (f != NULL) {
        uint64_t kv[2];
        while (fread(kv, sizeof(kv), 1, f) == 1 && kv[0] != 0)
            if (kv[0] == 9 /* AT_ENTRY */)
                n->entry = kv[1];
        fclose(f);
    }
}

/* After an exec: the new image's addresses, its first phase, a clean slate
 * of triggers (the old memory and its breakpoints are gone). */
void phases_on_exec(tracer_t *t, task_t *task)
{
    if (task->node < 0)
        return;
    node_t *n = &t->nodes[task->node];
    const char *exe = node_exe(t, task->node);
    read_image_addresses(task->tid, exe, n);
    if (n->kind == KIND_EXEC) {
        const char *base = strrchr(exe, '/');
        task->phase = (uint16_t)phase_intern(t, base ? base + 1 : exe, "exec");
    }
    task->trig_pos = first_trigger(t, task, 0);
    task->after_seen = 0;
    task->target = task->fphase; /* filters survive exec; the new program owes no switch */
    task->rerun = 0;
    task->sig_count = 0;
    task->bp_addr = 0;
    task->nformer = 0;
    node_enter_phase(t, task->node, task->phase);
    known_update(t, task); /* the new program's known set: stacked at its first syscall */
    bp_arm(t, task);
}
