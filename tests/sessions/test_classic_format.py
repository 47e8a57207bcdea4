"""save_session_to_disk / load_session_from_disk: round trips, damaged files, path tricks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from docchat.config import Settings
from docchat.errors import Conflict, InvalidInput, SessionNotFound
from docchat.sessions.store import SessionStore


def _filled(store: SessionStore) -> str:
    s = store.create(owner="ann", title="Round trip", settings={"model": "m", "mode": "extensive"})
    store.append(s.id, "system", "Be brief.")
    store.append(s.id, "user", "Where is the clause?", metadata={"ui": {"lang": "en"}})
    store.append(
        s.id,
        "assistant",
        "Section 4.2 of the contract.",
        metadata={"settings": {"mode": "extensive"}},
        references=[{"document": "contract.pdf", "page": 7, "char_start": 10, "char_end": 90}],
    )
    return s.id


def test_round_trip(store: SessionStore, tmp_path: Path) -> None:
    sid = _filled(store)
    before = store.get(sid, include_messages=True)
    path = store.save_to_disk(sid, tmp_path / "out")
    assert path == tmp_path / "out" / f"{sid}.json"
    doc = json.loads(path.read_text())
    assert {"messages", "settings", "created_at", "updated_at"} <= set(doc)
    assert doc["messages"][2]["references"][0]["page"] == 7
    store.delete(sid)
    loaded = store.load_from_disk(path)
    after = store.get(sid, include_messages=True)
    assert loaded.id == sid
    strip = {"messages": {"__all__": {"id"}}}
    assert after.model_dump(exclude=strip) == before.model_dump(exclude=strip)  # type: ignore[arg-type]


def test_round_trip_across_backends(store: SessionStore, tmp_path: Path) -> None:
    sid = _filled(store)
    path = store.save_to_disk(sid, tmp_path)
    other = SessionStore.from_settings(
        Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'other.db'}")
    )
    other.load_from_disk(path)
    a = store.get(sid, include_messages=True).model_dump(exclude={"messages": {"__all__": {"id"}}})
    b = other.get(sid, include_messages=True).model_dump(exclude={"messages": {"__all__": {"id"}}})
    assert a == b
    other.db.dispose()


def test_existing_session_conflicts_unless_replace(store: SessionStore, tmp_path: Path) -> None:
    sid = _filled(store)
    path = store.save_to_disk(sid, tmp_path)
    store.append(sid, "user", "one more")
    with pytest.raises(Conflict):
        store.load_from_disk(path)
    assert store.get(sid).message_count == 4
    store.load_from_disk(path, replace=True)
    assert store.get(sid).message_count == 3
    # Positions continue after the imported messages.
    assert store.append(sid, "user", "next").position == 3


def test_save_overwrites_atomically(store: SessionStore, tmp_path: Path) -> None:
    sid = _filled(store)
    out = tmp_path / "exports"
    store.save_to_disk(sid, out)
    store.append(sid, "user", "later")
    path = store.save_to_disk(sid, out)
    assert len(json.loads(path.read_text())["messages"]) == 4
    assert [p.name for p in out.iterdir()] == [path.name], "no temporary files left"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            '{"messages": [{"role": "user", "content": "hi"}], "settings": {}, "crea',
            "not valid JSON",
        ),
        ("", "not valid JSON"),
        ("[1, 2, 3]", "not a docchat session"),
        ('{"messages": [], "settings": {}}', "created_at"),
        (
            '{"created_at": "2026-01-01T00:00:00", "updated_at": "2026-01-01T00:00:00",'
            ' "messages": [{"role": "wizard", "content": "x"}]}',
            "role",
        ),
    ],
    ids=["truncated", "empty", "array", "missing-fields", "bad-role"],
)
def test_damaged_file_is_a_clear_error_and_changes_nothing(
    store: SessionStore, tmp_path: Path, content: str, expected: str
) -> None:
    sid = _filled(store)
    path = tmp_path / f"{sid}.json"
    path.write_text(content)
    with pytest.raises(InvalidInput, match=expected):
        store.load_from_disk(path, replace=True)
    assert path.read_text() == content, "the damaged file is left as it was"
    assert store.get(sid).message_count == 3, "the stored session is untouched"


def test_missing_file(store: SessionStore, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        store.load_from_disk(tmp_path / "nope.json")


def test_naive_classic_timestamps_are_read_as_local_time(
    store: SessionStore, tmp_path: Path
) -> None:
    path = tmp_path / "legacy-1.json"
    path.write_text(
        json.dumps(
            {
                "created_at": "2025-03-01T10:00:00",
                "updated_at": "2025-03-01T10:05:00",
                "settings": {"mode": "basic"},
                "messages": [{"role": "user", "content": "hi", "timestamp": "2025-03-01T10:00:00"}],
            }
        )
    )
    session = store.load_from_disk(path)
    assert session.id == "legacy-1"
    assert session.created_at.tzinfo is not None
    msg = store.messages("legacy-1")[0]
    assert msg.created_at.tzinfo is not None


def test_unsafe_ids_never_become_paths(store: SessionStore, tmp_path: Path) -> None:
    with pytest.raises(SessionNotFound):
        store.save_to_disk("../../evil", tmp_path)
    path = tmp_path / "x.json"
    path.write_text(
        json.dumps(
            {
                "session_id": "../../evil",
                "created_at": "2025-03-01T10:00:00+00:00",
                "updated_at": "2025-03-01T10:00:00+00:00",
                "messages": [],
            }
        )
    )
    with pytest.raises(InvalidInput, match="invalid session id"):
        store.load_from_disk(path)
