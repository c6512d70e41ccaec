/* arch.h: the registers of a stopped thread, for the one architecture built.
 *
 * Everything the core does with registers beyond PTRACE_GET_SYSCALL_INFO goes
 * through these functions: swapping a call for seccomp() and running it
 * again (inject.c), breakpoints (phases.c), naming the call a killed thread
 * was in (loop.c). Each architecture implements them in one file
 * (arch_x86_64.c); arch_none.c stands in where none does, so an aarch64
 * port is one new file. The functions that fail return an errno.
 */
#ifndef SYSPHASE_ARCH_H
#define SYSPHASE_ARCH_H

#include <stdint.h>
#include <sys/types.h>

/* Architecture codes shared with Python (sysphase._core.ARCH_*). */
enum { ARCH_X86_64 = 0, ARCH_I386 = 1, ARCH_X32 = 2, ARCH_AARCH64 = 3, ARCH_UNKNOWN = 15 };
#define ARCH_COUNT 4

#if defined(__x86_64__)
#include <sys/user.h>
typedef struct user_regs_struct arch_regs_t;
#define ARCH_NATIVE ARCH_X86_64 /* the ABI a call must use to be swapped */
#else
typedef struct {
    uint64_t unused;
} arch_regs_t;
#define ARCH_NATIVE ARCH_UNKNOWN /* no register file: nothing is swapped */
#endif

int arch_get_regs(pid_t tid, arch_regs_t *regs);
int arch_set_regs(pid_t tid, const arch_regs_t *regs);
uint64_t arch_stack_pointer(const arch_regs_t *regs);
/* At a syscall-entry stop: the call's number as the kernel will run it. */
uint64_t arch_syscall_nr(const arch_regs_t *regs);
/* At a syscall-entry stop, or a seccomp kill's SIGSYS: the six arguments of a call of ABI
 * ARCH (ARCH_*: an i386 call of a 64-bit process has its own registers). */
void arch_syscall_args(const arch_regs_t *regs, uint8_t arch, uint64_t args[6]);
/* At the exit stop of a thread that died of SIGSYS: whether it died at a system call's entry,
 * as a seccomp filter's kill leaves it (the others of its process died wherever they were). */
int arch_killed_at_call(const arch_regs_t *regs);
/* At a syscall-exit stop: the return value. */
int64_t arch_syscall_result(const arch_regs_t *regs);
/* At a syscall-entry stop: make the thread run call NR(A0, A1, A2) instead. */
void arch_set_syscall(arch_regs_t *regs, uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2);
/* Registers that, restored at the exit stop, make the call the entry stop saw run again;
 * *entry_ip gets where that call's next entry stop reports its instruction pointer. */
void arch_rerun_syscall(arch_regs_t *saved, uint64_t *entry_ip);
/* A breakpoint: the word with the trap instruction at its first byte(s), and, at the trap's
 * SIGTRAP, the address of the breakpoint (the instruction pointer is rewound to it). */
uint64_t arch_breakpoint_word(uint64_t word);
uint64_t arch_breakpoint_hit(arch_regs_t *regs);

#endif
