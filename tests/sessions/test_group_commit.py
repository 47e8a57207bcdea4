"""Group commit (SQLite): one append that fails inside a shared batch fails alone."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from docchat.config import Settings
from docchat.db import sqlite_time, utcnow
from docchat.sessions.append_sql import SQLITE_APPEND
from docchat.sessions.group_commit import GroupCommit
from docchat.sessions.store import SessionStore
from docchat.sessions.types import Message


@pytest.fixture
def sqlite_store(tmp_path: Any) -> Any:
    store = SessionStore.from_settings(
        Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'g.db'}")
    )
    yield store
    store.db.dispose()


def _wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_a_failing_append_does_not_fail_its_batch(sqlite_store: SessionStore) -> None:
    store = sqlite_store
    group = store._group
    assert isinstance(group, GroupCommit)
    sid = store.create().id
    results: dict[str, Message | BaseException] = {}

    def good(name: str) -> None:
        try:
            results[name] = store.append(sid, "user", name)
        except BaseException as exc:
            results[name] = exc

    def faulty() -> None:
        # A fault the boundary checks would normally stop: the driver cannot encode this text,
        # so the INSERT fails inside the shared transaction.
        params = {
            "sid": sid,
            "owner": None,
            "now": sqlite_time(utcnow()),
            "role": "user",
            "content": "bad \ud800 text",
            "meta": None,
            "refs": None,
        }
        try:
            results["faulty"] = group.append(SQLITE_APPEND.bump_any, SQLITE_APPEND.insert, params)  # type: ignore[assignment]
        except BaseException as exc:
            results["faulty"] = exc

    threads: list[threading.Thread] = []
    with store.db.writing():
        # The first append leads alone and waits for the lock we hold; everyone after it queues
        # and will share the next batch: three good appends, the faulty one, three more.
        leader = threading.Thread(target=good, args=("leader",))
        leader.start()
        threads.append(leader)
        _wait_for(lambda: group._leading and not group._queue)
        time.sleep(0.05)  # the leader has taken its batch and blocks on the lock
        for i, target in enumerate([good, good, good, faulty, good, good, good]):
            thread = threading.Thread(target=target, args=() if target is faulty else (f"m{i}",))
            thread.start()
            threads.append(thread)
            _wait_for(lambda n=i: len(group._queue) == n + 1)
    for thread in threads:
        thread.join(timeout=30)
        assert not thread.is_alive()

    assert isinstance(results.pop("faulty"), UnicodeEncodeError)
    assert all(isinstance(r, Message) for r in results.values()), results
    stored = store.messages(sid)
    assert sorted(m.content for m in stored) == sorted(results)
    assert [m.position for m in stored] == list(range(7))  # the failed one left no gap
    assert store.get(sid).message_count == 7


def _open_files(path: Path) -> int:
    """How many of this process's file descriptors point at ``path``."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == str(path):
                count += 1
        except OSError:  # closed since listed
            continue
    return count


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_dispose_closes_every_connection_and_appending_again_reopens(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    store = SessionStore.from_settings(
        Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{path}")
    )
    sid = store.create().id
    store.append(sid, "user", "before")
    assert _open_files(path) >= 1
    store.db.dispose()
    assert _open_files(path) == 0  # the appends' own connection is closed with the pool
    try:
        # A disposed engine opens connections again on demand; so do the appends.
        store.append(sid, "user", "after")
        assert [m.content for m in store.messages(sid)] == ["before", "after"]
    finally:
        store.db.dispose()
    assert _open_files(path) == 0
