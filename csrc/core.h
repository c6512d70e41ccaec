/* core.h: the one shared header of sysphase._core.
 *
 * The C core traces a process tree with ptrace and keeps, without calling
 * Python per stop, per-(node, phase, syscall) counters, the process tree and
 * (in live mode) batches of syscall events. Files:
 *   module.c  Python method table, the trace() entry point, the constants
 *   options.c the options object of trace(), read into the tracer
 *   results.c the records trace() returns (struct sequences)
 *   loop.c    the ptrace stop loop: tasks, events, signals, deaths
 *   syscalls.c the stops a system call makes, and what is counted there
 *   spawn.c   spawning a seized program, attaching to a running one
 *   signals.c SIGINT, SIGTERM and SIGHUP while the loop runs (more for a service)
 *   service.c a traced service: its signals, its exit held until the results are written
 *   tables.c  task map (tid -> state), node and image arrays, counter hash
 *   events.c  live-mode event capture (tracee memory copies) and batches
 *   phases.c  phase boundaries (exec, triggers, the phase signal, markers)
 *   inject.c  seccomp filters stacked into a stopped thread (the register swap)
 *   switch.c  enforcing phase switches: hold every tracee, inject, verify, release
 *   verify.c  what the kernel says during a switch: untraced tasks, filter counts and bytes
 *   identity.c a program's identity: the GNU build-id of its executable
 *   known.c   recording filters: stops at seccomp TRACE, known sets per phase
 *   attach.c  `run -p`: a running process switched to one phase's filter
 *   violations.c each seccomp kill and complain-mode violation, handed to Python live
 *   errors.c  error records that become OSError naming the failing call
 */
#ifndef SYSPHASE_CORE_H
#define SYSPHASE_CORE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <signal.h>
#include <stdint.h>
#include <sys/ptrace.h>
#include <sys/types.h>

#include "arch.h"     /* the registers of a stopped thread, per architecture */
#include "sysphase.h" /* SYSPHASE_MARKER_FD: the public marker header, one definition */

/* Tracing modes, decided in Python (sysphase._host.tracer.Mode), exported as MODE_*. */
enum {
    MODE_FULL = 0,     /* syscall-entry and -exit stops: exact counts, errors, times */
    MODE_SETS = 1,     /* a recording filter's TRACE stops at entry: calls, no results */
    MODE_KNOWN = 2,    /* as SETS, with known sets per (program, phase) let through */
    MODE_FILTERED = 3, /* trace -e: TRACE stops of the selected calls, then their exits */
    MODE_ENFORCE = 4,  /* run: the policy's filters, phase switches */
    MODE_COMPLAIN = 5  /* run --complain: filters that TRACE what they would deny */
};

/* How a node came to be (sysphase.model.tree.NodeKind mirrors these). */
enum { KIND_SPAWN = 0, KIND_ATTACH, KIND_FORK, KIND_VFORK, KIND_CLONE, KIND_THREAD, KIND_EXEC };

/* How a node ended. */
enum { END_RUNNING = 0, END_EXITED, END_SIGNALED, END_EXEC, END_DETACHED, END_VANISHED };

/* Argument kinds for live-mode memory copies (sysphase.model.events ARG_*). */
enum { ARGK_PLAIN = 0, ARGK_CSTRING = 1, ARGK_BUF_IN = 2, ARGK_BUF_OUT = 3, ARGK_STRV = 4 };
#define STR_COPY_MAX 256
#define BUF_COPY_MAX 32

/* Phases (phases.c). Phase ids index t->phase_names; id 0 is "start".
 * Triggers are sequential: trigger i moves a process from its i-th to its
 * (i+1)-th trigger phase, whose id is i + 1. */
#define MAX_PHASES 4095
enum { TRIG_SYSCALL = 0, TRIG_BREAKPOINT = 1 };
#define MARKER_FD SYSPHASE_MARKER_FD /* write(MARKER_FD, name, len): SYSPHASE_MARK */
#define MARKER_NAME_MAX 63           /* longer marker names are cut */
#define MAX_FORMER_BPS 8
/* Known sets: the first calls of a new thread are recorded at their entry stops, known or
 * not, so the thread's own start-up calls are in its profile node (see known.c). */
