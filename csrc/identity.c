/* identity.c: a program's identity, the GNU build-id of its executable.
 *
 * A policy names its programs by path and, where the executable has one,
 * by build-id, so a copy, a hard link or a path through a symlink of the
 * same program gets the same phases. The build-id is read once per exec
 * from /proc/PID/exe (the image the kernel really runs, whatever its path):
 * the ELF header, the program headers, and the PT_NOTE segments, looking for
 * an NT_GNU_BUILD_ID note. 64-bit little-endian ELF only (policies are for
 * x86_64); anything else has no build-id and is known by path alone.
 */
#include "core.h"

#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MAX_PHDRS 64
#define MAX_NOTES 4096

static int read_at(int fd, void *buf, size_t len, off_t off)
{
    return pread(fd, buf, len, off) == (ssize_t)len ? 0 : -1;
}

static void to_hex(const unsigned char *id, size_t n, char *hex, size_t size)
{
    static const char digits[] = "0123456789abcdef";
    if (n * 2 + 1 > size)
        return;
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = digits[id[i] >> 4];
        hex[2 * i + 1] = digits[id[i] & 15];
    }
    hex[2 * n] = '\0';
}

/* The build-id in one PT_NOTE segment of SIZE bytes at OFF, as hex; 0 if found. */
static int note_build_id(int fd, off_t off, size_t size, char *hex, size_t hexsize)
{
    unsigned char notes[MAX_NOTES];
    if (size > sizeof(notes))
        size = sizeof(notes);
    if (read_at(fd, notes, size, off) < 0)
        return -1;
    size_t pos = 0;
    while (pos + sizeof(Elf64_Nhdr) <= size) {
        Elf64_Nhdr nh;
        memcpy(&nh, notes + pos, sizeof(nh));
        size_t name = pos + sizeof(nh);
        size_t desc = name + ((nh.n_namesz + 3u) & ~3u);
        size_t next = desc + ((nh.n_descsz + 3u) & ~3u);
        if (nh.n_namesz > size || nh.n_descsz > size || next > size || next <= pos)
            return -1;
        if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
            memcmp(notes + name, "GNU", 4) == 0 && nh.n_descsz > 0) {
            to_hex(notes + desc, nh.n_descsz, hex, hexsize);
            return hex[0] != '\0' ? 0 : -1;
        }
        pos = next;
    }
    return -1;
}

/* The build-id of the executable process PID runs, as lower-case hex ("" if none). */
void identity_read(pid_t pid, char *hex, size_t size)
{
    hex[0] = '\0';
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    Elf64_Ehdr eh;
    if (read_at(fd, &eh, sizeof(eh), 0) == 0 && memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 &&
        eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_ident[EI_DATA] == ELFDATA2LSB &&
        eh.e_phentsize == sizeof(Elf64_Phdr) && eh.e_phnum <= MAX_PHDRS) {
        Elf64_Phdr ph[MAX_PHDRS];
        if (read_at(fd, ph, eh.e_phnum * sizeof(Elf64_Phdr), (off_t)eh.e_phoff) == 0)
            for (int i = 0; i < eh.e_phnum; i++)
                if (ph[i].p_type == PT_NOTE &&
                    note_build_id(fd, (off_t)ph[i].p_offset, ph[i].p_filesz, hex, size) == 0)
                    break;
    }
    close(fd);
}

/* Whether a program (EXE, build-id ID) is the one WANT_EXE / WANT_ID names: the same path,
 * or the same non-empty build-id. */
int identity_matches(const char *exe, const char *id, const char *want_exe, const char *want_id)
{
    if (want_exe != NULL && strcmp(exe, want_exe) == 0)
        return 1;
    return want_id != NULL && want_id[0] != '\0' && id[0] != '\0' && strcmp(id, want_id) == 0;
}
