/* guard.h: what the generated policy file of `sysphase patch` gives guard.c.
 *
 * `sysphase patch` writes one C file per patched binary (the filters of the
 * program's phases, the functions that start later phases, an info string)
 * and compiles it with guard.c into a shared library that the patched copy
 * of the binary loads as its first needed library. Its constructor installs
 * the first phase's filter before main; an interposed libc function
 * installs the next phase's filter at its first call (see guard.c).
 *
 * Built with gcc -shared -fPIC -fvisibility=hidden: only the interposed
 * functions are exported (SYSPHASE_GUARD_EXPORT). No library but libc is
 * needed at run time.
 */
#ifndef SYSPHASE_GUARD_H
#define SYSPHASE_GUARD_H

#include <linux/filter.h>

#define SYSPHASE_GUARD_EXPORT __attribute__((visibility("default")))

/* At most this many phases: a phase set is one bit per phase in an unsigned long long. */
#define SYSPHASE_GUARD_MAX_PHASES 64

/* Every phase's filter answers prctl(SYSPHASE_GUARD_PROBE_OPTION, ...) with the errno
 * SYSPHASE_GUARD_PROBE_ERRNO + its index; the newest filter's answer wins, so after an
 * install the guard asks the kernel whether its filter really is the newest. The same
 * numbers as sysphase._host.seccomp.PROBE_OPTION and sysphase.policy.guard_source.PROBE_ERRNO. */
#define SYSPHASE_GUARD_PROBE_OPTION 0x53595350
#define SYSPHASE_GUARD_PROBE_ERRNO 3000

/* One phase of the program: its compiled filter (libseccomp's classic BPF). */
struct sysphase_guard_phase {
    const char *name;
    const char *trigger;
    const struct sock_filter *filter;
    unsigned short len;
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

/* Called first by an interposed function whose call starts the phases in `phases` (bit k:
 * phase k): if the next phase is one of them, install its filter (once per process, every
 * thread with TSYNC). Preserves errno. */
void sysphase_guard_enter(unsigned long long phases);

/* Store the next definition of `name` (dlsym RTLD_NEXT) in `*real`; exit 126 if there is
 * none. For a call that comes before the guard's constructor has resolved every hook. */
void sysphase_guard_resolve(const char *name, void **real);

#endif