#define WATCH_CALLS 32

typedef struct {
    int kind;
    uint8_t arch;      /* TRIG_SYSCALL */
    uint32_t nr;       /* TRIG_SYSCALL */
    char *exe;         /* TRIG_BREAKPOINT: realpath of the executable */
    uint64_t offset;   /* TRIG_BREAKPOINT: from the load base */
    uint16_t phase;    /* the phase id it starts */
    char *program;     /* the executable whose processes it applies to, NULL: every program */
    char *program_id;  /* or its build-id (a copy, a hard link), NULL: by path only */
    uint8_t main_only; /* TRIG_SYSCALL: only the main thread's call counts (@main) */
    int32_t after_nr;  /* TRIG_SYSCALL: counts once the process made this call (arch's), -1 */
} trigger_t;

/* A trigger that fired: the node of the thread whose call or breakpoint it was, the phase. */
typedef struct {
    int32_t node;
    uint16_t phase;
} fire_t;

typedef struct {
    char *name;
    char *trigger;
} phase_name_t;

/* Where syscalls are seen (tracer_t.seccomp_stops). */
enum {
    STOPS_SYSCALL = 0,     /* syscall-entry and -exit stops (PTRACE_SYSCALL) */
    STOPS_SECCOMP = 1,     /* only the filter's TRACE stops, counted there (calls, no result) */
    STOPS_SECCOMP_EXIT = 2 /* the filter's TRACE stops, then that call's exit stop */
};

/* Recording with known sets: the filter for one (program, phase). */
typedef struct {
    char *exe;   /* realpath of the executable */
    char *phase; /* phase name */
    uint8_t *bpf;
    size_t len;
} known_t;

/* A node is one program image of one task: a process or thread from its
 * creation (or an exec) to its end (or the next exec). */
typedef struct {
    pid_t tid;
    pid_t tgid;
    int32_t parent; /* node index, -1 for a root */
    int32_t image;  /* index into images, -1 before the first exec is seen */
    uint8_t kind;
    uint8_t end;
    int32_t end_value; /* exit code or signal number */
    uint64_t start_ns, end_ns;
    uint64_t load_base, entry; /* of the executable image, 0 if unknown */
    int32_t exit_nr;           /* with exit_arch: */
    uint8_t exit_arch;         /* enforcing: the syscall it made when it died, -1 if unknown */
    uint16_t *phases;          /* phase ids in the order this node entered them */
    uint64_t *phase_ns;        /* ... and the monotonic time it entered each */
    uint16_t nphases, cap_phases;
} node_t;

#define BUILD_ID_HEX_MAX 129 /* a GNU build-id note holds at most 64 bytes here */

typedef struct {
    char *exe;  /* NUL-terminated, from /proc/PID/exe */
    char *argv; /* /proc/PID/cmdline bytes (NUL separated) */
    size_t argv_len;
    char build_id[BUILD_ID_HEX_MAX]; /* lower-case hex, "" if none */
} image_t;

/* Live-mode copy of one syscall in flight. */
typedef struct {
    uint64_t args[6];
    uint16_t data_len[6];
    uint8_t has_data[6];
    char data[6][STR_COPY_MAX];
} pending_t;

