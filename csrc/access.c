/* access.c: path capture (record --paths). For each file and socket call
 * Landlock can restrict, note what it touched: the path resolved as the
 * kernel resolved it, its file type, whether it existed, and the errno.
 *
 * At the entry stop the path arguments are copied and joined to the working
 * directory or the dirfd's path (/proc/TID/cwd, /proc/TID/fd/N); stats go
 * through /proc/TID/root, so they resolve in the tracee's root. At the exit
 * stop an opened file's path is replaced by its /proc/TID/fd link (symbolic
 * links and ".." resolved by the kernel) and the access is added to a table
 * of distinct ones (node, phase, call, argument, flags, type, existence,
 * errno, path), at most ACCESS_MAX. Full recording only (entry and exit
 * stops); x86_64 numbers only. Python maps accesses to Landlock rights.
 */
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#define ACCESS_MAX 65536
#define NONE -1     /* no such argument; as a dirfd: AT_FDCWD */
#define FL_HOW -2   /* openat2: the flags are in struct open_how */
#define FL_CREAT -3 /* creat: O_CREAT | O_WRONLY | O_TRUNC */

enum { AK_OPEN, AK_PATH, AK_FD, AK_SOCK };

typedef struct {
    long nr;
    uint8_t kind;
    int8_t dirfd, path, dirfd2, path2, flags;
    uint8_t stat1, stat2; /* lstat the first path, check the second exists, at entry */
} call_t;

static const call_t CALLS[] = {
#ifdef __x86_64__
    {SYS_open, AK_OPEN, NONE, 0, NONE, NONE, 1, 0, 0},
    {SYS_creat, AK_OPEN, NONE, 0, NONE, NONE, FL_CREAT, 0, 0},
    {SYS_mkdir, AK_PATH, NONE, 0, NONE, NONE, 1, 0, 0},
    {SYS_mknod, AK_PATH, NONE, 0, NONE, NONE, 1, 0, 0},
    {SYS_unlink, AK_PATH, NONE, 0, NONE, NONE, NONE, 1, 0},
    {SYS_rmdir, AK_PATH, NONE, 0, NONE, NONE, NONE, 0, 0},
    {SYS_rename, AK_PATH, NONE, 0, NONE, 1, NONE, 1, 1},
    {SYS_link, AK_PATH, NONE, 0, NONE, 1, NONE, 1, 1},
    {SYS_symlink, AK_PATH, NONE, NONE, NONE, 1, NONE, 0, 0},
    {SYS_truncate, AK_PATH, NONE, 0, NONE, NONE, NONE, 0, 0},
    {SYS_openat, AK_OPEN, 0, 1, NONE, NONE, 2, 0, 0},
    {SYS_openat2, AK_OPEN, 0, 1, NONE, NONE, FL_HOW, 0, 0},
    {SYS_execve, AK_PATH, NONE, 0, NONE, NONE, NONE, 0, 0},
    {SYS_execveat, AK_PATH, 0, 1, NONE, NONE, 4, 0, 0},
    {SYS_mkdirat, AK_PATH, 0, 1, NONE, NONE, 2, 0, 0},
    {SYS_mknodat, AK_PATH, 0, 1, NONE, NONE, 2, 0, 0},
    {SYS_unlinkat, AK_PATH, 0, 1, NONE, NONE, 2, 1, 0},
    {SYS_renameat, AK_PATH, 0, 1, 2, 3, NONE, 1, 1},
    {SYS_renameat2, AK_PATH, 0, 1, 2, 3, 4, 1, 1},
    {SYS_linkat, AK_PATH, 0, 1, 2, 3, 4, 1, 1},
    {SYS_symlinkat, AK_PATH, NONE, NONE, 1, 2, NONE, 0, 0},
    {SYS_ftruncate, AK_FD, NONE, NONE, NONE, NONE, NONE, 0, 0},
    {SYS_ioctl, AK_FD, NONE, NONE, NONE, NONE, NONE, 0, 0},
    {SYS_bind, AK_SOCK, NONE, NONE, NONE, NONE, NONE, 0, 0},
    {SYS_connect, AK_SOCK, NONE, NONE, NONE, NONE, NONE, 0, 0},
#endif
};

/* One call's capture, from its entry stop to its exit stop. */
typedef struct {
    uint8_t active, kind, has[2], ftype[2];
    int8_t existed[2]; /* -1: not checked */
    int32_t node;
    uint16_t phase, nr;
    uint64_t flags;
    char path[2][PATH_MAX];
} acc_pending_t;

