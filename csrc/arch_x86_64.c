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

void arch_syscall_args(const arch_regs_t *regs, uint8_t arch, uint64_t args[6])
{
    if (arch == ARCH_I386) { /* int 0x80: ebx, ecx, edx, esi, edi, ebp */
        const uint64_t r[6] = {regs->rbx, regs->rcx, regs->rdx, regs->rsi, regs->rdi, regs->rbp};
        for (int i = 0; i < 6; i++)
            args[i] = (uint32_t)r[i];
        return;
    }
    const uint64_t r[6] = {regs->rdi, regs->rsi, regs->rdx, regs->r10, regs->r8, regs->r9};
    for (int i = 0; i < 6; i++)
        args[i] = r[i];
}

int arch_killed_at_call(const arch_regs_t *regs)
{
    /* a kill of the whole process rolls the call back (rax = orig_rax); a kill of one
     * thread leaves it as at entry (rax = -ENOSYS); a thread in user space has no call
     * (orig_rax = -1), one killed in a blocking call has its -EINTR or -ERESTART* */
    return regs->orig_rax != (uint64_t)-1 &&
           (regs->rax == regs->orig_rax || regs->rax == (uint64_t)-ENOSYS);
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