/* Per-thread tracing state, found through the tid map. */
typedef struct task_s {
    pid_t tid;
    pid_t tgid;
    int32_t node;
    uint16_t phase;
    uint8_t in_syscall; /* entry stop seen, exit stop not yet */
    uint8_t awaiting;   /* first stop seen before the parent's event: not resumed yet */
    uint8_t entry_arch;
    uint32_t entry_nr;
    uint64_t entry_key;
    uint64_t entry_ns;
    uint8_t in_marker; /* this call is a SYSPHASE_MARK: not counted */
    /* per process (kept equal in every thread of the group, see phases.c) */
    uint16_t trig_pos;                  /* sequential triggers passed */
    uint8_t after_seen;                 /* the next trigger's after= call was made */
    uint16_t sig_count;                 /* phase-signal deliveries */
    uint64_t bp_addr, bp_orig;          /* the armed breakpoint, bp_addr 0 if none */
    uint64_t bp_former[MAX_FORMER_BPS]; /* removed ones other threads may still hit */
    uint8_t nformer;
    /* enforcing (per process, like the phase fields): the phase whose filter the process must
     * run under (0: the one it started with) and the one it does run under */
    uint16_t target;
    uint16_t fphase;
    /* known sets (per process, like the phase fields): the last filter stacked, the one
     * the current (program, phase) wants, whether it still has to be stacked */
    const uint8_t *cur_bpf, *want_bpf;
    size_t cur_len, want_len;
    uint8_t switch_pending;
    uint8_t degraded;   /* a filter could not be stacked: every entry stops and is counted */
    uint8_t watch;      /* known sets: calls of a new thread still recorded at their entry */
    uint8_t entry_seen; /* this call was recorded at its entry stop: its seccomp stop is not */
    uint8_t injecting;  /* INJECT_*: the next stop is the exit of the injected call */
    void *saved_regs;   /* registers of the call the injection replaced */
    uint64_t inject_ns; /* when the injection began */
    uint8_t fired;      /* a trigger fired at this entry */
    uint8_t rerun;      /* the next entry of (rerun_nr, rerun_ip) re-runs the replaced call */
    uint32_t rerun_nr;
    uint64_t rerun_ip;
    /* per thread, for switches (switch.c) */
    uint16_t run_fphase; /* fphase when last resumed: what a process it creates inherits */
    uint8_t holding;     /* interrupted for a switch, its stop not seen yet */
    uint8_t held;        /* stopped and kept stopped until the switch ends */
    uint8_t held_how;    /* HOLD_*: how to let it go */
    uint8_t held_entry;  /* held at a syscall-entry stop (its call not yet checked) */
    int held_sig;        /* the signal to pass on when it is let go */
    uint8_t in_vfork;    /* waiting in the kernel for its vfork child: runs no code */
    uint8_t exited;      /* past its exit event: runs no code (a leader stays a zombie) */
    uint16_t ll_owed;    /* Landlock: the phase whose ruleset this thread must restrict itself
                          * with before its next call runs, 0 if none (landlock.c) */
    pending_t *pending;  /* live mode only */
    void *acc;           /* path capture only: the call's paths (access.c) */
} task_t;

typedef struct {
    uint64_t key; /* 0 = empty slot */
    uint64_t calls, errors, time_ns, unfinished;
    uint64_t in_flight; /* calls a thread was in when its process entered this phase */
    uint64_t first_ns;  /* monotonic time of the first stop that counted it */
    uint64_t last_ns;   /* ... and of the latest */
} counter_t;

/* An open-addressing hash of counters; cap is a power of two. */
typedef struct {
    counter_t *slots;
    size_t n, cap;
} counter_table_t;

/* One distinct value of a watched argument (for policy argument conditions). */
typedef struct {
    uint64_t key; /* counter key, 0 = empty slot */
    uint64_t value;
    uint8_t arg;
} argval_t;

/* One live-mode event, as batched for Python. */
typedef struct {
    pid_t tid;
    uint8_t arch;
    uint8_t returned;
    uint32_t nr;
    int64_t retval;
    uint64_t time_ns;
    pending_t p;
} event_t;

/* One distinct path or port a call touched (access.c, record --paths). */
typedef struct {
    uint64_t hash; /* 0 = empty slot */
    int32_t node;
    uint16_t phase;
    uint16_t nr;
    uint64_t flags;
    uint8_t which;  /* 0: the call's first path, 1: its second */
    uint8_t ftype;  /* st_mode >> 12, 0 unknown */
    int8_t existed; /* at the call's entry: 1, 0, or -1 not checked */
    int16_t err;    /* errno, 0 for success */
    char *path;
} access_t;