static const call_t *call_of(uint8_t arch, uint32_t nr)
{
    if (arch != ARCH_X86_64)
        return NULL;
    for (size_t i = 0; i < sizeof(CALLS) / sizeof(CALLS[0]); i++)
        if (CALLS[i].nr == (long)nr)
            return &CALLS[i];
    return NULL;
}

/* readlink of /proc/TID/WHAT into OUT (NUL-terminated): its length, or -1. */
static ssize_t proc_link(pid_t tid, const char *what, char *out, size_t size)
{
    char name[64];
    snprintf(name, sizeof(name), "/proc/%d/%s", (int)tid, what);
    ssize_t n = readlink(name, out, size - 1);
    if (n < 0 || (size_t)n >= size - 1)
        return -1;
    out[n] = '\0';
    return n;
}

/* The type (st_mode >> 12) of PATH as TID sees it, -1 if it does not exist, 0 if unknown. */
static int type_in_root(pid_t tid, const char *path, int follow)
{
    if (path[0] != '/')
        return 0;
    char name[PATH_MAX + 32];
    struct stat st;
    if (snprintf(name, sizeof(name), "/proc/%d/root%s", (int)tid, path) >= (int)sizeof(name))
        return 0;
    int rc = follow ? stat(name, &st) : lstat(name, &st);
    if (rc < 0)
        return errno == ENOENT || errno == ENOTDIR ? -1 : 0;
    return (int)((st.st_mode & S_IFMT) >> 12);
}

/* Copy the tracee's path at ADDR and make it absolute against DIRFD (NONE: the cwd). */
static int resolve(pid_t tid, int64_t dirfd, uint64_t addr, char *out)
{
    char rel[PATH_MAX];
    char *nul = NULL;
    /* page by page: a path that ends just before an unmapped page is still read */
    for (size_t got = 0; addr != 0 && nul == NULL && got < sizeof(rel);) {
        size_t room = 4096 - ((addr + got) & 4095);
        size_t want = room < sizeof(rel) - got ? room : sizeof(rel) - got;
        size_t n = tracee_peek(tid, addr + got, rel + got, want);
        nul = memchr(rel + got, '\0', n);
        if (n < want)
            break;
        got += n;
    }
    if (nul == NULL)
        return -1; /* unreadable or longer than PATH_MAX */
    if (rel[0] == '/') {
        memcpy(out, rel, (size_t)(nul - rel) + 1);
        return 0;
    }
    char what[32], base[PATH_MAX];
    if (dirfd == AT_FDCWD || dirfd == NONE)
        snprintf(what, sizeof(what), "cwd");
    else
        snprintf(what, sizeof(what), "fd/%d", (int)dirfd);
    if (proc_link(tid, what, base, sizeof(base)) < 0 || base[0] != '/') {
        memcpy(out, rel, (size_t)(nul - rel) + 1); /* left relative: Python skips it */
        return 0;
    }
    const char *sep = strcmp(base, "/") == 0 ? "" : "/";
    if (rel[0] == '\0')
        sep = "";
    if (snprintf(out, PATH_MAX, "%s%s%s", base, sep, rel) >= PATH_MAX)
        return -1;
    return 0;
}

/* The flags argument of the call (FL_* special cases). */
static uint64_t flags_of(pid_t tid, const call_t *c, const uint64_t *args)
{
    if (c->flags == FL_CREAT)
        return O_CREAT | O_WRONLY | O_TRUNC;
    if (c->flags == FL_HOW) {
        uint64_t how = 0;
        return tracee_peek(tid, args[2], (char *)&how, sizeof(how)) == sizeof(how) ? how : 0;
    }
    return c->flags == NONE ? 0 : args[(int)c->flags];
}

static acc_pending_t *pending_of(tracer_t *t, task_t *task)
{
    if (task->acc == NULL && (task->acc = calloc(1, sizeof(acc_pending_t))) == NULL)
        core_fail(t, "malloc", ENOMEM, task->tid);
    return task->acc;
}

static int64_t dirfd_arg(int8_t i, const uint64_t *args)
{
    return i == NONE ? NONE : (int64_t)(int32_t)args[(int)i];
}

/* The type of the tracee's open file FD (st_mode >> 12), 0 if unknown. */
static uint8_t fd_type(pid_t tid, int fd)
{
    char name[64];
    struct stat st;
    snprintf(name, sizeof(name), "/proc/%d/fd/%d", (int)tid, fd);
    return stat(name, &st) < 0 ? 0 : (uint8_t)((st.st_mode & S_IFMT) >> 12);
}

