/* guard_ruleset.c: a phase's Landlock ruleset built in a patched program (guard_landlock.c).
 *
 * From the generated data (guard.h: handled rights, path-beneath rules, TCP
 * ports, scopes, made for the newest ABI sysphase knows), in the guard's
 * constructor, before any filter. Rights the kernel's ABI does not know are
 * left out of what the ruleset handles and of every rule (as
 * sysphase.policy.landlock_section.degrade does for `sysphase run`); network
 * rights and ports need ABI 4, scopes ABI 6. A rule on a path that does not
 * exist is left out (one line), a rule on a non-directory keeps file rights
 * only. Any refusal of the kernel ends the process (exit 126).
 */
#define _GNU_SOURCE
#include "guard.h"
#include "guard_landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static const struct sysphase_guard_landlock_abi *const known = &sysphase_guard_landlock_abi;

int sysphase_guard_high_fd(int fd)
{
    int high = fcntl(fd, F_DUPFD_CLOEXEC, SYSPHASE_GUARD_HIGH_FD);
    if (high < 0)
        return fd; /* a low descriptor limit: it stays where it is */
    if (close(fd) != 0)
        sysphase_guard_die("close: %s", sysphase_guard_errname(errno));
    return high;
}

/* What a ruleset keeps on a kernel of Landlock ABI ABI. */
static struct ll_ruleset_attr fitted(const struct sysphase_guard_ruleset *r, int abi)
{
    int last = SYSPHASE_GUARD_LANDLOCK_ABIS - 1;
    struct ll_ruleset_attr attr = {
        .handled_access_fs = r->handled_fs & known->fs[abi < last ? abi : last],
        .handled_access_net = abi >= known->net_abi ? r->handled_net : 0,
        .scoped = abi >= known->scope_abi ? r->scoped : 0,
    };
    return attr;
}

/* The ABI that brought file-system right BIT. */
static int fs_abi(int bit)
{
    for (int v = 0; v < SYSPHASE_GUARD_LANDLOCK_ABIS; v++)
        if (known->fs[v] >> bit & 1)
            return v;
    return SYSPHASE_GUARD_LANDLOCK_ABIS;
}

/* ", NAME (ABI N)" for each of BITS, appended to LINE; ABI < 0: the right's own (fs). */
static void add_names(char *line, size_t size, unsigned long long bits, const char *const *names,
                      int count, int abi)
{
    for (int i = 0; i < count; i++) {
        size_t len = strlen(line);
        if (!(bits >> i & 1) || len + 1 >= size)
            continue;
        int n = snprintf(line + len, size - len, "%s%s (ABI %d)", len > 0 ? ", " : "", names[i],
                         abi < 0 ? fs_abi(i) : abi);
        if (n < 0)
            return;
    }
}

/* The words of sysphase.policy.landlock_section.Degraded.describe, which `run` prints. */
void sysphase_guard_say_left_out(int abi, const struct sysphase_guard_ruleset *lost)
{
    char list[480] = "";
    add_names(list, sizeof(list), lost->handled_fs, known->fs_names, SYSPHASE_GUARD_FS_RIGHTS, -1);
    add_names(list, sizeof(list), lost->handled_net, known->net_names, SYSPHASE_GUARD_NET_RIGHTS,
              known->net_abi);
    add_names(list, sizeof(list), lost->scoped, known->scope_names, SYSPHASE_GUARD_SCOPES,
              known->scope_abi);
    if (list[0] == '\0')
        return;
    sysphase_guard_say("Landlock ABI %d: left out %s%s (the kernel does not know them; the rest "
                       "is enforced)",
                       abi, list,
                       lost->handled_fs & LL_ACCESS_FS_REFER
                           ? "; moving files to another directory fails with EXDEV"
                           : "");
}

static void add_path_rule(int ruleset, const struct sysphase_guard_rule *rule,
                          unsigned long long handled, const char *phase)
{
    unsigned long long allowed = rule->allowed & handled;
    int fd = open(rule->path, O_PATH | O_CLOEXEC);
    if (fd < 0) {
        sysphase_guard_say("phase \"%s\": Landlock rule left out: %s (%s)", phase, rule->path,
                           errno == ENOENT ? "no such file" : sysphase_guard_errname(errno));
        return;
    }
    struct stat st;
    if (fstat(fd, &st) != 0)
        sysphase_guard_die("fstat %s: %s", rule->path, sysphase_guard_errname(errno));
    if (!S_ISDIR(st.st_mode))
        allowed &= known->file_rights; /* a rule on a file holds file rights only */
    struct ll_path_beneath_attr attr = {.allowed_access = allowed, .parent_fd = fd};
    if (allowed != 0 && syscall(LL_ADD_RULE, ruleset, LL_RULE_PATH_BENEATH, &attr, 0) != 0)
        sysphase_guard_die("Landlock refused the rule on %s of phase \"%s\": %s", rule->path, phase,
                           sysphase_guard_errname(errno));
    if (close(fd) != 0)
        sysphase_guard_die("close: %s", sysphase_guard_errname(errno));
}

static void add_ports(int ruleset, unsigned long long right, const unsigned short *ports,
                      unsigned count, const char *phase)
{
    for (unsigned i = 0; i < count; i++) {
        struct ll_net_port_attr attr = {.allowed_access = right, .port = ports[i]};
        if (syscall(LL_ADD_RULE, ruleset, LL_RULE_NET_PORT, &attr, 0) != 0)
            sysphase_guard_die("Landlock refused the port rule %u of phase \"%s\": %s", ports[i],
                               phase, sysphase_guard_errname(errno));
    }
}

int sysphase_guard_ruleset_build(int index, int abi, struct sysphase_guard_ruleset *lost)
{
    const char *phase = sysphase_guard_phases[index].name;
    const struct sysphase_guard_ruleset *r = sysphase_guard_phases[index].landlock;
    struct ll_ruleset_attr attr = fitted(r, abi);
    lost->handled_fs |= r->handled_fs & ~attr.handled_access_fs;
    lost->handled_net |= r->handled_net & ~attr.handled_access_net;
    lost->scoped |= r->scoped & ~attr.scoped;
    size_t size = abi < known->net_abi ? 8 : abi < known->scope_abi ? 16 : sizeof(attr);
    int fd = (int)syscall(LL_CREATE_RULESET, &attr, size, 0);
    if (fd < 0)
        sysphase_guard_die("landlock_create_ruleset failed for phase \"%s\": %s", phase,
                           sysphase_guard_errname(errno));
    for (unsigned i = 0; i < r->nrules; i++)
        add_path_rule(fd, &r->rules[i], attr.handled_access_fs, phase);
    if (attr.handled_access_net & LL_NET_BIND_TCP)
        add_ports(fd, LL_NET_BIND_TCP, r->bind_tcp, r->nbind, phase);
    if (attr.handled_access_net & LL_NET_CONNECT_TCP)
        add_ports(fd, LL_NET_CONNECT_TCP, r->connect_tcp, r->nconnect, phase);
    return sysphase_guard_high_fd(fd);
}
