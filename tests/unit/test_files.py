"""sysphase._host.files: outputs that never destroy, inputs that are bounded (issue 11, 6 and 7).

Real files in tmp_path: regular files, symlinks, hard links, FIFOs (os.mkfifo),
a UNIX socket, /dev/null and /dev/zero (written and read as they are, never
replaced), /dev/fd/N. No device node is created.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sysphase._host import files
from sysphase.errors import PolicyInvalid, ProfileInvalid, UsageError


@pytest.fixture
def no_hang() -> Iterator[None]:
    """Fail (SIGALRM) instead of hanging when a read would block on a FIFO."""

    def expired(signum: int, frame: object) -> None:
        raise AssertionError("blocked: the read waited for a FIFO's writer")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(10)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.startswith(".sysphase-")]


# --- writing: regular files and new paths are replaced atomically ---------------------------


def test_a_new_file_gets_0666_less_the_umask(tmp_path: Path, umask_022: None) -> None:
    out = tmp_path / "new.json"
    files.write_atomic(str(out), "{}")
    assert out.read_text() == "{}\n"
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    os.umask(0o077)
    other = tmp_path / "private.json"
    files.write_bytes_atomic(str(other), b"x")
    assert stat.S_IMODE(other.stat().st_mode) == 0o600
    assert leftovers(tmp_path) == []


def test_a_replaced_file_keeps_its_mode_and_gets_a_new_inode(tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    out.write_text("old, and longer than the new text\n")
    out.chmod(0o640)
    inode = out.stat().st_ino
    files.write_atomic(str(out), "new")
    assert out.read_text() == "new\n"
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert out.stat().st_ino != inode  # renamed over, never half-written
    assert leftovers(tmp_path) == []


def test_set_id_bits_are_not_kept(tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    out.write_text("old")
    out.chmod(0o6755)
    files.write_atomic(str(out), "new")
    assert stat.S_IMODE(out.stat().st_mode) == 0o755


def test_a_symlink_to_a_regular_file_stays_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "p.json"
    target.write_text("old")
    target.chmod(0o600)
    link = tmp_path / "link.json"
    link.symlink_to("real/p.json")
    files.write_atomic(str(link), "new")
    assert link.is_symlink() and os.readlink(link) == "real/p.json"
    assert target.read_text() == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert leftovers(tmp_path) == [] and leftovers(tmp_path / "real") == []


def test_a_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "link.json"
    link.symlink_to("made.json")
    files.write_atomic(str(link), "x")
    assert link.is_symlink() and (tmp_path / "made.json").read_text() == "x\n"


def test_dot_dot_after_a_symlink_is_the_links_parent(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "lb").symlink_to("a/b")
    files.write_atomic(str(tmp_path / "lb" / ".." / "up.json"), "x")
    assert (tmp_path / "a" / "up.json").read_text() == "x\n"  # as open() would
    assert not (tmp_path / "up.json").exists()


def test_the_owner_is_kept_as_root(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root can give a file to another user")
    out = tmp_path / "p.json"
    out.write_text("old")
    os.chown(out, 12345, 23456)
    files.write_atomic(str(out), "new")
    assert (out.stat().st_uid, out.stat().st_gid) == (12345, 23456)


# --- writing: everything else is written into, never replaced -------------------------------


def test_dev_null_stays_a_character_device() -> None:
    before = os.stat("/dev/null")
    assert stat.S_ISCHR(before.st_mode)
    files.write_atomic("/dev/null", "a profile nobody keeps")
    files.write_bytes_atomic("/dev/null", b"\0" * 100_000)
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode)
    assert (after.st_ino, after.st_rdev, after.st_mode) == (
        before.st_ino,
        before.st_rdev,
        before.st_mode,
    )
    assert leftovers(Path("/dev")) == []


def test_a_fifo_is_written_into(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    data = b"x" * 300_000  # more than a pipe holds
    files.write_bytes_atomic(str(fifo), data)
    reader.join(10)
    assert got == [data]
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert leftovers(tmp_path) == []


def test_a_socket_is_refused_naming_it_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        with pytest.raises(UsageError, match=rf"^cannot write {path}: "):
            files.write_atomic(str(path), "x")
    assert stat.S_ISSOCK(path.stat().st_mode)
    assert leftovers(tmp_path) == []


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=rf"^cannot write {tmp_path}: Is a directory$"):
        files.write_atomic(str(tmp_path), "x")
    assert leftovers(tmp_path) == []


def test_a_magic_link_to_a_regular_file_is_appended_to(tmp_path: Path) -> None:
    out = tmp_path / "shell.out"
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, b"header\n")  # { echo header; sysphase ... -o /dev/stdout; } > shell.out
        inode = out.stat().st_ino
        files.write_atomic(f"/dev/fd/{fd}", "one")
        files.write_atomic(f"/proc/self/fd/{fd}", "two")
        assert out.read_text() == "header\none\ntwo\n"
        assert out.stat().st_ino == inode == os.fstat(fd).st_ino  # the shell's file, not a copy
    finally:
        os.close(fd)
    assert leftovers(tmp_path) == []


def test_a_link_through_proc_to_a_directory_is_a_path(tmp_path: Path) -> None:
    # /proc/self/cwd is a magic link, but to a directory: the file in it is replaced normally
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        (tmp_path / "p.json").write_text("old")
        files.write_atomic("/proc/self/cwd/p.json", "new")
    finally:
        os.chdir(old)
    assert (tmp_path / "p.json").read_text() == "new\n"
    assert leftovers(tmp_path) == []


def test_dash_is_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    files.write_atomic("-", "text")
    assert capsys.readouterr().out == "text\n"


# --- writing: errors name the output, the temporary file never survives ---------------------


def test_a_failed_write_names_the_output_and_removes_the_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "p.json"
    out.write_text("the old text")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(UsageError) as err:
        files.write_atomic(str(out), "new")
    assert str(err.value) == f"cannot write {out}: No space left on device"
    assert ".sysphase-" not in str(err.value)
    assert out.read_text() == "the old text"
    assert leftovers(tmp_path) == []


def test_a_failed_rename_removes_the_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "p.json"

    def busy(src: str, dst: str) -> None:
        raise OSError(errno.EBUSY, os.strerror(errno.EBUSY))

    monkeypatch.setattr(os, "replace", busy)
    with pytest.raises(UsageError, match=rf"^cannot write {out}: Device or resource busy$"):
        files.write_bytes_atomic(str(out), b"x")
    assert not out.exists() and leftovers(tmp_path) == []


def test_a_missing_directory_names_the_output(tmp_path: Path) -> None:
    out = tmp_path / "nope" / "p.json"
    with pytest.raises(UsageError, match=rf"^cannot write {out}: No such file or directory$"):
        files.write_atomic(str(out), "x")


def test_an_interrupted_write_removes_the_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        files.write_atomic(str(tmp_path / "p.json"), "x")
    assert list(tmp_path.iterdir()) == []


# --- an output that is an input -------------------------------------------------------------


def test_the_same_file_is_refused_however_it_is_named(tmp_path: Path) -> None:
    p = tmp_path / "p.json"
    p.write_text("input")
    (tmp_path / "hard.json").hardlink_to(p)
    (tmp_path / "soft.json").symlink_to("p.json")
    for output in (str(p), str(tmp_path / "." / "p.json"), str(tmp_path / "hard.json")):
        with pytest.raises(UsageError, match="never modifies the original") as err:
            files.refuse_overwriting_inputs(output, ["other.json", str(p)], f"-o {output}")
        assert str(err.value).startswith(f"-o {output} is the input {p}")
    with pytest.raises(UsageError, match=r"is the input .*hard\.json \(the same file\)"):
        files.refuse_overwriting_inputs(
            str(tmp_path / "soft.json"), [str(tmp_path / "hard.json")], "-o x"
        )
    assert p.read_text() == "input"


def test_other_outputs_are_fine(tmp_path: Path) -> None:
    p = tmp_path / "p.json"
    p.write_text("input")
    (tmp_path / "copy.json").write_text("input")
    files.refuse_overwriting_inputs(str(tmp_path / "copy.json"), [str(p)], "-o copy.json")
    files.refuse_overwriting_inputs(str(tmp_path / "new.json"), [str(p)], "-o new.json")
    files.refuse_overwriting_inputs("-", [str(p), "-"], "-o -")
    files.refuse_overwriting_inputs(str(p), [str(tmp_path / "missing.json")], "-o p.json")


# --- reading: regular files only, bounded ---------------------------------------------------


def test_a_regular_file_is_read_whole(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"abc" * 1_000_000)  # more than one read chunk
    assert files.read_bytes_bounded(str(p), 3_000_000, "a file") == b"abc" * 1_000_000
    (tmp_path / "empty").write_bytes(b"")
    assert files.read_bytes_bounded(str(tmp_path / "empty"), 10, "a file") == b""


def test_the_limit_is_inclusive_and_named(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"x" * 2048)
    assert files.read_bytes_bounded(str(p), 2048, "a thing") == b"x" * 2048
    with pytest.raises(UsageError, match=rf"^{p} is larger than 1 KiB, the limit for a thing$"):
        files.read_bytes_bounded(str(p), 1024, "a thing")
    with pytest.raises(
        UsageError, match=rf"^{p} is larger than 2047 bytes, the limit for a thing$"
    ):
        files.read_bytes_bounded(str(p), 2047, "a thing")


def test_proc_files_of_size_zero_are_read_up_to_the_limit() -> None:
    assert b"Name:" in files.read_bytes_bounded("/proc/self/status", 1 << 20, "a file")
    with pytest.raises(UsageError, match=r"larger than 10 bytes, the limit for a file$"):
        files.read_bytes_bounded("/proc/self/status", 10, "a file")


@pytest.mark.parametrize(
    ("path", "kind"), [("/dev/zero", "character device"), ("/dev/null", "character device")]
)
def test_devices_are_refused(path: str, kind: str) -> None:
    with pytest.raises(UsageError, match=rf"^{path} is a {kind}, not a JSON profile$"):
        files.read_bytes_bounded(path, files.TEXT_LIMIT, "a JSON profile")


def test_a_fifo_is_refused_without_waiting(tmp_path: Path, no_hang: None) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ProfileInvalid, match=rf"^{fifo} is a FIFO, not a JSON profile$"):
        files.read_profile(str(fifo))
    with pytest.raises(PolicyInvalid, match=rf"^{fifo} is a FIFO, not a JSON policy$"):
        files.read_policy(str(fifo))
    with pytest.raises(UsageError, match=r"is a FIFO, not a program$"):
        files.read_bytes_bounded(str(fifo), files.BINARY_LIMIT, "a program")


def test_a_fifo_swapped_in_after_the_stat_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_hang: None
) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    regular = tmp_path / "regular"
    regular.write_text("x")
    real_stat = os.stat

    def stale_stat(path: object, *args: object, **kwargs: object) -> os.stat_result:
        # what stat() saw before the file was replaced by a FIFO
        return real_stat(regular if str(path) == str(fifo) else path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stale_stat)
    with pytest.raises(UsageError, match=rf"^{fifo} is a FIFO, not a file$"):
        files.read_bytes_bounded(str(fifo), 100, "a file")


def test_directories_sockets_and_missing_files_are_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(ProfileInvalid, match=rf"^{tmp_path} is a directory, not a JSON profile$"):
        files.read_profile(str(tmp_path))
    with pytest.raises(ProfileInvalid, match=r"^.*nope\.json: no such file$"):
        files.read_profile(str(tmp_path / "nope.json"))
    path = tmp_path / "sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        with pytest.raises(PolicyInvalid, match=r"is a socket, not a JSON policy$"):
            files.read_policy(str(path))


def test_too_big_profiles_and_policies_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "TEXT_LIMIT", 1024)
    p = tmp_path / "big.json"
    p.write_bytes(b" " * 1025)
    with pytest.raises(ProfileInvalid, match=rf"^{p} is larger than 1 KiB, the limit for a JSON"):
        files.read_profile(str(p))
    with pytest.raises(PolicyInvalid, match=rf"^{p} is larger than 1 KiB, the limit for a JSON"):
        files.read_policy(str(p))


def test_the_documented_limits() -> None:
    assert files.TEXT_LIMIT == 64 * 1024 * 1024
    assert files.BINARY_LIMIT == 1024 * 1024 * 1024
    doc = (Path(__file__).resolve().parents[2] / "docs/formats/profile.md").read_text()
    assert "64 MiB" in doc and "1 GiB" in doc


def test_text_must_be_utf8(tmp_path: Path) -> None:
    p = tmp_path / "p.json"
    p.write_bytes(b"\xff\xfe{}")
    with pytest.raises(ProfileInvalid, match=r"not a text file \(expected a JSON profile\)$"):
        files.read_profile(str(p))
