/* arch_none.c: arch.h for an architecture without a register file of its own yet.
 *
 * Tracing and counting work everywhere (PTRACE_GET_SYSCALL_INFO needs no
 * registers); injecting a filter into a stopped thread (`run` with later
 * phases, known-set recording) and breakpoint triggers need the
 * architecture's registers, and fail here with ENOSYS. A port replaces this
 * file's condition and adds arch_<name>.c.
 */
#ifndef __x86_64__
#include "arch.h"

#include <errno.h>

int arch_get_regs(pid_t tid, arch_regs_t *regs)
{
    (void)tid;
    (void)regs;
    return ENOSYS;
}

int arch_set_regs(pid_t tid, const arch_regs_t *regs)
{
    (void)tid;
    (void)regs;
    return ENOSYS;
}

uint64_t arch_stack_pointer(const arch_regs_t *regs)
{
    (void)regs;
    return 0;
}

uint64_t arch_syscall_nr(const arch_regs_t *regs)
{
    (void)regs;
    return (uint64_t)-1;
}

void arch_syscall_args(const arch_regs_t *regs, uint8_t arch, uint64_t args[6])
{
    (void)regs;
    (void)arch;
    for (int i = 0; i < 6; i++)
        args[i] = 0;
}

int arch_killed_at_call(const arch_regs_t *regs)
{
    (void)regs;
    return 0;
}

int64_t arch_syscall_result(const arch_regs_t *regs)
{
    (void)regs;
    return -ENOSYS;
}

void arch_set_syscall(arch_regs_t *regs, uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2)
{
    (void)regs;
    (void)nr;
    (void)a0;
    (void)a1;
    (void)a2;
}

void arch_rerun_syscall(arch_regs_t *saved, uint64_t *entry_ip)
{
    (void)saved;
    *entry_ip = 0;
}

uint64_t arch_breakpoint_word(uint64_t word)
{
    return word;
}

uint64_t arch_breakpoint_hit(arch_regs_t *regs)
{
    (void)regs;
    return 0;
}
#else
typedef int arch_none_unused; /* ISO C forbids an empty translation unit */
#endif
