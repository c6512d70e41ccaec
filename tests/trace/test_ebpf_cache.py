"""The eBPF object is loaded only if only this user (root) could have written it.

A planted object decides what root loads into the kernel. Here the cache
holds garbage that libbpf could never load, planted in every way the checks
must catch: world- or group-writable, owned by another uid, a symbolic link
to it, a symbolic link for the cache directory, a cache directory others
can write. None is ever loaded: the trace still counts exactly (the garbage
would fail to load), a planted object in a trusted cache is rebuilt over, an
untrusted cache is left alone and the object built into a private directory
for the run, and each says why on stderr. A trusted cache is reused
without a rebuild. Needs root (and what the eBPF backend needs).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from sysphase._host import ebpf, ebpf_object
from sysphase.errors import TracerError
from sysphase.model.tree import totals
from tests.conftest import TRACEE_ENV, need_ebpf

GARBAGE = b"planted: not a BPF object, libbpf could never load this\n" * 64


@pytest.fixture(scope="module", autouse=True)
def _ebpf_available() -> None:
    need_ebpf()


@pytest.fixture
def cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The cache directory (not yet created) of an empty $XDG_CACHE_HOME."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "sysphase"


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per build of the object."""
    done: list[int] = []
    real: Callable[[], bytes] = ebpf_object._build

    def counted() -> bytes:
        done.append(1)
        return real()

    monkeypatch.setattr(ebpf_object, "_build", counted)
    return done


def name() -> str:
    return ebpf_object._object_name()


def counts_exactly(markers: str) -> None:
    """A run loads the object and counts what the markers program makes: 3 getppid, 2 fchdir."""
    result = ebpf.trace_command([markers, "3", "2"], env=TRACEE_ENV)
    assert result.exit_status == 0
    table = {t.name: (t.calls, t.errors) for t in totals(result.tree.counts)}
    assert table["getppid"] == (3, 0) and table["fchdir"] == (2, 2)


def plant(path: Path, mode: int = 0o600, uid: int = 0) -> None:
    path.unlink(missing_ok=True)
    path.write_bytes(GARBAGE)
    os.chown(path, uid, -1)
    os.chmod(path, mode)


def test_the_cache_is_private_and_reused(
    cache: Path, builds: list[int], fx: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    path = ebpf.object_path()
    assert path == cache / name() and builds == [1]
    st_dir, st_obj = os.lstat(cache), os.lstat(path)
    assert stat.S_IMODE(st_dir.st_mode) == 0o700 and st_dir.st_uid == os.geteuid()
    assert stat.S_IMODE(st_obj.st_mode) == 0o600 and stat.S_ISREG(st_obj.st_mode)
    inode = st_obj.st_ino
    assert ebpf.object_path() == path
    counts_exactly(fx["markers"])
    assert builds == [1] and os.lstat(path).st_ino == inode  # reused, never rebuilt
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("mode", "uid", "why"),
    [
        (0o666, 0, "writable by its group and others (mode 0666)"),
        (0o620, 0, "writable by its group (mode 0620)"),
        (0o600, 65534, "owned by uid 65534, not 0"),
    ],
)
def test_a_planted_object_is_rebuilt_never_loaded(
    cache: Path,
    builds: list[int],
    fx: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    mode: int,
    uid: int,
    why: str,
) -> None:
    path = ebpf.object_path()
    plant(path, mode, uid)
    with pytest.raises(TracerError) as err:  # the loader itself refuses it
        ebpf.read_object(path)
    assert str(err.value) == f"refusing to load the eBPF object {path}: {why}"
    assert ebpf.object_path() == path and builds == [1, 1]
    assert capsys.readouterr().err == (
        f"sysphase: warning: not loading {path}: {why}; rebuilding it\n"
    )
    st = os.lstat(path)
    assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o600, 0)
    assert path.read_bytes() != GARBAGE
    counts_exactly(fx["markers"])


