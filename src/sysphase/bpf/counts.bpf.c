/* sysphase's eBPF backend: per-task, per-syscall counts kept in the kernel.
 *
 * Compiled by sysphase._host.ebpf with `clang -O2 -g -target bpf -mcpu=v3`
 * and loaded through libbpf. No kernel headers: the few kernel structures
 * read here are declared below with preserve_access_index, so libbpf
 * relocates every field offset against the running kernel's BTF
 * (/sys/kernel/btf/vmlinux) at load time (CO-RE).
 *
 * The traced tree is the set of tids in `tasks`. Userspace puts the spawned
 * child there (armed: nothing counted until its first exec); sched_process_fork
 * adds children and threads of tracked tasks; sched_process_exec starts a new
 * node for the new program; sched_process_exit ends the node and forgets the
 * tid. Every syscall of the machine runs on_sys_exit, which returns after one
 * hash lookup unless the tid is tracked.
 *
 * Calls are counted at sys_exit, as strace -c counts them at the exit stop:
 * errors are results in -4095..-1. A call that never returns (exit,
 * exit_group, a seccomp kill) is counted as unfinished when its task exits;
 * a call that returns with a SIGKILL pending (its task is being killed) as
 * unfinished as well, as a ptrace tracer never gets its exit stop for it.
 * Node and kind codes are those of sysphase.model.tree (NodeKind, NodeEnd);
 * arch codes those of the C core (0 x86_64, 1 i386, 2 x32).
 */

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef int __s32;
typedef unsigned long long __u64;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef int pid_t;
typedef _Bool bool;

enum {
    BPF_MAP_TYPE_HASH = 1,
    BPF_MAP_TYPE_ARRAY = 2,
    BPF_MAP_TYPE_PERCPU_ARRAY = 6,
};
enum { BPF_ANY = 0, BPF_NOEXIST = 1 };
#define BPF_F_NO_PREALLOC 1U

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

/* --- the kernel structures read (CO-RE: offsets come from the kernel's BTF) --- */

struct pt_regs {
    unsigned long ax;
    unsigned long orig_ax;
} __attribute__((preserve_access_index));

struct thread_info {
    __u32 status;
} __attribute__((preserve_access_index));

typedef struct {
    unsigned long sig[1];
} sigset_t;

struct sigpending {
    sigset_t signal;
} __attribute__((preserve_access_index));

struct mm_struct {
    unsigned long arg_start;
    unsigned long arg_end;
} __attribute__((preserve_access_index));

struct task_struct;

struct signal_struct {
    struct task_struct *group_exec_task;
    int group_exit_code;
} __attribute__((preserve_access_index));

struct task_struct {
    struct thread_info thread_info;
    pid_t pid;
    pid_t tgid;
    int exit_code;
    int exit_signal;
    struct mm_struct *mm;
    struct signal_struct *signal;
    struct sigpending pending;
} __attribute__((preserve_access_index));

struct linux_binprm {
    const char *interp;
} __attribute__((preserve_access_index));

#define TS_COMPAT 0x0002 /* arch/x86/include/asm/thread_info.h: an i386 call */
#define X32_SYSCALL_BIT 0x40000000UL
#define SIGKILL_BIT (1UL << (9 - 1))
#define SIGCHLD 17
#define ENOSYS 38
#define MAX_ERRNO 4095

enum { ARCH_X86_64 = 0, ARCH_I386 = 1, ARCH_X32 = 2 };
enum {
    KIND_SPAWN = 0,
    KIND_FORK = 2,
    KIND_VFORK = 3,
    KIND_CLONE = 4,
    KIND_THREAD = 5,
    KIND_EXEC = 6
};
enum { END_RUNNING = 0, END_EXITED = 1, END_SIGNALED = 2, END_EXEC = 3, END_VANISHED = 5 };
enum { STAT_NEXT_NODE = 0, STAT_LOST_NODES = 1, STAT_LOST_COUNTS = 2, STAT_LOST_TASKS = 3 };

#define MAX_TASKS 65536
#define MAX_NODES 65536
#define MAX_COUNTS 262144
#define IMAGE_LEN 256

struct task_info {
    __u32 node;      /* the node this task's calls are charged to */
    __u32 exec_from; /* after an exec: 1 + the node whose execve the next sys_exit ends */
    __u32 armed;     /* the spawned child before its first exec: not counted yet */
    __u32 pad;
};

struct node_info {
    __u32 tid;
    __u32 tgid;
    __s32 parent; /* node index, -1 for the root */
    __u32 kind;
    __u32 end;
    __s32 end_value;
    __u64 start_ns;
    __u64 end_ns;
};

struct count_key {
    __u32 node;
    __u32 arch;
    __u32 nr;
};

struct count_val {
    __u64 calls;
    __u64 errors;
    __u64 unfinished;
};

