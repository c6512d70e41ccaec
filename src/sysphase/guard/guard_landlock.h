/* guard_landlock.h: between guard_landlock.c and guard_ruleset.c (hidden, not generated).
 *
 * Landlock's interface is defined here: Debian 12's linux/landlock.h stops
 * at ABI 2 (no network rights, no scopes).
 */
#ifndef SYSPHASE_GUARD_LANDLOCK_H
#define SYSPHASE_GUARD_LANDLOCK_H

#include "guard.h"

#include <stdint.h>

#define LL_CREATE_RULESET 444
#define LL_ADD_RULE 445
#define LL_RESTRICT_SELF 446
#define LL_CREATE_RULESET_VERSION (1U << 0)
#define LL_RULE_PATH_BENEATH 1
#define LL_RULE_NET_PORT 2
#define LL_ACCESS_FS_REFER (1ULL << 13)
#define LL_NET_BIND_TCP (1ULL << 0)
#define LL_NET_CONNECT_TCP (1ULL << 1)

struct ll_ruleset_attr {
    uint64_t handled_access_fs, handled_access_net, scoped;
};
struct ll_path_beneath_attr {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));
struct ll_net_port_attr {
    uint64_t allowed_access, port;
};

/* Rulesets and /proc/self/task go at or above this descriptor, out of a program's way. */
#define SYSPHASE_GUARD_HIGH_FD 700

/* FD moved to SYSPHASE_GUARD_HIGH_FD or above (close-on-exec), or FD itself if the
 * descriptor limit is lower. */
int sysphase_guard_high_fd(int fd);

/* Phase INDEX's ruleset built for a kernel of Landlock ABI (>= 1): its descriptor. The rights
 * the ABI does not know are added to LOST (its handled_* and scoped). */
int sysphase_guard_ruleset_build(int index, int abi, struct sysphase_guard_ruleset *lost);

/* One line for the rights LOST, left out of the rulesets on a kernel of ABI; none if none. */
void sysphase_guard_say_left_out(int abi, const struct sysphase_guard_ruleset *lost);

#endif
