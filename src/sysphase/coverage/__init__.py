"""``sysphase coverage``: the syscalls a program can reach from its code, against a recording.

Like the static tools (sysfilter, Confine, B-Side), from the code on disk:
the functions an executable imports, followed through its libraries (libc,
ld.so and the others it needs) by disassembly (capstone) along direct calls
and jumps and by name through each library's PLT, plus the program's own
``syscall`` instructions and constant ``syscall(2)`` numbers. Every module
takes bytes and is pure; :mod:`sysphase._host.program_code` reads the files
(for ``coverage``, ``policy --explain`` and ``--allow-reachable``, ``stats
--coverage``).

- :mod:`~sysphase.coverage.scan`: constants in registers along the code;
- :mod:`~sysphase.coverage.plt`: PLT stubs and GOT slots to imported names;
- :mod:`~sysphase.coverage.library_reach`: per library function, what it reaches there;
- :mod:`~sysphase.coverage.linking`: names followed from library to library;
- :mod:`~sysphase.coverage.binary_reach`: an executable's imports and own syscalls;
- :mod:`~sysphase.coverage.program`: the two joined, as syscall names per source;
- :mod:`~sysphase.coverage.report`: seen / reachable-not-seen / beyond a policy;
- :mod:`~sysphase.coverage.marks`: ``policy --explain``'s seen / reachable / added;
- :mod:`~sysphase.coverage.ratio`: ``stats --coverage``'s seen-of-reachable counts.

docs/coverage.md gives the method, its limits and measured numbers.
"""