struct image {
    char exe[IMAGE_LEN];  /* the interpreter path (bprm->interp): the program, or a script's #! */
    char argv[IMAGE_LEN]; /* the first bytes of argv, NUL-separated */
    __u32 argv_len;
    __u32 pad;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, MAX_TASKS);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, __u32);
    __type(value, struct task_info);
} tasks SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, MAX_NODES);
    __type(key, __u32);
    __type(value, struct node_info);
} nodes SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, MAX_COUNTS);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct count_key);
    __type(value, struct count_val);
} counts SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, MAX_NODES);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, __u32);
    __type(value, struct image);
} images SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct image);
} scratch SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u64);
} stats SEC(".maps");

char LICENSE[] SEC("license") = "GPL";

static __always_inline void stat_add(__u32 which)
{
    __u64 *v = bpf_map_lookup_elem(&stats, &which);
    if (v)
        __sync_fetch_and_add(v, 1);
}

/* A new node, or -1 when the table is full (the task is then charged to its parent's). */
static __always_inline __s32 node_new(__u32 tid, __u32 tgid, __s32 parent, __u32 kind)
{
    __u32 which = STAT_NEXT_NODE;
    __u64 *next = bpf_map_lookup_elem(&stats, &which);
    if (!next)
        return -1;
    __u32 id = (__u32)__sync_fetch_and_add(next, 1);
    struct node_info *n = bpf_map_lookup_elem(&nodes, &id);
    if (!n) {
        stat_add(STAT_LOST_NODES);
        return -1;
    }
    n->tid = tid;
    n->tgid = tgid;
    n->parent = parent;
    n->kind = kind;
    n->end = END_RUNNING;
    n->end_value = 0;
    n->start_ns = bpf_ktime_get_ns();
    n->end_ns = 0;
    return (__s32)id;
}

/* The ABI of the current call and its number without the x32 bit. */
static __always_inline __u32 call_arch(struct task_struct *task, __u64 *nr)
{
    if (task->thread_info.status & TS_COMPAT)
        return ARCH_I386;
    if (*nr & X32_SYSCALL_BIT) {
        *nr &= ~X32_SYSCALL_BIT;
        return ARCH_X32;
    }
    return ARCH_X86_64;
}

static __always_inline void count(__u32 node, __u32 arch, __u64 nr, int error, int unfinished)
{
    /* numbers past the tables share one "out of range" bucket, as in the C core */
    struct count_key key = {.node = node, .arch = arch, .nr = nr > 0xffff ? 0xffff : (__u32)nr};
    struct count_val *v = bpf_map_lookup_elem(&counts, &key);
    if (!v) {
        struct count_val zero = {};
        bpf_map_update_elem(&counts, &key, &zero, BPF_NOEXIST);
        v = bpf_map_lookup_elem(&counts, &key);
        if (!v) {
            stat_add(STAT_LOST_COUNTS);
            return;
        }
    }
    /* a node is one task, which runs on one CPU at a time: no atomics needed
     * (unless the node table overflowed and tasks share their parent's node) */
    if (unfinished) {
        v->unfinished++;
        return;
    }
    v->calls++;
    if (error)
        v->errors++;
}

/* A SIGKILL is pending (kill -9, another thread's exit_group, an exec from a thread): a
 * ptrace tracer gets no exit stop for the call, so it is unfinished. Not when the kernel
 * turned a fatal signal of another kind into that SIGKILL, as it does for untraced
 * processes only (kill(self, SIGTERM) returns under ptrace and is counted). */
static __always_inline int killed(struct task_struct *task)
{
    if (!(task->pending.signal.sig[0] & SIGKILL_BIT))
        return 0;
    int sig = task->signal->group_exit_code & 0x7f;
    return sig == 0 || sig == 9;
}

