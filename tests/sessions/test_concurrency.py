"""Many threads and several processes appending to one session: nothing lost, order kept."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

from docchat.config import Settings
from docchat.errors import SessionNotFound
from docchat.sessions.store import SessionStore

APPENDER = Path(__file__).with_name("appender.py")


def _assert_complete(store: SessionStore, session_id: str, per_tag: dict[str, int]) -> None:
    msgs = store.messages(session_id)
    total = sum(per_tag.values())
    assert len(msgs) == total
    assert [m.position for m in msgs] == list(range(total)), "positions unique and gap-free"
    assert store.get(session_id).message_count == total
    by_tag: dict[str, list[int]] = defaultdict(list)
    for m in msgs:
        tag, seq = m.content.split(":")
        by_tag[tag].append(int(seq))
    for tag, count in per_tag.items():
        assert by_tag[tag] == list(range(count)), f"{tag} appended out of order or lost messages"


def test_eight_threads_one_session(store: SessionStore) -> None:
    session = store.create()
    threads, per_thread = 8, 250
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def work(tag: str) -> None:
        try:
            start.wait()
            for seq in range(per_thread):
                store.append(session.id, "user", f"{tag}:{seq}", metadata={"seq": seq})
        except BaseException as exc:  # surfaced below; a thread's exception is otherwise lost
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert errors == []
    _assert_complete(store, session.id, {f"t{i}": per_thread for i in range(threads)})


def test_threads_many_sessions_and_readers(store: SessionStore) -> None:
    sessions = [store.create().id for _ in range(16)]
    errors: list[BaseException] = []

    def writer(offset: int) -> None:
        try:
            for i in range(40):
                store.append(sessions[(offset + i) % len(sessions)], "user", f"w{offset}:{i}")
        except BaseException as exc:
            errors.append(exc)

    def reader() -> None:
        try:
            for i in range(40):
                store.messages(sessions[i % len(sessions)])
                store.list(limit=5)
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    pool += [threading.Thread(target=reader) for _ in range(4)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert errors == []
    assert sum(store.get(s).message_count for s in sessions) == 160


def test_two_processes_one_sqlite_file(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'shared.db'}")
    store = SessionStore.from_settings(settings)
    session = store.create()
    count = 400
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(APPENDER),
                settings.effective_database_url.get_secret_value(),
                str(tmp_path),
                session.id,
                tag,
                str(count),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for tag in ("p1", "p2")
    ]
    tags = ("p1", "p2")
    acked = {
        tag: p.communicate(timeout=120)[0].splitlines() for tag, p in zip(tags, procs, strict=True)
    }
    assert all(p.returncode == 0 for p in procs)
    assert {tag: len(lines) for tag, lines in acked.items()} == {"p1": count, "p2": count}
    _assert_complete(store, session.id, {"p1": count, "p2": count})
    store.db.dispose()


def test_two_processes_postgres(pg_url: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=pg_url)
    store = SessionStore.from_settings(settings)
    session = store.create()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(APPENDER),
                settings.effective_database_url.get_secret_value(),
                str(settings.data_dir),
                session.id,
                tag,
                "200",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for tag in ("p1", "p2")
    ]
    for p in procs:
        p.communicate(timeout=120)
        assert p.returncode == 0
    _assert_complete(store, session.id, {"p1": 200, "p2": 200})
    store.db.dispose()


def test_concurrent_settings_updates_lose_nothing(store: SessionStore) -> None:
    session = store.create()
    modes = ["basic", "extensive", "full_reading", "deep_reflection"]
    rounds = 60

    def set_mode() -> None:
        for i in range(rounds):
            store.update_settings(session.id, {"mode": modes[i % 4]})

    def set_model() -> None:
        for i in range(rounds):
            store.update_settings(session.id, {"model": f"m{i}"})

    pool = [threading.Thread(target=set_mode), threading.Thread(target=set_model)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    final = store.get(session.id).settings
    assert (final.mode, final.model) == (modes[(rounds - 1) % 4], f"m{rounds - 1}")


def test_clear_during_appends_keeps_count_true(store: SessionStore) -> None:
    session = store.create()
    stop = threading.Event()

    def append() -> None:
        i = 0
        while not stop.is_set():
            store.append(session.id, "user", f"m{i}")
            i += 1

    writer = threading.Thread(target=append)
    writer.start()
    for _ in range(15):
        store.clear(session.id)
    stop.set()
    writer.join()
    assert store.get(session.id).message_count == len(store.messages(session.id))


def test_an_unknown_session_fails_alone_among_concurrent_appends(store: SessionStore) -> None:
    good = store.create().id
    outcomes: dict[str, list[str]] = {"ok": [], "missing": [], "other": []}
    lock = threading.Lock()

    def work(i: int) -> None:
        target = good if i % 2 else f"missing-{i}"
        for seq in range(50):
            try:
                store.append(target, "user", f"t{i}:{seq}")
                kind = "ok"
            except SessionNotFound:
                kind = "missing"
            except BaseException:
                kind = "other"
            with lock:
                outcomes[kind].append(target)

    pool = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert len(outcomes["ok"]) == 200
    assert len(outcomes["missing"]) == 200
    assert outcomes["other"] == []
    assert [m.position for m in store.messages(good)] == list(range(200))


def test_the_wal_is_checkpointed_in_the_background(tmp_path: Path) -> None:
    store = SessionStore.from_settings(
        Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'wal.db'}")
    )
    try:
        session = store.create()
        checkpointer = store.db.checkpointer
        assert checkpointer is not None
        for i in range(300):
            store.append(session.id, "user", f"m{i}" * 50)
        before = checkpointer.runs
        deadline = time.monotonic() + 5
        while checkpointer.runs == before and time.monotonic() < deadline:
            time.sleep(0.02)
        assert checkpointer.runs > before
    finally:
        store.db.dispose()
    assert not checkpointer._thread.is_alive()
