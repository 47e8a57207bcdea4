"""Leases: a process's claim on a data dir, found dead the moment the process is gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from docchat.tasks import leases
from docchat.tasks.leases import RUN_DIR, SPOOL_DIR, Lease

AbandonLease = Callable[[Path], str]

# Takes a lease, puts a file in its spool, says its id, then waits to be killed.
_HOLDER = """
import sys, time
from pathlib import Path
from docchat.tasks.leases import Lease
lease = Lease(Path(sys.argv[1]))
lease.spool.mkdir(parents=True)
(lease.spool / "upload-partial").write_bytes(b"x" * 100_000)
print(lease.id, flush=True)
time.sleep(600)
"""


def files_under(folder: Path) -> list[Path]:
    """Every file below ``folder``."""
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_a_killed_process_lease_is_dead_at_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(data_dir)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        lease_id = child.stdout.readline().strip()
        assert lease_id, "the lease holder died before taking its lease"
        ours = Lease(data_dir)
        assert ours.state(lease_id) == "live"
        assert ours.dead() == []
        ours.reap(ours.dead())
        assert (data_dir / SPOOL_DIR / lease_id / "upload-partial").exists()

        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        assert ours.state(lease_id) == "dead"
        assert ours.dead() == [lease_id]
        assert ours.reap([lease_id]) == 1
        assert not (data_dir / SPOOL_DIR / lease_id).exists()
        assert ours.state(lease_id) == "unknown"  # its lock file is gone too
        assert ours.dead() == []
        ours.release()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()


def test_reap_keeps_live_leases_and_deletes_what_nobody_owns(
    tmp_path: Path, abandoned_lease: AbandonLease
) -> None:
    data_dir = tmp_path / "data"
    other = Lease(data_dir)  # another live process on the same data dir
    other.spool.mkdir(parents=True)
    (other.spool / "upload-live").write_bytes(b"being received")
    dead = abandoned_lease(data_dir)
    orphan = data_dir / SPOOL_DIR / str(uuid.uuid4())  # its lock file deleted by hand
    orphan.mkdir(parents=True)
    (orphan / "upload-orphan").write_bytes(b"no owner")
    loose = data_dir / SPOOL_DIR / "upload-loose"  # older versions: judged by age elsewhere
    loose.write_bytes(b"legacy")
    stray = data_dir / SPOOL_DIR / "not-a-lease"
    stray.mkdir()
    # Lock files half made: by a process killed long ago, and by one starting right now.
    killed, starting = (data_dir / RUN_DIR / f"{uuid.uuid4()}.new" for _ in range(2))
    killed.write_text("")
    starting.write_text("")
    os.utime(killed, (time.time() - 3600, time.time() - 3600))

    ours = Lease(data_dir)
    assert ours.state(other.id) == "live"
    assert ours.state(ours.id) == "live"  # even a probe from its own process sees it held
    assert ours.state(dead) == "dead"
    assert ours.state(None) == "unknown"
    assert ours.state("../../etc/passwd") == "unknown"
    assert ours.dead() == [dead]

    assert ours.reap(ours.dead()) == 2
    assert set(files_under(data_dir / SPOOL_DIR)) == {loose, other.spool / "upload-live"}
    assert stray.is_dir()
    assert sorted(p.name for p in (data_dir / RUN_DIR).iterdir()) == sorted(
        [f"{other.id}.lock", f"{ours.id}.lock", starting.name]
    )
    starting.unlink()

    other.release()
    assert not other.spool.exists()
    assert ours.state(other.id) == "unknown"
    ours.release()
    ours.release()  # twice is harmless
    assert list((data_dir / RUN_DIR).iterdir()) == []


def test_reap_never_deletes_its_own_lease(tmp_path: Path) -> None:
    ours = Lease(tmp_path)
    ours.spool.mkdir(parents=True)
    (ours.spool / "upload-mine").write_bytes(b"mine")
    assert ours.reap([ours.id]) == 0
    assert (ours.spool / "upload-mine").exists()
    ours.release()


def test_without_fcntl_spooled_files_go_by_age(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, abandoned_lease: AbandonLease
) -> None:
    monkeypatch.setattr(leases, "fcntl", None)
    data_dir = tmp_path / "data"
    other = Lease(data_dir)
    dead = abandoned_lease(data_dir)
    old = data_dir / SPOOL_DIR / dead / "upload-abc"
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(old, (two_days_ago, two_days_ago))
    fresh = data_dir / SPOOL_DIR / dead / "upload-fresh"
    fresh.write_bytes(b"maybe still being read")

    ours = Lease(data_dir)
    assert ours.state(other.id) == "unknown"
    assert ours.state(dead) == "unknown"
    assert ours.dead() == []
    assert ours.reap(ours.dead()) == 1
    assert files_under(data_dir / SPOOL_DIR) == [fresh]
    other.release()
    ours.release()