static __always_inline int is_fork(__u32 arch, __u64 nr)
{
    if (arch == ARCH_I386) /* fork, vfork, clone, clone3 */
        return nr == 2 || nr == 190 || nr == 120 || nr == 435;
    return nr == 57 || nr == 58 || nr == 56 || nr == 435;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(on_sys_exit, struct pt_regs *regs, long ret)
{
    __u32 tid = (__u32)bpf_get_current_pid_tgid();
    struct task_info *t = bpf_map_lookup_elem(&tasks, &tid);
    if (!t || t->armed)
        return 0;
    __u32 node = t->node;
    if (t->exec_from) { /* a successful execve is charged to the program that made it */
        node = t->exec_from - 1;
        t->exec_from = 0;
    }
    struct task_struct *task = bpf_get_current_task_btf();
    __u64 nr = regs->orig_ax;
    __u32 arch;
    if ((long)nr == -1) { /* restore_sigcontext() cleared it: rt_sigreturn (x32's as x86_64's) */
        arch = task->thread_info.status & TS_COMPAT ? ARCH_I386 : ARCH_X86_64;
        nr = arch == ARCH_I386 ? 173 : 15;
    } else {
        arch = call_arch(task, &nr);
    }
    if (ret == 0 && is_fork(arch, nr))
        return 0; /* a new task returning from fork/clone: its parent's call */
    count(node, arch, nr, ret < 0 && ret >= -MAX_ERRNO, killed(task));
    return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
    __u32 ptid = (__u32)parent->pid;
    struct task_info *t = bpf_map_lookup_elem(&tasks, &ptid);
    if (!t)
        return 0;
    __u32 kind = KIND_CLONE;
    if (child->tgid == parent->tgid)
        kind = KIND_THREAD;
    else if (child->mm == parent->mm)
        kind = KIND_VFORK; /* CLONE_VM without CLONE_THREAD: vfork, posix_spawn */
    else if (child->exit_signal == SIGCHLD)
        kind = KIND_FORK;
    __s32 id = node_new((__u32)child->pid, (__u32)child->tgid, (__s32)t->node, kind);
    struct task_info ct = {.node = id < 0 ? t->node : (__u32)id};
    __u32 ctid = (__u32)child->pid;
    if (bpf_map_update_elem(&tasks, &ctid, &ct, BPF_ANY))
        stat_add(STAT_LOST_TASKS);
    return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
    __u32 old = (__u32)old_pid;
    struct task_info *t = bpf_map_lookup_elem(&tasks, &old);
    if (!t)
        return 0;
    __u32 tid = (__u32)p->pid;
    struct task_info nt = {.node = t->node, .exec_from = t->node + 1};
    __u32 prev = t->node;
    __u64 now = bpf_ktime_get_ns();
    if (!t->armed) {
        __s32 id = node_new(tid, (__u32)p->tgid, (__s32)prev, KIND_EXEC);
        if (id >= 0) {
            struct node_info *old_node = bpf_map_lookup_elem(&nodes, &prev);
            if (old_node) {
                old_node->end = END_EXEC;
                old_node->end_ns = now;
            }
            nt.node = (__u32)id;
        }
    } else {
        struct node_info *root = bpf_map_lookup_elem(&nodes, &prev);
        if (root)
            root->start_ns = now;
    }
    if (old != tid) /* a non-leader thread exec'd: it now has the leader's tid */
        bpf_map_delete_elem(&tasks, &old);
    if (bpf_map_update_elem(&tasks, &tid, &nt, BPF_ANY))
        stat_add(STAT_LOST_TASKS);

    __u32 zero = 0;
    struct image *im = bpf_map_lookup_elem(&scratch, &zero);
    if (!im)
        return 0;
    im->exe[0] = 0;
    bpf_probe_read_kernel_str(im->exe, sizeof(im->exe), bprm->interp);
    unsigned long start = p->mm->arg_start, end = p->mm->arg_end;
    __u32 len = end > start ? (__u32)(end - start) : 0;
    if (len > IMAGE_LEN - 1)
        len = IMAGE_LEN - 1;
    im->argv_len = 0;
    if (bpf_probe_read_user(im->argv, len & (IMAGE_LEN - 1), (void *)start) == 0)
        im->argv_len = len;
    bpf_map_update_elem(&images, &nt.node, im, BPF_ANY);
    return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *p)
{
    __u32 tid = (__u32)p->pid;
    struct task_info *t = bpf_map_lookup_elem(&tasks, &tid);
    if (!t)
        return 0;
    __u32 node = t->node;
    if (t->armed) { /* the spawned child failed to exec */
        bpf_map_delete_elem(&tasks, &tid);
        return 0;
    }
    struct node_info *n = bpf_map_lookup_elem(&nodes, &node);
    if (n && n->tid == tid) {
        int code = p->exit_code;
        struct task_struct *execer = p->signal->group_exec_task;
        if (execer && execer != p && p->pid == p->tgid) {
            n->end = END_VANISHED; /* the leader, replaced by a thread's exec */
        } else if (code & 0x7f) {
            n->end = END_SIGNALED;
            n->end_value = code & 0x7f;
        } else {
            n->end = END_EXITED;
            n->end_value = (code >> 8) & 0xff;
        }
        n->end_ns = bpf_ktime_get_ns();
    }
    /* the call the task never returned from: exit, exit_group, a seccomp kill */
    struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(p);
    if (regs) {
        __u64 nr = regs->orig_ax;
        if ((long)nr >= 0 && (long)regs->ax == -ENOSYS) {
            __u32 arch = call_arch(p, &nr);
            count(node, arch, nr, 0, 1);
        }
    }
    bpf_map_delete_elem(&tasks, &tid);
    return 0;
}
