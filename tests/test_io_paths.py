"""Where saves go: stale temporaries of killed writers, bad paths, symlinks, read-only files."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import protoflow
from protoflow import io
from protoflow.errors import PersistenceError

ROOT = Path(__file__).resolve().parents[1]


def _model(seed: int = 0) -> protoflow.PrototypeSet:
    W = np.random.default_rng(seed).normal(size=(6, 3))
    return protoflow.PrototypeSet(W, protoflow.Lattice(2, 3))


def _dead_pid() -> int:
    """The process id of a process that has exited (and been reaped)."""
    proc = subprocess.run([sys.executable, "-c", "pass"], check=True)
    assert proc.returncode == 0
    pid = subprocess.Popen([sys.executable, "-c", "pass"])
    pid.wait()
    return pid.pid


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# -- stale temporary files ------------------------------------------------------------------


def test_temp_names_carry_the_writers_pid(tmp_path, monkeypatch) -> None:
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append(Path(src).name)
        return real_replace(src, dst)

    monkeypatch.setattr(io.os, "replace", spy)
    protoflow.save(_model(), tmp_path / "m.npz")
    assert len(seen) == 1
    assert io._temp_pattern("m.npz").match(seen[0])["pid"] == str(os.getpid())
    assert seen[0].startswith(f".m.npz.pf{os.getpid()}-{io._host_tag()}.")


def test_next_save_removes_stale_temporaries_only(tmp_path) -> None:
    dead, host = _dead_pid(), io._host_tag()
    stale = [
        f".m.npz.pf{dead}-{host}.abcd1234.tmp",  # its writer is gone
        ".m.npz.old_name.tmp",  # legacy name (no pid), not modified for an hour
    ]
    kept = [
        f".m.npz.pf{os.getpid()}-{host}.live1234.tmp",  # a live writer (this process)
        f".m.npz.pf{dead}-00000000.other123.tmp",  # another host's: cannot be checked
        ".m.npz.fresh123.tmp",  # legacy name, modified just now
        f".other.npz.pf{dead}-{host}.abcd1234.tmp",  # another target's
        "m.npz.notes.tmp",  # not hidden: not ours
        ".m.npz.notes.tmp",  # not 8 random characters: not ours either
    ]
    for name in stale + kept:
        (tmp_path / name).write_bytes(b"x" * 1000)
    hour_ago = time.time() - 3600
    for name in (".m.npz.old_name.tmp", ".m.npz.notes.tmp", "m.npz.notes.tmp"):
        os.utime(tmp_path / name, (hour_ago, hour_ago))
    assert _temps(tmp_path) == sorted(stale + kept)
    protoflow.save(_model(), tmp_path / "m.npz")
    assert _temps(tmp_path) == sorted(kept)
    assert protoflow.load(tmp_path / "m.npz").prototypes_.shape == (6, 3)


def test_remove_stale_temp_files_reports_what_it_removed(tmp_path) -> None:
    dead, host = _dead_pid(), io._host_tag()
    (tmp_path / f".a.json.pf{dead}-{host}.zzzzzzzz.tmp").write_text("{")
    removed = io.remove_stale_temp_files(tmp_path / "a.json")
    assert [p.name for p in removed] == [f".a.json.pf{dead}-{host}.zzzzzzzz.tmp"]
    assert io.remove_stale_temp_files(tmp_path / "a.json") == []
    assert io.remove_stale_temp_files(tmp_path / "missing-folder" / "a.json") == []


_WRITER = textwrap.dedent(
    """
    import os, sys, time
    import numpy as np
    import protoflow
    from protoflow import io

    real_fdopen = os.fdopen

    class Stalling:
        # writes half of the bytes, says so, then hangs until killed
        def __init__(self, fh):
            self.fh = fh
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            self.fh.close()
        def write(self, data):
            self.fh.write(data[: len(data) // 2])
            self.fh.flush()
            print("HALF", flush=True)
            time.sleep(120)
        def __getattr__(self, name):
            return getattr(self.fh, name)

    io.os.fdopen = lambda fd, mode: Stalling(real_fdopen(fd, mode))
    W = np.random.default_rng(1).normal(size=(50_000, 4))
    protoflow.save(protoflow.PrototypeSet(W), sys.argv[1])
    """
)


def test_sigkill_mid_write_leaves_a_temporary_that_the_next_save_removes(tmp_path) -> None:
    target = tmp_path / "m.npz"
    protoflow.save(_model(), target)
    before = target.read_bytes()
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, str(script), str(target)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    try:
        line = proc.stdout.readline()  # blocks until half the bytes are on disk
        assert line.strip() == b"HALF", proc.stderr.read().decode()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    leftovers = _temps(tmp_path)
    assert len(leftovers) == 1 and f".pf{proc.pid}-" in leftovers[0]
    assert (tmp_path / leftovers[0]).stat().st_size > 500_000  # half of 1.6 MB: the waste
    assert target.read_bytes() == before  # the old file survived
    protoflow.save(_model(1), target)  # the next save cleans up
    assert _temps(tmp_path) == []
    np.testing.assert_array_equal(protoflow.load(target).prototypes_, _model(1).prototypes_)


def test_failed_write_leaves_no_temporary_and_keeps_the_old_file(tmp_path, monkeypatch) -> None:
    path = protoflow.save(_model(), tmp_path / "m.npz")
    before = path.read_bytes()

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(io.os, "fsync", disk_full)
    with pytest.raises(PersistenceError, match="No space left") as info:
        protoflow.save(_model(1), path)
    assert info.value.errno == errno.ENOSPC and str(path) in str(info.value)
    assert "free space" in str(info.value)
    assert path.read_bytes() == before and _temps(tmp_path) == []


# -- bad paths ------------------------------------------------------------------------------


def test_empty_path_is_refused() -> None:
    for call in (lambda: protoflow.save(_model(), ""), lambda: io.atomic_write_text("", "x")):
        with pytest.raises(PersistenceError, match="path is empty") as info:
            call()
        assert isinstance(info.value, OSError) and "model.npz" in str(info.value)


def test_parent_that_is_a_file(tmp_path) -> None:
    blocker = tmp_path / "notes.txt"
    blocker.write_text("hello")
    with pytest.raises(PersistenceError, match="is a file, not a folder") as info:
        protoflow.save(_model(), blocker / "m.npz")
    assert str(blocker / "m.npz") in str(info.value) and isinstance(info.value, OSError)
    assert info.value.errno in (errno.EEXIST, errno.ENOTDIR)
    assert blocker.read_text() == "hello"


def test_target_that_is_a_folder(tmp_path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(PersistenceError, match="it is a folder") as info:
        protoflow.save(_model(), folder)
    assert str(folder / "model.npz") in str(info.value)  # what to do
    (tmp_path / "out.npz").mkdir()
    with pytest.raises(PersistenceError, match="it is a folder"):
        protoflow.save(_model(), tmp_path / "out.npz")
    with pytest.raises(PersistenceError, match="it is a folder"):
        io.atomic_write_text(folder, "{}")
    assert list(folder.iterdir()) == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root writes into read-only folders; the next test simulates it")
def test_read_only_folder(tmp_path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(PersistenceError, match="cannot be created in its folder") as info:
            protoflow.save(_model(), folder / "m.npz")
        assert info.value.errno == errno.EACCES
    finally:
        folder.chmod(0o755)


def test_unwritable_folder_simulated(tmp_path, monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path))

    monkeypatch.setattr(io.tempfile, "mkstemp", refuse)
    with pytest.raises(PersistenceError) as info:
        protoflow.save(_model(), tmp_path / "m.npz")
    msg = str(info.value)
    assert str(tmp_path / "m.npz") in msg and "Permission denied" in msg
    assert "Choose a folder you can write" in msg and info.value.errno == errno.EACCES
    with pytest.raises(OSError):  # callers catching OSError keep working
        protoflow.save(_model(), tmp_path / "m.npz")


def test_read_only_target_is_refused(tmp_path) -> None:
    path = protoflow.save(_model(), tmp_path / "m.npz")
    before = path.read_bytes()
    path.chmod(0o444)
    try:
        with pytest.raises(PersistenceError, match="read-only") as info:
            protoflow.save(_model(1), path)
        assert f"chmod u+w {path}" in str(info.value)
        assert path.read_bytes() == before and _temps(tmp_path) == []
    finally:
        path.chmod(0o644)
    protoflow.save(_model(1), path)  # writable again: replaced
    assert path.read_bytes() != before


# -- symbolic links -------------------------------------------------------------------------


@pytest.mark.skipif(os.name != "posix", reason="symbolic links")
def test_saving_over_a_symlink_writes_through_to_its_target(tmp_path) -> None:
    real = tmp_path / "store" / "real.npz"
    protoflow.save(_model(), real)
    link = tmp_path / "current.npz"
    link.symlink_to(real)
    protoflow.save(_model(1), link)
    assert link.is_symlink() and link.resolve() == real.resolve()
    np.testing.assert_array_equal(protoflow.load(real).prototypes_, _model(1).prototypes_)
    assert _temps(tmp_path) == [] and _temps(real.parent) == []
    # a relative link, and a link to a link, resolve the same way
    rel = tmp_path / "rel.npz"
    rel.symlink_to(Path("store") / "real.npz")
    chain = tmp_path / "chain.npz"
    chain.symlink_to(rel)
    protoflow.save(_model(2), chain)
    assert chain.is_symlink() and rel.is_symlink()
    np.testing.assert_array_equal(protoflow.load(real).prototypes_, _model(2).prototypes_)


@pytest.mark.skipif(os.name != "posix", reason="symbolic links")
def test_dangling_and_looping_symlinks(tmp_path) -> None:
    dangling = tmp_path / "d.npz"
    dangling.symlink_to(tmp_path / "made" / "target.npz")
    protoflow.save(_model(), dangling)
    assert dangling.is_symlink() and (tmp_path / "made" / "target.npz").is_file()
    loop_a, loop_b = tmp_path / "a.npz", tmp_path / "b.npz"
    loop_a.symlink_to(loop_b)
    loop_b.symlink_to(loop_a)
    with pytest.raises(PersistenceError, match="symbolic link") as info:
        protoflow.save(_model(), loop_a)
    assert str(loop_a) in str(info.value)
