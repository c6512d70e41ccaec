/* guard.h: what the generated policy file of `sysphase patch` gives guard.c.
 *
 * `sysphase patch` writes one C file per patched binary (the filters of the
 * program's phases, the functions that start later phases, an info string)
 * and compiles it with guard.c into a shared library that the patched copy
 * of the binary loads as its first needed library. Its constructor installs
 * the first phase's filter before main; an interposed libc function
 * installs the next phase's filter at its first call (see guard.c). Phases
 * with a Landlock section also get their ruleset, in every thread
 * (guard_landlock.c).
 *
 * Built with gcc -shared -fPIC -fvisibility=hidden: only the interposed
 * functions are exported (SYSPHASE_GUARD_EXPORT). No library but libc is
 * needed at run time.
 */
#ifndef SYSPHASE_GUARD_H
#define SYSPHASE_GUARD_H

#include <linux/filter.h>
#include <signal.h>

#define SYSPHASE_GUARD_EXPORT __attribute__((visibility("default")))

/* At most this many phases: a phase set is one bit per phase in an unsigned long long. */
#define SYSPHASE_GUARD_MAX_PHASES 64

/* Every phase's filter answers prctl(SYSPHASE_GUARD_PROBE_OPTION, ...) with the errno
 * SYSPHASE_GUARD_PROBE_ERRNO + its index; the newest filter's answer wins, so after an
 * install the guard asks the kernel whether its filter really is the newest. The same
 * numbers as sysphase._host.seccomp.PROBE_OPTION and sysphase.policy.guard_source.PROBE_ERRNO. */
#define SYSPHASE_GUARD_PROBE_OPTION 0x53595350
#define SYSPHASE_GUARD_PROBE_ERRNO 3000

/* One path-beneath rule: the file-system rights (LANDLOCK_ACCESS_FS_* bits) on a path. */
struct sysphase_guard_rule {
    const char *path;
    unsigned long long allowed;
};

/* One phase's Landlock ruleset as the policy made it (for the newest ABI sysphase knows);
 * guard_landlock.c leaves out what the running kernel's ABI does not know. */
struct sysphase_guard_ruleset {
    unsigned long long handled_fs, handled_net, scoped;
    const struct sysphase_guard_rule *rules;
    unsigned nrules;
    const unsigned short *bind_tcp, *connect_tcp;
    unsigned nbind, nconnect;
};

/* Landlock's rights by ABI version (generated from sysphase.model.landlock_rights). */
#define SYSPHASE_GUARD_LANDLOCK_ABIS 8
#define SYSPHASE_GUARD_FS_RIGHTS 16
#define SYSPHASE_GUARD_NET_RIGHTS 2
#define SYSPHASE_GUARD_SCOPES 2
struct sysphase_guard_landlock_abi {
    /* the file-system rights ABI v knows: fs[v] (a newer ABI: the last one) */
    unsigned long long fs[SYSPHASE_GUARD_LANDLOCK_ABIS];
    /* the ABI that brought network rights, and scopes */
    int net_abi, scope_abi;
    /* the rights a rule on a non-directory may hold */
    unsigned long long file_rights;
    const char *fs_names[SYSPHASE_GUARD_FS_RIGHTS];
    const char *net_names[SYSPHASE_GUARD_NET_RIGHTS];
    const char *scope_names[SYSPHASE_GUARD_SCOPES];
};

/* One phase of the program: its compiled filter (libseccomp's classic BPF), and its Landlock
 * ruleset (NULL: none of its own; those of the phases before it stay in force). */
struct sysphase_guard_phase {
    const char *name;
    const char *trigger;
    const struct sock_filter *filter;
    unsigned short len;
    const struct sysphase_guard_ruleset *landlock;
};

/* One interposed libc function: its name and where the next definition (libc's) goes. */
struct sysphase_guard_hook {
    const char *name;
    void **real;
};

/* Generated: the phases in order (the first is installed before main). */
extern const struct sysphase_guard_phase sysphase_guard_phases[];
extern const unsigned sysphase_guard_nphases;

/* Generated: the interposed functions, ending with {NULL, NULL}. */
extern const struct sysphase_guard_hook sysphase_guard_hooks[];

/* Generated: "sysphase-guard/1 {json}", what `sysphase patch --check` reads. */
extern const char sysphase_guard_info[];

/* Generated: Landlock's rights by ABI. */
extern const struct sysphase_guard_landlock_abi sysphase_guard_landlock_abi;

/* Called first by an interposed function whose call starts the phases in `phases` (bit k:
 * phase k): if the next phase is one of them, install its filter (once per process, every
 * thread with TSYNC). Preserves errno. */
void sysphase_guard_enter(unsigned long long phases);

/* Store the next definition of `name` (dlsym RTLD_NEXT) in `*real`; exit 126 if there is
 * none. For a call that comes before the guard's constructor has resolved every hook. */
void sysphase_guard_resolve(const char *name, void **real);

/* Called by the interposers generated for a program with Landlock rulesets (no system call):
 * pthread_create (a forked child counts the threads it starts), pthread_exit (the main
 * thread ends: it will never answer a switch), pthread_sigmask and sigprocmask (the switch's
 * signal stays unblocked: returns SET or a copy of it without the signal). */
void sysphase_guard_thread_created(void);
void sysphase_guard_thread_exiting(void);
const sigset_t *sysphase_guard_unblockable(int how, const sigset_t *set, sigset_t *copy);

/* Between guard.c and guard_landlock.c (hidden) ---------------------------------------- */

/* One line "sysphase-guard: PROGRAM: MESSAGE" on stderr. */
__attribute__((format(printf, 1, 2))) void sysphase_guard_say(const char *fmt, ...);
/* The same with "; refusing to run unsandboxed", then exit 126 (every thread). */
__attribute__((noreturn, format(printf, 1, 2))) void sysphase_guard_die(const char *fmt, ...);
/* strerrorname_np, never NULL. */
const char *sysphase_guard_errname(int err);
/* The constructor's part: every phase's ruleset built, the first applied (every thread). */
void sysphase_guard_landlock_init(void);
/* After phase INDEX's filter is in force: its ruleset in every thread, if it has one. */
void sysphase_guard_landlock_switch(int index);
/* In a child after fork. */
void sysphase_guard_landlock_forked(void);

#endif