/* One seccomp kill or complain-mode violation (violations.c). */
typedef struct {
    uint64_t time_ns; /* monotonic */
    pid_t pid, tid;
    int32_t node;
    uint16_t phase;  /* the process's phase */
    uint16_t fphase; /* the phase whose filter it ran under */
    uint8_t arch;
    uint8_t killed; /* 1: the filter killed it; 0: complain mode let it run */
    uint32_t nr;
    uint64_t args[6];
} violation_t;
#define VIOLATIONS_MAX 64

typedef struct {
    const char *call; /* the failing call, e.g. "PTRACE_SEIZE" */
    int err;          /* errno */
    pid_t pid;        /* the pid it was about, 0 if none */
    char detail[256]; /* a sentence that replaces strerror, "" if none */
} core_error_t;

/* How a held task is let go. */
enum { HOLD_RESUME = 0, HOLD_LISTEN = 1 };

/* The enforcing phase switch in progress (switch.c); actor NULL when none. */
typedef struct {
    struct task_s *actor; /* the thread that installs the filter */
    uint16_t phase;       /* whose filter */
    uint8_t ready;        /* the actor is at a syscall-entry stop */
    uint8_t injected;     /* its seccomp() runs */
    size_t waiting;       /* interrupted tracees whose stop has not come */
    long pre_count;       /* the actor's filter count before */
    uint64_t start_ns, deadline_ns;
} switch_t;

