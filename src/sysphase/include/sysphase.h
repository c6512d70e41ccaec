/* sysphase.h: mark a phase boundary from a C program.
 *
 *     #include <sysphase.h>
 *     ...
 *     SYSPHASE_MARK("serve");   // from here on, this process is in phase "serve"
 *
 * Under `sysphase record` or `sysphase trace`, the tracer sees the call at its
 * entry, starts the named phase for the whole process (every thread) and
 * does not count the call itself. Without sysphase it is one write(2) to an
 * invalid descriptor that fails at once with EBADF: harmless and cheap.
 * Names longer than 63 bytes are cut. (`python -c "import sysphase, os;
 * print(os.path.dirname(sysphase.__file__) + '/include')"` gives the -I path.)
 */
#ifndef SYSPHASE_H
#define SYSPHASE_H

#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SYSPHASE_MARKER_FD (-21328)
#define SYSPHASE_MARK(name)                                                                        \
    ((void)syscall(SYS_write, (long)SYSPHASE_MARKER_FD, (name), strlen(name)))

#endif