def test_a_symlinked_object_is_not_followed(
    cache: Path, builds: list[int], fx: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    path = ebpf.object_path()
    target = cache.parent / "elsewhere.o"
    plant(target)  # root's own file, 0600: only the link is wrong
    path.unlink()
    path.symlink_to(target)
    with pytest.raises(TracerError) as err:
        ebpf.read_object(path)
    assert str(err.value) == f"refusing to load the eBPF object {path}: a symbolic link"
    assert ebpf.object_path() == path
    assert "a symbolic link; rebuilding it" in capsys.readouterr().err
    assert not path.is_symlink() and path.read_bytes() != GARBAGE
    assert target.read_bytes() == GARBAGE  # the link's target was not written either
    counts_exactly(fx["markers"])


def _untrusted_cache_is_left_alone(
    cache: Path, why: str, fx: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    path = ebpf.object_path()
    assert path.parent != cache and path.parent.name.startswith("sysphase-bpf-")
    assert stat.S_IMODE(os.lstat(path.parent).st_mode) == 0o700
    assert capsys.readouterr().err == (
        f"sysphase: warning: not using the eBPF object cache {cache}: {why}; "
        "building a private copy\n"
    )
    assert (cache / name()).read_bytes() == GARBAGE  # left as it is
    os.unlink(path)
    os.rmdir(path.parent)
    counts_exactly(fx["markers"])  # builds its own private copy, removed after loading
    assert (cache / name()).read_bytes() == GARBAGE


def test_a_symlinked_cache_directory_is_not_used(
    cache: Path, builds: list[int], fx: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    real = cache.parent / "real"
    real.mkdir(parents=True, mode=0o700)
    plant(real / name())  # looks right in every way but the way there
    cache.symlink_to(real)
    with pytest.raises(TracerError) as err:
        ebpf.read_object(cache / name())
    assert str(err.value) == (
        f"refusing to load the eBPF object {cache / name()}: its directory is a symbolic link"
    )
    _untrusted_cache_is_left_alone(cache, "a symbolic link", fx, capsys)


@pytest.mark.parametrize(
    ("mode", "uid", "why"),
    [
        (0o777, 0, "writable by its group and others (mode 0777)"),
        (0o1703, 0, "writable by others (mode 1703)"),
        (0o700, 65534, "owned by uid 65534, not 0"),
    ],
)
def test_a_cache_directory_others_can_write_is_not_used(
    cache: Path,
    builds: list[int],
    fx: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    mode: int,
    uid: int,
    why: str,
) -> None:
    cache.mkdir(parents=True)
    plant(cache / name())  # root's own file, 0600: but anyone could have put it there
    os.chown(cache, uid, -1)
    os.chmod(cache, mode)
    with pytest.raises(TracerError) as err:
        ebpf.read_object(cache / name())
    assert str(err.value) == (
        f"refusing to load the eBPF object {cache / name()}: its directory is {why}"
    )
    _untrusted_cache_is_left_alone(cache, why, fx, capsys)


def test_a_cache_path_that_is_a_file_is_not_used(
    cache: Path, builds: list[int], capsys: pytest.CaptureFixture[str]
) -> None:
    cache.parent.mkdir(parents=True)
    cache.write_bytes(GARBAGE)
    path = ebpf.object_path()
    assert path.parent.name.startswith("sysphase-bpf-") and builds == [1]
    assert capsys.readouterr().err == (
        f"sysphase: warning: not using the eBPF object cache {cache}: not a directory; "
        "building a private copy\n"
    )
    assert cache.read_bytes() == GARBAGE
    os.unlink(path)
    os.rmdir(path.parent)


def test_the_loader_checks_what_it_is_given(
    cache: Path, monkeypatch: pytest.MonkeyPatch, fx: dict[str, str]
) -> None:
    """Swapped after object_path() said where: the run refuses and starts nothing."""
    path = ebpf.object_path()
    monkeypatch.setattr(ebpf, "object_path", lambda: path)
    plant(path, 0o646)
    with pytest.raises(TracerError) as err:
        ebpf.trace_command([fx["markers"], "1", "0"], env=TRACEE_ENV)
    assert str(err.value) == (
        f"refusing to load the eBPF object {path}: writable by others (mode 0646)"
    )