typedef struct {
    /* configuration */
    int attach;             /* attach mode: detach on stop, no EXITKILL */
    uint16_t attach_target; /* attach enforcing: the phase every attached process switches to */
    int adopt; /* adopt mode: the root execs in place, traced by this detached process */
    uint64_t kill_after_ns; /* adopt: after the program's SIGINT or SIGTERM, kill the tree */
    int live;               /* capture events for Python */
    const uint8_t *arg_kinds[ARCH_COUNT];
    size_t arg_kinds_len[ARCH_COUNT];
    PyObject *sink; /* live callback, borrowed */
    size_t batch_max;
    trigger_t *triggers;
    size_t ntriggers;
    int phase_signal;          /* 0: none */
    char **signal_phase_names; /* optional names for phase-signal phases */
    size_t nsignal_names;
    phase_name_t *phase_names;
    size_t nphase_names, cap_phase_names;
    fire_t *fires; /* every trigger that fired, in order */
    size_t nfires, cap_fires;
    const uint8_t *arg_watch[ARCH_COUNT]; /* per nr: bitmask of arguments whose values to keep */
    size_t arg_watch_len[ARCH_COUNT];
    argval_t *argvals;
    size_t nargvals, cap_argvals; /* cap is a power of two */
    int ll_first;                 /* Landlock: the first phase's ruleset (our fd), -1 if none */
    int *ll_tracer_fd;            /* by phase id: our descriptor of its ruleset, -1 if none */
    int *ll_tracee_fd;            /* by phase id: the program's descriptor of the same ruleset */
    size_t nll;
    int capture_access; /* record --paths: note the paths and ports calls touch */
    access_t *accesses; /* distinct ones, open addressing, cap a power of two */
    size_t naccesses, cap_accesses;
    uint64_t accesses_dropped; /* distinct accesses past ACCESS_MAX */

    /* state */
    task_t **tidmap; /* tid -> task, NULL = none */
    size_t tidmap_len;
    task_t **tasks; /* every task struct ever allocated (stable pointers) */
    size_t ntasks, cap_tasks, live_tasks, nawaiting;
    task_t **free_tasks;
    size_t nfree, cap_free;
    node_t *nodes;
    size_t nnodes, cap_nodes;
    image_t *images;
    size_t nimages, cap_images;
    uint8_t *filter; /* the first filter: the spawned child installs it before exec */
    size_t filter_len;
    int no_syscall_stops;    /* resume with PTRACE_CONT: events only */
    uint8_t **phase_filters; /* enforcing: BPF of trigger phases 1..n */
    switch_t sw;             /* enforcing: the switch in progress */
    int get_filter_ok;       /* PTRACE_SECCOMP_GET_FILTER: 1 works, -1 not here, 0 unknown */
    size_t *phase_filter_lens;
    size_t nphase_filters;
    char *enforce_exe;            /* enforcing: the program whose phase signal switches filters */
    char *enforce_id;             /* or its build-id */
    uint64_t switches, switch_ns; /* enforcing: phase switches made, time they took */
    int complain;                 /* count PTRACE_EVENT_SECCOMP stops as violations */
    int seccomp_stops;            /* STOPS_*: where syscalls are seen */
    int no_new_privs;             /* set no_new_privs before the filter (else only if needed) */
    known_t *known;               /* known sets: filters per (program, phase) */
    size_t nknown;
    uint8_t *unknown_bpf; /* known sets: the filter of a (program, phase) not listed */
    size_t unknown_len;
    int filter_errno;           /* the child could not install the filter */
    int landlock_errno;         /* ... or restrict itself with the first Landlock ruleset */
    counter_table_t counters;   /* calls per (node, phase, arch, nr) */
    counter_table_t violations; /* complain mode: calls outside the filter, same keys */
    event_t *events;
    size_t nevents;
    PyObject *violation_sink; /* run: receives Violation records as they happen, borrowed */
    violation_t violation_queue[VIOLATIONS_MAX];
    size_t nviolations;
    PyObject *snapshot_sink;    /* run --report-every: receives the TraceResult so far, borrowed */
    uint64_t snapshot_every_ns; /* how often */
    uint64_t snapshot_at_ns;    /* the next one */

    pid_t root;               /* the spawned, attached or adopted process */
    int adopt_preexec;        /* adopt: the root has not exec'd yet (no syscall stops) */
    int root_held;            /* adopt: the root is held at its exit (service_hold_exit) */
    uint64_t kill_at_ns;      /* adopt: when the tree is killed, 0: not armed */
    uint64_t root_sig_ns[65]; /* adopt: when the program last got each signal */
    pid_t root_sig_from[65];  /* and from which pid */
    int root_status;          /* raw wait status of the root, -1 unknown */
    int exec_errno;           /* errno of a failed spawn exec, 0 if none */
    int draining;             /* killing (spawn) or detaching (attach) everything */
    int interrupted;          /* the signal that interrupted the tracer, 0 if none */
    uint64_t stops;           /* ptrace stops handled */
    core_error_t error;
    PyThreadState *tstate; /* saved while the GIL is released */
    int py_error;          /* a Python exception is set (sink or signal) */
} tracer_t;

/* options.c */
int options_load(tracer_t *t, PyObject *opts, PyObject **keep);
int attr_long(PyObject *opts, const char *name, long *out); /* OPTS.NAME as a C long */
void options_free(tracer_t *t);

/* results.c */
int results_init(PyObject *module);
PyObject *results_build(tracer_t *t);
PyObject *results_event(const event_t *e);
PyObject *results_violation(const tracer_t *t, const violation_t *v);

/* violations.c */
void violation_add(tracer_t *t, task_t *task, uint8_t arch, uint32_t nr, const uint64_t *args,
                   int killed);
void violations_flush(tracer_t *t);             /* without the GIL, from the loop's thread */
void kill_on_sigsys(tracer_t *t, task_t *task); /* a seccomp kill's SIGSYS (before 5.16) */
void kill_on_exit(tracer_t *t, task_t *task);   /* a thread's exit: a seccomp kill's culprit? */
uint64_t snapshot_wake_ns(tracer_t *t);         /* when the next report is due, 0: none */
void snapshot_take(tracer_t *t);                /* the trace so far to the snapshot sink, if due */