/* The socket type (SOCK_STREAM, SOCK_DGRAM) of the tracee's FD, 0 if unknown: a copy
 * of the descriptor through pidfd_getfd, asked and closed. */
static int sock_type(pid_t tgid, int fd)
{
    int type = 0;
    socklen_t len = sizeof(type);
    int pfd = (int)syscall(SYS_pidfd_open, tgid, 0);
    if (pfd < 0)
        return 0;
    int sfd = (int)syscall(SYS_pidfd_getfd, pfd, fd, 0);
    (void)close(pfd);
    if (sfd < 0)
        return 0;
    if (getsockopt(sfd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
        type = 0;
    (void)close(sfd);
    return type;
}

/* bind, connect: "tcp:PORT", "udp:PORT", "inet:PORT", "unix:PATH", "unix-abstract:@NAME". */
static int sock_name(task_t *task, const uint64_t *args, char *out)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    size_t len = args[2] < sizeof(ss) ? (size_t)args[2] : sizeof(ss);
    if (len < sizeof(sa_family_t) || tracee_peek(task->tid, args[1], (char *)&ss, len) != len)
        return -1;
    if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
        unsigned port = ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                                                : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        int type = sock_type(task->tgid, (int)args[0]);
        const char *proto = type == SOCK_STREAM ? "tcp" : type == SOCK_DGRAM ? "udp" : "inet";
        snprintf(out, PATH_MAX, "%s:%u", proto, port);
        return 0;
    }
    if (ss.ss_family != AF_UNIX || len <= offsetof(struct sockaddr_un, sun_path))
        return -1;
    const char *sun = ((struct sockaddr_un *)&ss)->sun_path;
    size_t n = len - offsetof(struct sockaddr_un, sun_path);
    if (sun[0] == '\0') { /* abstract: the name's bytes, NULs shown as '@' */
        int k = snprintf(out, PATH_MAX, "unix-abstract:@");
        for (size_t i = 1; i < n && k < PATH_MAX - 1; i++)
            out[k++] = sun[i] != '\0' ? sun[i] : '@';
        out[k] = '\0';
        return 0;
    }
    char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
    memcpy(path, sun, n < sizeof(path) - 1 ? n : sizeof(path) - 1);
    path[n < sizeof(path) - 1 ? n : sizeof(path) - 1] = '\0';
    if (path[0] == '/') {
        snprintf(out, PATH_MAX, "unix:%s", path);
        return 0;
    }
    char base[PATH_MAX];
    if (proc_link(task->tid, "cwd", base, sizeof(base)) < 0)
        return -1;
    return snprintf(out, PATH_MAX, "unix:%s/%s", base, path) < PATH_MAX ? 0 : -1;
}

/* ftruncate, ioctl: the path of the descriptor (ioctl: devices only); bind, connect. */
static void fd_entry(task_t *task, acc_pending_t *p, const uint64_t *args)
{
    if (p->kind == AK_SOCK) {
        p->has[0] = sock_name(task, args, p->path[0]) == 0;
        return;
    }
    char what[32];
    int fd = (int)args[0];
    snprintf(what, sizeof(what), "fd/%d", fd);
    if (fd < 0 || proc_link(task->tid, what, p->path[0], PATH_MAX) < 0 || p->path[0][0] != '/')
        return;
    p->ftype[0] = fd_type(task->tid, fd);
    int device = p->ftype[0] == (S_IFCHR >> 12) || p->ftype[0] == (S_IFBLK >> 12);
    p->has[0] = p->nr != SYS_ioctl || device;
}

/* A file or socket call's entry: copy and resolve what it names. */
void access_entry(tracer_t *t, task_t *task, uint8_t arch, uint32_t nr, const uint64_t *args)
{
    const call_t *c = call_of(arch, nr);
    if (c == NULL)
        return;
    acc_pending_t *p = pending_of(t, task);
    if (p == NULL)
        return;
    memset(p, 0, offsetof(acc_pending_t, path));
    p->existed[0] = p->existed[1] = -1;
    p->kind = c->kind;
    p->node = task->node;
    p->phase = task->phase;
    p->nr = (uint16_t)nr;
    p->flags = flags_of(task->tid, c, args);
    if (c->path != NONE)
        p->has[0] =
            resolve(task->tid, dirfd_arg(c->dirfd, args), args[(int)c->path], p->path[0]) == 0;
    if (c->path2 != NONE)
        p->has[1] =
            resolve(task->tid, dirfd_arg(c->dirfd2, args), args[(int)c->path2], p->path[1]) == 0;
    if (p->has[0] && (c->stat1 || (c->kind == AK_OPEN && (p->flags & O_CREAT)))) {
        int type = type_in_root(task->tid, p->path[0], c->kind == AK_OPEN);
        p->existed[0] = type >= 0;
        p->ftype[0] = (uint8_t)(type > 0 ? type : 0);
    }
    if (p->has[1] && c->stat2) {
        int type = type_in_root(task->tid, p->path[1], 0);
        p->existed[1] = type >= 0;
        p->ftype[1] = (uint8_t)(type > 0 ? type : 0);
    }
    if (c->kind == AK_FD || c->kind == AK_SOCK)
        fd_entry(task, p, args);
    p->active = p->has[0] || p->has[1];
}

