"""Leases: how a process claims files and tasks, so that whoever outlives it can clean up after it.

A process that receives uploads or runs tasks takes a lease: a random id and an exclusive
``flock`` on ``<data_dir>/run/<id>.lock``, held for the life of the process.  The kernel drops the
lock when the process ends, however it ends (SIGKILL included), so a lock file that can be locked
again belongs to a dead process.  The probe is exact and immediate, where a timestamp would have to
wait out a timeout and guess.  flock locks belong to an open file description, so a probe sees a
lease held even from the process that holds it.

What a lease owns: its spool folder ``<data_dir>/uploads/<id>/`` (files received, waiting for
their task) and the tasks recorded with its id (``docchat.tasks``).  A live process never
touches another live lease's files, so several server processes can share one data dir.

Where ``fcntl`` is missing (Windows) nothing can be known dead: lock files are written but never
locked, and spooled files are deleted once they are older than ``STALE_AFTER`` instead.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import shutil
import socket
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

#: Folder of the data dir holding one lock file per lease.
RUN_DIR = "run"
#: Folder of the data dir holding one spool folder per lease.
SPOOL_DIR = "uploads"
#: Without ``fcntl``: a spooled file this old belongs to a process that died.  So does a loose
#: upload file (``UPLOAD_PREFIX``) of a docchat before per-process spools, fcntl or not.
STALE_AFTER = dt.timedelta(hours=24)
#: How an upload's file is named in a spool (docchat.api.uploads).
UPLOAD_PREFIX = "upload-"
_LOCK_SUFFIX = ".lock"
_NEW_SUFFIX = ".new"
_NEW_GRACE_S = 60.0

#: ``live``: its process runs; ``dead``: its process ended without releasing it; ``unknown``: no
#: lock file here (another host's process, or one already cleaned up), or no ``fcntl`` to ask.
LeaseState = Literal["live", "dead", "unknown"]


class Lease:
    """This process's lease on a data dir, taken at construction and held until ``release``."""

    def __init__(self, data_dir: Path) -> None:
        self.id = str(uuid.uuid4())
        self.data_dir = data_dir
        self._run = data_dir / RUN_DIR
        self._run.mkdir(parents=True, exist_ok=True)
        # Locked under a temporary name, then renamed: a probe can never open <id>.lock, find it
        # unlocked in the instant before we lock it, and declare us dead.
        new = self._run / f"{self.id}{_NEW_SUFFIX}"
        fd = os.open(new, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            # For a person looking at the folder: whose lease this is.
            os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
            os.replace(new, self._lock_path(self.id))
        except BaseException:
            os.close(fd)
            new.unlink(missing_ok=True)
            raise
        self._fd: int | None = fd

    @property
    def spool(self) -> Path:
        """The folder for files this process received (made by whoever writes the first one)."""
        return self.data_dir / SPOOL_DIR / self.id

    def state(self, lease_id: str | None) -> LeaseState:
        """Whether the process holding ``lease_id`` on this data dir still runs."""
        if lease_id is None or fcntl is None or not _is_lease_id(lease_id):
            return "unknown"
        held = _held(self._lock_path(lease_id))
        if held is None:
            return "unknown"
        return "live" if held else "dead"

    def dead(self) -> list[str]:
        """The leases on this data dir whose processes ended without releasing them."""
        if fcntl is None:
            return []
        found = []
        for path in self._files(_LOCK_SUFFIX):
            if _held(path) is False:
                found.append(path.name.removesuffix(_LOCK_SUFFIX))
        return found

    def reap(self, dead: Iterable[str]) -> int:
        """Delete what dead leases owned, and spooled files no lease owns; returns how many files.

        Call with ids from ``dead()`` once their tasks are finished: the lock file goes last, so a
        process killed halfway through leaves the lease to be found dead again.
        """
        removed = 0
        for lease_id in dead:
            if _is_lease_id(lease_id) and lease_id != self.id:
                removed += _remove_tree(self.data_dir / SPOOL_DIR / lease_id)
                self._lock_path(lease_id).unlink(missing_ok=True)
        removed += self._reap_orphans()
        if removed:
            log.info("deleted %d file(s) left by stopped docchat processes", removed)
        return removed

    def release(self) -> None:
        """End the lease: delete its spool folder and lock file (the process is done with them)."""
        if self._fd is None:
            return
        _remove_tree(self.spool)
        self._lock_path(self.id).unlink(missing_ok=True)
        os.close(self._fd)  # closing drops the lock
        self._fd = None

    def _reap_orphans(self) -> int:
        removed = sweep_stale(self.data_dir / SPOOL_DIR)
        if fcntl is None:
            cutoff = time.time() - STALE_AFTER.total_seconds()
            for folder in self._spools():
                for path in folder.rglob("*"):
                    with contextlib.suppress(FileNotFoundError):
                        if path.is_file() and path.stat().st_mtime < cutoff:
                            path.unlink()
                            removed += 1
            return removed
        # A process killed between creating its lock file and renaming it into place.  Unlocked
        # for a moment in a live one too, before its flock: hence the minute of grace.
        cutoff = time.time() - _NEW_GRACE_S
        for path in self._files(_NEW_SUFFIX):
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < cutoff and _held(path) is False:
                    path.unlink()
        # A spool whose lock file is gone (say, deleted by hand): nobody can own it.
        for folder in self._spools():
            if _held(self._lock_path(folder.name)) is None:
                removed += _remove_tree(folder)
        return removed

    def _lock_path(self, lease_id: str) -> Path:
        return self._run / f"{lease_id}{_LOCK_SUFFIX}"

    def _files(self, suffix: str) -> list[Path]:
        with contextlib.suppress(FileNotFoundError):
            return [
                p
                for p in self._run.iterdir()
                if p.name.endswith(suffix) and _is_lease_id(p.name.removesuffix(suffix))
            ]
        return []

    def _spools(self) -> list[Path]:
        with contextlib.suppress(FileNotFoundError):
            return [
                p
                for p in (self.data_dir / SPOOL_DIR).iterdir()
                if _is_lease_id(p.name) and p.is_dir() and p.name != self.id
            ]
        return []


def sweep_stale(directory: Path, *, max_age_s: float = STALE_AFTER.total_seconds()) -> int:
    """Delete loose upload files older than ``max_age_s`` from ``directory``; returns how many.

    Those are from docchat versions before per-process upload folders, whose owner cannot be told
    alive or dead: a day's age is the sign, as it was then.
    """
    removed = 0
    cutoff = time.time() - max_age_s
    with contextlib.suppress(FileNotFoundError):
        for path in directory.glob(UPLOAD_PREFIX + "*"):
            with contextlib.suppress(FileNotFoundError):
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
    if removed:
        log.info("deleted %d stale upload(s) from %s", removed, directory)
    return removed


def _held(path: Path) -> bool | None:
    """Whether some process holds the lock on ``path``; None when there is no such file."""
    assert fcntl is not None
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    except OSError:  # not ours to open (another user's, say): never judge it dead
        log.warning("cannot open the lease file %s", path, exc_info=True)
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if not isinstance(exc, BlockingIOError):
            log.warning("cannot lock the lease file %s", path, exc_info=True)
        return True
    finally:
        os.close(fd)  # also drops the lock, if we got it
    return False


def _is_lease_id(name: str) -> bool:
    # Only names we could have made are ever turned into paths or deleted.
    try:
        return str(uuid.UUID(name)) == name
    except ValueError:
        return False


def _remove_tree(folder: Path) -> int:
    """Delete ``folder`` and everything in it; returns how many files went."""
    count = sum(1 for p in folder.rglob("*") if not p.is_dir()) if folder.is_dir() else 0
    shutil.rmtree(folder, ignore_errors=True)
    return count