/* tables.c */
int tables_init(tracer_t *t);
void tables_free(tracer_t *t);
task_t *task_get(tracer_t *t, pid_t tid);
task_t *task_new(tracer_t *t, pid_t tid);
void task_del(tracer_t *t, task_t *task);
void task_move(tracer_t *t, task_t *task, pid_t new_tid);
int32_t node_new(tracer_t *t, pid_t tid, pid_t tgid, int32_t parent, int kind, int32_t image);
int32_t image_read(tracer_t *t, pid_t pid);
counter_t *counter_get(tracer_t *t, counter_table_t *tab, uint64_t key);
int argval_add(tracer_t *t, uint64_t key, uint8_t arg, uint64_t value);
uint64_t counter_key(int32_t node, uint16_t phase, uint8_t arch, uint32_t nr);
uint64_t now_ns(void);

/* phases.c */
int phase_intern(tracer_t *t, const char *name, const char *trigger);
int node_enter_phase(tracer_t *t, int32_t node, uint16_t phase);
void phase_switch_group(tracer_t *t, task_t *task, uint16_t phase);
int phases_on_entry(tracer_t *t, task_t *task, const uint64_t *args);
int phases_on_signal(tracer_t *t, task_t *task, int sig);
void phases_on_exec(tracer_t *t, task_t *task);
void phases_inherit(task_t *child, const task_t *parent);
void phases_free(tracer_t *t);

/* inject.c; task_t.injecting says which call the next exit stop ends */
enum { INJECT_NONE = 0, INJECT_SECCOMP = 1, INJECT_LANDLOCK = 2 };
int inject_begin(tracer_t *t, task_t *task, const uint8_t *bpf, size_t len, const char **what);
int inject_call(tracer_t *t, task_t *task, uint64_t nr, uint64_t a0, uint64_t a1,
                const char **what);
int inject_end(tracer_t *t, task_t *task, int64_t *rval);
int inject_is_rerun(task_t *task, uint32_t nr, uint64_t ip);