static uint64_t hash_access(const access_t *a)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    const uint64_t fields[] = {(uint64_t)(uint32_t)a->node,
                               a->phase,
                               a->nr,
                               a->flags,
                               a->which,
                               a->ftype,
                               (uint64_t)(uint8_t)a->existed,
                               (uint64_t)(uint16_t)a->err};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        h = (h ^ fields[i]) * 1099511628211ULL;
    for (const char *c = a->path; *c != '\0'; c++)
        h = (h ^ (uint8_t)*c) * 1099511628211ULL;
    return h == 0 ? 1 : h;
}

static int same_access(const access_t *a, const access_t *b)
{
    return a->hash == b->hash && a->node == b->node && a->phase == b->phase && a->nr == b->nr &&
           a->flags == b->flags && a->which == b->which && a->ftype == b->ftype &&
           a->existed == b->existed && a->err == b->err && strcmp(a->path, b->path) == 0;
}

static int grow_accesses(tracer_t *t)
{
    size_t ncap = t->cap_accesses ? t->cap_accesses * 2 : 1024;
    access_t *na = calloc(ncap, sizeof(access_t));
    if (na == NULL)
        return -1;
    for (size_t i = 0; i < t->cap_accesses; i++) {
        access_t *a = &t->accesses[i];
        if (a->hash == 0)
            continue;
        size_t j = a->hash & (ncap - 1);
        while (na[j].hash != 0)
            j = (j + 1) & (ncap - 1);
        na[j] = *a;
    }
    free(t->accesses);
    t->accesses = na;
    t->cap_accesses = ncap;
    return 0;
}

/* Add ONE to the table of distinct accesses (its path copied), unless it is there. */
static void add_access(tracer_t *t, task_t *task, access_t *one)
{
    one->hash = hash_access(one);
    if ((t->naccesses + 1) * 2 > t->cap_accesses && grow_accesses(t) < 0) {
        core_fail(t, "malloc", ENOMEM, task->tid);
        return;
    }
    size_t mask = t->cap_accesses - 1, i = one->hash & mask;
    for (; t->accesses[i].hash != 0; i = (i + 1) & mask)
        if (same_access(&t->accesses[i], one))
            return;
    if (t->naccesses >= ACCESS_MAX) {
        t->accesses_dropped++;
        return;
    }
    if ((one->path = strdup(one->path)) == NULL) {
        core_fail(t, "malloc", ENOMEM, task->tid);
        return;
    }
    t->accesses[i] = *one;
    t->naccesses++;
}

/* The call's exit: an opened file's path as the kernel resolved it, then the table. */
void access_exit(tracer_t *t, task_t *task, int64_t rval, int is_error)
{
    acc_pending_t *p = task->acc;
    if (p == NULL || !p->active)
        return;
    p->active = 0;
    int err = is_error ? (int)-rval : 0;
    if (p->kind == AK_OPEN && !is_error && rval >= 0) {
        char what[32], link[PATH_MAX];
        snprintf(what, sizeof(what), "fd/%d", (int)rval);
        if (proc_link(task->tid, what, link, sizeof(link)) >= 0) {
            memcpy(p->path[0], link, strlen(link) + 1);
            p->ftype[0] = fd_type(task->tid, (int)rval);
        }
    }
    for (uint8_t which = 0; which < 2; which++) {
        if (!p->has[which])
            continue;
        access_t one = {0,     p->node,         p->phase,          p->nr,        p->flags,
                        which, p->ftype[which], p->existed[which], (int16_t)err, p->path[which]};
        add_access(t, task, &one);
    }
}

void access_free(tracer_t *t)
{
    for (size_t i = 0; i < t->cap_accesses; i++)
        free(t->accesses[i].hash != 0 ? t->accesses[i].path : NULL);
    free(t->accesses);
}
