"""An answer stored while it streams: one message from its first token to its end (same id, same
position), its text saved as it grows; when its process dies, the next one keeps the text and
marks it interrupted, and never touches a live turn's answer."""

from __future__ import annotations

from docchat.sessions.store import SessionStore


def test_a_streamed_answer_is_one_message_from_start_to_finish(store: SessionStore) -> None:
    sid = store.create().id
    question = store.append(sid, "user", "How long is footage kept?")
    begun = store.begin_answer(sid, turn_id="turn-1", metadata={"mode": "basic"})
    assert begun.role == "assistant" and begun.content == ""
    assert begun.position == question.position + 1
    assert begun.metadata == {
        "mode": "basic",
        "status": "streaming",
        "partial": True,
        "turn_id": "turn-1",
    }

    assert store.save_partial(begun.id, "Footage is kept")
    shown = store.messages(sid)[-1]
    assert (shown.id, shown.content) == (begun.id, "Footage is kept")
    assert shown.metadata is not None and shown.metadata["status"] == "streaming"

    finished = store.finish_answer(
        begun.id, "Footage is kept 28 days [1].", metadata={"mode": "basic"}, references=[{"n": 1}]
    )
    assert finished is not None
    assert (finished.id, finished.position) == (begun.id, begun.position)
    messages = store.messages(sid)
    assert [m.content for m in messages] == ["How long is footage kept?", finished.content]
    assert messages[1].metadata == {"mode": "basic"}
    assert messages[1].references == [{"n": 1}]
    assert store.get(sid).message_count == 2
    # A save that lands after the end changes nothing, and nothing is left to recover.
    assert not store.save_partial(begun.id, "Footage is kept")
    assert store.messages(sid)[1].content == finished.content
    assert store.interrupt_answers(lambda _turns: set()) == 0


def test_only_the_answers_of_ended_turns_are_marked_interrupted(store: SessionStore) -> None:
    sid = store.create().id
    dead = store.begin_answer(sid, turn_id="dead-turn")
    assert store.save_partial(dead.id, "Half an ans")
    live = store.begin_answer(sid, turn_id="live-turn")
    assert store.save_partial(live.id, "Still going")
    asked: list[list[str]] = []

    def unfinished(turns: list[str]) -> set[str]:
        asked.append(turns)
        return {"live-turn"}

    assert store.interrupt_answers(unfinished) == 1
    assert asked == [["dead-turn", "live-turn"]]
    by_id = {m.id: m for m in store.messages(sid)}
    assert by_id[dead.id].content == "Half an ans"
    assert by_id[dead.id].metadata == {
        "status": "interrupted",
        "partial": True,
        "turn_id": "dead-turn",
    }
    assert by_id[live.id].metadata is not None
    assert by_id[live.id].metadata["status"] == "streaming"

    # Marked once; an interrupted answer no longer takes saves; the live one still finishes.
    assert store.interrupt_answers(unfinished) == 0
    assert not store.save_partial(dead.id, "Half an answer, late")
    assert store.finish_answer(live.id, "Still going, and done.") is not None
    assert store.interrupt_answers(lambda _turns: set()) == 0
    assert [m.content for m in store.messages(sid)] == ["Half an ans", "Still going, and done."]


def test_a_partial_save_is_cut_to_the_content_limit(store: SessionStore) -> None:
    sid = store.create().id
    begun = store.begin_answer(sid, turn_id="turn-1")
    limit = store.settings.sessions.max_content_chars
    assert store.save_partial(begun.id, "x" * (limit + 10))
    assert len(store.messages(sid)[0].content) == limit


def test_finishing_the_answer_of_a_cleared_session_stores_nothing(store: SessionStore) -> None:
    sid = store.create().id
    begun = store.begin_answer(sid, turn_id="turn-1")
    store.clear(sid)
    assert store.finish_answer(begun.id, "too late") is None
    assert store.messages(sid) == []


def test_a_transcript_says_which_answers_are_unfinished(store: SessionStore) -> None:
    sid = store.create().id
    store.append(sid, "user", "Question?")
    dead = store.begin_answer(sid, turn_id="dead-turn")
    store.save_partial(dead.id, "Half an answer")
    store.interrupt_answers(lambda _turns: set())
    store.begin_answer(sid, turn_id="live-turn")
    markdown = store.export(sid, "markdown")
    interrupted = "*(interrupted: the server stopped before this answer was finished)*"
    assert f"Half an answer\n\n{interrupted}" in markdown
    assert "*(still being written when this transcript was made)*" in markdown