/* switch.c */
int switch_owed(const tracer_t *t, const task_t *task);
int switch_request(tracer_t *t, task_t *task);
int switch_holds(tracer_t *t, task_t *task, int sig, int how, int at_entry);
void switch_begin_at_stop(tracer_t *t, task_t *task);
void switch_finish(tracer_t *t, task_t *task);
void switch_forget(tracer_t *t, task_t *task);
void switch_abandon(tracer_t *t);
void switch_check_deadline(tracer_t *t);
void switch_fail(tracer_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int switch_running(const tracer_t *t);
void let_go(tracer_t *t, task_t *task, int sig, int how);

/* verify.c */
long filter_count(pid_t tgid, pid_t tid); /* Seccomp_filters of a thread, -1 (errno) if unknown */
int untraced_scan(tracer_t *t, char *why, size_t size);
int switch_verify(tracer_t *t, task_t *actor, long pre_count, char *why, size_t size);

/* identity.c */
void identity_read(pid_t pid, char *hex, size_t size);
int identity_matches(const char *exe, const char *id, const char *want_exe, const char *want_id);

/* known.c */
void known_update(tracer_t *t, task_t *task);
int known_inject(tracer_t *t, task_t *task);
void known_finish(tracer_t *t, task_t *task);
void known_free(tracer_t *t);

/* landlock.c */
int landlock_child(const tracer_t *t); /* before exec: the first ruleset, later ones' fds */
int landlock_owed(const task_t *task);
void landlock_mark(tracer_t *t, task_t *task, uint16_t phase);
int landlock_inject(tracer_t *t, task_t *task);
void landlock_finish(tracer_t *t, task_t *task);
void landlock_free(tracer_t *t);

/* access.c */
void access_entry(tracer_t *t, task_t *task, uint8_t arch, uint32_t nr, const uint64_t *args);
void access_exit(tracer_t *t, task_t *task, int64_t rval, int is_error);
void access_free(tracer_t *t);

/* events.c */
size_t tracee_peek(pid_t tid, uint64_t addr, char *buf, size_t len);
void events_capture_entry(tracer_t *t, task_t *task, uint8_t arch, uint32_t nr,
                          const uint64_t *args);
void events_capture_exit(tracer_t *t, task_t *task, int64_t rval, int returned, uint64_t dur);
int events_flush(tracer_t *t); /* with the GIL held; -1 on a Python error */

/* The ptrace options of every tracee (spawn.c, loop.c). */
#define TRACE_OPTIONS                                                                              \
    (PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE |      \
     PTRACE_O_TRACEEXEC | PTRACE_O_TRACEEXIT | PTRACE_O_TRACEVFORKDONE)

/* signals.c: the dispositions and the signal mask before the loop's handlers were installed
 * (the three stop signals SIGINT, SIGTERM, SIGHUP; in service mode SAVED_SIGNALS of them) */
#define SAVED_SIGNALS 7
typedef struct {
    struct sigaction act[SAVED_SIGNALS];
    int count;
    sigset_t mask;
} saved_signals_t;

int loop_install_handlers(saved_signals_t *old, int service);
void loop_restore_handlers(const saved_signals_t *old);
int loop_stop_signal(void);          /* the stop signal received, 0 if none */
void loop_kill_on_signal(pid_t pid); /* the tracee the handler kills to wake waitpid */
/* service mode: a signal the tracer got (when, from whom), until cleared */
int loop_peek_signal(int sig, uint64_t *when, pid_t *from);
void loop_clear_signal(int sig);

/* service.c: adopt mode (the program kept the pid; this tracer is detached) */
void service_root_signal(tracer_t *t, task_t *task, int sig); /* the program gets SIG */
void service_first_exec(tracer_t *t, task_t *task);           /* the root's exec in place */
pid_t wait_until(int *status, uint64_t wake);                 /* waitpid while a deadline is due */
void service_poll(tracer_t *t);
uint64_t service_wake_ns(tracer_t *t);
void service_root_ended(tracer_t *t); /* the root exited (held or gone): arm kill_after */
int service_hold_exit(tracer_t *t, task_t *task);
int service_release(pid_t pid);

/* spawn.c */
int loop_spawn(tracer_t *t, const char *path, char *const argv[], char *const envp[]);
int loop_attach(tracer_t *t, pid_t pid);
int loop_adopt(tracer_t *t, pid_t pid, int ready_fd);

/* attach.c: `run -p`: the phase each attached process owes, and when it is done */
void attach_set_targets(tracer_t *t);
int attach_done(const tracer_t *t);
void default_signals(void); /* as a shell leaves them for a program */
int exec_in_place(const tracer_t *t, const char *path, char *const argv[], char *const envp[],
                  int *stage); /* returns only on failure: the errno, *stage 1 filter, 2 exec */

/* loop.c */
int loop_run(tracer_t *t);
void loop_resume(tracer_t *t, task_t *task, int sig); /* unless a switch holds it */
void count_unfinished(tracer_t *t, task_t *task);

/* syscalls.c */
uint8_t arch_code(uint32_t audit_arch, uint64_t *nr); /* ARCH_* of an AUDIT_ARCH value */
void on_syscall_stop(tracer_t *t, task_t *task);
void on_seccomp(tracer_t *t, task_t *task);

/* syscall_table.c (generated by tools/gen_syscall_tables.py from tools/syscallent.in) */
enum { SYSF_NEVER_RETURNS = 1, SYSF_CLONE = 2, SYSF_CLONE3 = 4, SYSF_MARKER = 8 };
uint8_t syscall_flags(uint8_t arch, uint32_t nr); /* SYSF_* of call NR of ARCH_* ARCH */

/* errors.c */
extern PyObject *core_error_type; /* sysphase._core.CoreError, an OSError subclass */
void core_fail(tracer_t *t, const char *call, int err, pid_t pid);
PyObject *core_raise(const core_error_t *e);

#endif
