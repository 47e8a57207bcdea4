"""SessionStore behaviour on SQLite and PostgreSQL: CRUD, validation, paging, search."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from docchat.config import Settings
from docchat.errors import Conflict, InvalidInput, SessionNotFound, TooLarge
from docchat.sessions.store import SessionStore
from docchat.sessions.types import ChatSettings


def test_create_and_get(store: SessionStore) -> None:
    created = store.create(owner="alice", title="Quarterly report", settings={"mode": "extensive"})
    got = store.get(created.id)
    assert got == created
    assert got.owner == "alice"
    assert got.settings.mode == "extensive"
    assert got.message_count == 0
    assert got.created_at.tzinfo is not None
    assert got.created_at.utcoffset() == dt.timedelta(0)
    assert got.created_at == got.updated_at


def test_append_returns_durable_ordered_messages(store: SessionStore) -> None:
    s = store.create()
    first = store.append(s.id, "user", "What is in the report?", metadata={"client": "test"})
    second = store.append(
        s.id,
        "assistant",
        "Revenue grew.",
        metadata={"settings": {"mode": "basic"}},
        references=[{"document": "report.pdf", "page": 3, "snippet": "Revenue grew 12%"}],
    )
    assert (first.position, second.position) == (0, 1)
    msgs = store.messages(s.id)
    assert msgs == [first, second]
    assert msgs[1].references == [
        {"document": "report.pdf", "page": 3, "snippet": "Revenue grew 12%"}
    ]
    after = store.get(s.id)
    assert after.message_count == 2
    assert after.updated_at == second.created_at
    assert after.updated_at > s.updated_at


@pytest.mark.parametrize(
    "call",
    [
        lambda st: st.get("missing"),
        lambda st: st.append("missing", "user", "hi"),
        lambda st: st.update_settings("missing", {"mode": "basic"}),
        lambda st: st.clear("missing"),
        lambda st: st.delete("missing"),
        lambda st: st.messages("missing"),
        lambda st: st.rename("missing", "x"),
        lambda st: st.export("missing"),
        lambda st: st.get("../../etc/passwd"),
    ],
    ids=["get", "append", "settings", "clear", "delete", "messages", "rename", "export", "path"],
)
def test_unknown_session_raises(store: SessionStore, call: object) -> None:
    with pytest.raises(SessionNotFound):
        call(store)  # type: ignore[operator]


def test_reads_never_create(store: SessionStore) -> None:
    for read in (lambda: store.get("ghost"), lambda: store.messages("ghost")):
        with pytest.raises(SessionNotFound):
            read()
    assert store.list().items == []


def test_owner_scoping(store: SessionStore) -> None:
    mine = store.create(owner="alice")
    store.create(owner="bob")
    with pytest.raises(SessionNotFound):
        store.get(mine.id, owner="bob")
    with pytest.raises(SessionNotFound):
        store.append(mine.id, "user", "hi", owner="bob")
    assert [s.id for s in store.list(owner="alice").items] == [mine.id]
    assert len(store.list().items) == 2
    # get_or_create must not hand alice's session to bob.
    with pytest.raises(SessionNotFound):
        store.get_or_create(mine.id, owner="bob")


@pytest.mark.parametrize(
    ("role", "content", "metadata", "references", "field"),
    [
        ("robot", "hi", None, None, "role"),
        ("user", 42, None, None, "content"),
        ("user", "hi", {"x": object()}, None, "metadata"),
        ("user", "hi", {"x": math.nan}, None, "metadata.x"),
        ("user", "hi", ["not", "a", "dict"], None, "metadata"),
        ("user", "hi", None, {"not": "a list"}, "references"),
        ("user", "hi", None, [{1, 2}], "references"),
        ("user", "nul\x00byte", None, None, "content"),
        ("user", "caf\u00e9 nul\x00byte", None, None, "content"),
        ("user", "lone \ud800 surrogate", None, None, "content"),
        ("user", "caf\u00e9 \udfff", None, None, "content"),
        ("user", "hi", {"caf\u00e9": "\ud800"}, None, "metadata.caf\u00e9"),
        ("user", "hi", None, ["nul\x00"], "references[0]"),
    ],
)
def test_invalid_message_input(
    store: SessionStore,
    role: object,
    content: object,
    metadata: object,
    references: object,
    field: str,
) -> None:
    s = store.create()
    with pytest.raises(InvalidInput) as info:
        store.append(s.id, role, content, metadata, references)  # type: ignore[arg-type]
    assert info.value.field == field
    assert field in info.value.message
    assert store.get(s.id).message_count == 0


def test_oversize_content(settings: Settings) -> None:
    small = settings.model_copy(
        update={"sessions": settings.sessions.model_copy(update={"max_content_chars": 10})}
    )
    st = SessionStore.from_settings(small)
    try:
        s = st.create()
        st.append(s.id, "user", "x" * 10)
        with pytest.raises(TooLarge) as info:
            st.append(s.id, "user", "x" * 11)
        assert info.value.field == "content"
    finally:
        st.db.dispose()


def test_json_size_limit_counts_bytes_not_characters(settings: Settings) -> None:
    small = settings.model_copy(
        update={"sessions": settings.sessions.model_copy(update={"max_json_bytes": 100})}
    )
    st = SessionStore.from_settings(small)
    try:
        s = st.create()
        # {"k":"..."} is 8 characters around the value.
        kept = st.append(s.id, "user", "hi", metadata={"k": "x" * 92})
        assert kept.metadata == {"k": "x" * 92}
        # 60 characters, 120 bytes in UTF-8: over the limit, though the text is 68 characters.
        with pytest.raises(TooLarge) as info:
            st.append(s.id, "user", "hi", metadata={"k": "\u00e9" * 60})
        assert info.value.field == "metadata"
        with pytest.raises(TooLarge):
            st.append(s.id, "user", "hi", references=["\u20ac" * 40])  # 3 bytes each
        assert st.get(s.id).message_count == 1
    finally:
        st.db.dispose()


def test_append_returns_the_values_a_reader_gets(store: SessionStore) -> None:
    s = store.create()
    metadata = {"pair": (1, 2.5), 3: "three", "text": "caf\u00e9 \u20ac", "none": None}
    references = [("doc.pdf", 3), {"page": 7, "exact": True}]
    message = store.append(s.id, "assistant", "A reply.", metadata, references)
    assert message.metadata == {
        "pair": [1, 2.5],
        "3": "three",
        "text": "caf\u00e9 \u20ac",
        "none": None,
    }
    assert message.references == [["doc.pdf", 3], {"page": 7, "exact": True}]
    assert store.messages(s.id) == [message]
    metadata["text"] = "changed by the caller afterwards"
    assert message.metadata["text"] == "caf\u00e9 \u20ac"


def test_get_or_create(store: SessionStore) -> None:
    a = store.get_or_create("my-session_1")
    b = store.get_or_create("my-session_1")
    assert a == b
    assert a.id == "my-session_1"
    with pytest.raises(InvalidInput):
        store.get_or_create("../escape")
    with pytest.raises(Conflict):
        store.create(session_id="my-session_1")


def test_update_settings_merges_keys(store: SessionStore) -> None:
    s = store.create(settings={"model": "smollm2", "options": {"num_results": 5}})
    updated = store.update_settings(s.id, {"mode": "deep_reflection"})
    assert updated.settings.model == "smollm2"
    assert updated.settings.mode == "deep_reflection"
    assert updated.settings.options.num_results == 5
    updated = store.update_settings(s.id, ChatSettings(mode="basic"))
    assert store.get(s.id).settings.mode == "basic"
    with pytest.raises(InvalidInput, match="unknown settings key"):
        store.update_settings(s.id, {"modle": "typo"})
    with pytest.raises(InvalidInput, match=r"settings\.mode"):
        store.update_settings(s.id, {"mode": "telepathy"})
    with pytest.raises(InvalidInput, match=r"settings\.options"):
        store.update_settings(s.id, {"options": {"num_results": 0}})


def test_clear_and_delete(store: SessionStore) -> None:
    s = store.create()
    for i in range(5):
        store.append(s.id, "user", f"message {i}")
    assert store.clear(s.id) == 5
    assert store.messages(s.id) == []
    assert store.get(s.id).message_count == 0
    # Positions keep growing after a clear, so old cursors never alias new messages.
    assert store.append(s.id, "user", "after clear").position == 5
    store.delete(s.id)
    with pytest.raises(SessionNotFound):
        store.get(s.id)
    assert store.search("clear") == []


def test_message_paging(store: SessionStore) -> None:
    s = store.create()
    for i in range(10):
        store.append(s.id, "user", f"m{i}")
    assert [m.content for m in store.messages(s.id, limit=3)] == ["m0", "m1", "m2"]
    assert [m.content for m in store.messages(s.id, after=6)] == ["m7", "m8", "m9"]
    assert [m.content for m in store.messages(s.id, before=10, limit=2)] == ["m8", "m9"]
    assert [m.content for m in store.messages(s.id, after=2, before=5)] == ["m3", "m4"]
    assert len(store.get(s.id, include_messages=True).messages or []) == 10


def test_list_pages_by_updated_at(store: SessionStore) -> None:
    ids = [store.create(title=f"s{i}").id for i in range(7)]
    store.append(ids[0], "user", "bump")  # most recently updated now
    seen: list[str] = []
    cursor = None
    while True:
        page = store.list(limit=3, cursor=cursor)
        seen += [s.id for s in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen[0] == ids[0]
    assert sorted(seen) == sorted(ids)
    assert len(seen) == 7
    assert [s.id for s in store.list(limit=2, offset=1).items] == seen[1:3]
    with pytest.raises(InvalidInput):
        store.list(cursor="garbage!!")
    with pytest.raises(InvalidInput):
        store.list(limit=0)


def test_search_messages(store: SessionStore) -> None:
    a = store.create(owner="alice", title="Budget")
    b = store.create(owner="bob", title="Travel")
    store.append(a.id, "user", "How large is the marketing budget for 2027?")
    store.append(a.id, "assistant", "The budget is 40,000 euros.")
    store.append(b.id, "user", "Book a train to Vienna")
    hits = store.search("budget")
    assert {h.message.session_id for h in hits} == {a.id}
    assert len(hits) == 2
    assert all("budget" in h.snippet.lower() for h in hits)
    assert hits[0].session_title == "Budget"
    assert store.search("budget", owner="bob") == []
    assert [h.message.content for h in store.search("trains vienna")] == ["Book a train to Vienna"]
    # Query syntax characters are plain text, not FTS operators.
    assert store.search('budget" OR "vienna') == []
    assert store.search("*:-()") == []


def test_export_markdown(store: SessionStore) -> None:
    s = store.create(title="Notes")
    store.append(s.id, "user", "Question?")
    store.append(
        s.id, "assistant", "Answer.", references=[{"document": "a.pdf", "page": 2, "snippet": "x"}]
    )
    md = store.export(s.id, "markdown")
    assert md.startswith("# Notes\n")
    assert "## User" in md
    assert "## Assistant" in md
    assert "a.pdf, p. 2" in md
    with pytest.raises(InvalidInput):
        store.export(s.id, "pdf")  # type: ignore[arg-type]
