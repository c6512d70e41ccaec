/* arch_x86_64.c: the registers of a stopped x86_64 thread (see arch.h).
 *
 * The system call instruction is `syscall` (0f 05, two bytes); at a
 * syscall-entry stop orig_rax holds the call's number and rdi, rsi, rdx its
 * first arguments; rax carries the return value at the exit stop. A
 * breakpoint is int3 (0xcc, one byte); after it traps, rip is one past it.
 */
#ifdef __x86_64__
#include "arch.h"

#include <errno.h>
#include <sys/ptrace.h>

#define SYSCALL_INSN_LEN 2
#define INT3 0xccULL

int arch_get_regs(pid_t tid, arch_regs_t *regs)
{
    return ptrace(PTRACE_GETREGS, tid, 0, regs) < 0 ? errno : 0;
}

int arch_set_regs(pid_t tid, const arch_regs_t *regs)
{
    return ptrace(PTRACE_SETREGS, tid, 0, regs) < 0 ? errno : 0;
}

uint64_t arch_stack_pointer(const arch_regs_t *regs)
{
    return regs->rsp;
}

uint64_t arch_syscall_nr(const arch_regs_t *regs)
{
    return regs->orig_rax;
}

int64_t arch_syscall_result(const arch_regs_t *regs)
{
    return (int64_t)regs->rax;
}

void arch_set_syscall(arch_regs_t *regs, uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2)
{
    regs->orig_rax = nr;
    regs->rdi = a0;
    regs->rsi = a1;
    regs->rdx = a2;
}

void arch_rerun_syscall(arch_regs_t *saved, uint64_t *entry_ip)
{
    *entry_ip = saved->rip; /* an entry stop reports the address after the instruction */
    saved->rip -= SYSCALL_INSN_LEN;
    saved->rax = saved->orig_rax;
}

uint64_t arch_breakpoint_word(uint64_t word)
{
    return (word & ~0xffULL) | INT3;
}

uint64_t arch_breakpoint_hit(arch_regs_t *regs)
{
    regs->rip -= 1;
    return regs->rip;
}
#endif
