"""Autosave: a streamed answer's text is saved while it streams, at a bounded rate, and a turn
leaves one answer message whatever happens to its process."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from corpora import Corpora

from docchat.chat.autosave import Autosave
from docchat.chat.types import DoneEvent, RetrievalEvent
from docchat.config import Settings
from docchat.db import utcnow
from docchat.retrieval.embedders import MiniLMEmbedder
from docchat.tasks import TaskRow
from docchat.workspace import Workspace
from tests.workspace_parts import parts

HANDBOOK = Path(__file__).parents[1] / "data" / "handbook"


class Clock:
    """A clock the test moves, in tenths of a second (exact, unlike adding 0.1)."""

    def __init__(self) -> None:
        self.tenths = 0

    def __call__(self) -> float:
        return self.tenths / 10


def test_saves_at_most_once_per_interval() -> None:
    clock = Clock()
    saved: list[str] = []
    autosave = Autosave(saved.append, interval=1.0, clock=clock)
    pieces = [f"word{i} " for i in range(100)]
    for piece in pieces:  # a token every 0.1 s for 10 s
        clock.tenths += 1
        autosave.add(piece)
        autosave.close()  # each save lands before the next token
    assert autosave.saves == len(saved) == 10
    text = "".join(pieces)
    assert all(text.startswith(s) for s in saved)
    assert saved[-1] == text


def test_a_slow_save_is_not_waited_for_and_not_doubled() -> None:
    clock = Clock()
    release = threading.Event()
    saved: list[str] = []

    def slow_save(text: str) -> None:
        release.wait(30)
        saved.append(text)

    autosave = Autosave(slow_save, interval=1.0, clock=clock)
    clock.tenths = 10
    autosave.add("one ")  # due: a save starts, and add returns at once
    clock.tenths = 30
    autosave.add("two ")  # due again, but the first is still running: skipped
    assert autosave.saves == 1
    release.set()
    autosave.close()
    clock.tenths = 50
    autosave.add("three")
    autosave.close()
    assert saved == ["one ", "one two three"]


def test_a_failing_save_does_not_stop_the_stream() -> None:
    clock = Clock()

    def broken(_text: str) -> None:
        raise RuntimeError("database gone")

    autosave = Autosave(broken, interval=1.0, clock=clock)
    clock.tenths = 10
    autosave.add("text")
    autosave.close()
    assert autosave.saves == 1


@pytest.fixture
def handbook(settings: Settings, minilm: MiniLMEmbedder, corpora: Corpora) -> Iterator[Workspace]:
    """A workspace with the test handbook ingested and embedded (a copy of the run's one)."""
    corpora.copy_into(settings, [HANDBOOK], collection="handbook")
    with Workspace(settings, embedder=minilm) as workspace:
        yield workspace


def test_a_turn_leaves_one_finished_answer(handbook: Workspace) -> None:
    answer = handbook.ask("How long is CCTV footage kept?")
    messages = handbook.sessions.messages(answer.session_id)
    assert [m.id for m in messages] == [answer.user_message_id, answer.assistant_message_id]
    assert messages[1].metadata is not None and "status" not in messages[1].metadata
    assert handbook.sessions.interrupt_answers(lambda _turns: set()) == 0  # none left streaming


def test_another_process_leaves_a_live_turn_alone(
    handbook: Workspace, settings: Settings, minilm: MiniLMEmbedder
) -> None:
    stream = handbook.ask_stream("How long is CCTV footage kept?")
    assert isinstance(next(stream), RetrievalEvent)  # the turn is under way
    sid = handbook.sessions.list().items[0].id
    other = Workspace(settings, embedder=minilm)  # a second server on the same data
    try:
        other.resume()
        messages = other.sessions.messages(sid)
        assert [m.role for m in messages] == ["user", "assistant"]
        assert messages[1].metadata is not None
        assert messages[1].metadata["status"] == "streaming"
    finally:
        other.close()
    done = list(stream)[-1]
    assert isinstance(done, DoneEvent) and "28 days" in done.answer.answer
    answer = handbook.sessions.messages(sid)[1]
    assert answer.id == messages[1].id and answer.content == done.answer.answer
    assert answer.metadata == done.answer.metadata


def test_a_dead_process_answer_is_kept_and_marked_interrupted(
    workspace: Workspace, settings: Settings, abandoned_lease: Callable[[Path], str]
) -> None:
    # What a server killed mid-answer leaves: its turn's task running, its answer half saved.
    dead = abandoned_lease(settings.data_dir)
    turn = str(uuid.uuid4())
    now = utcnow() - dt.timedelta(seconds=1)
    with parts(workspace).db.write() as s:
        row = TaskRow.new("chat", owner=None, status="running", runner=dead, at=now)
        row.id = turn
        s.add(row)
    sid = workspace.sessions.create().id
    workspace.sessions.append(sid, "user", "How long is CCTV footage kept?", {"turn_id": turn})
    begun = workspace.sessions.begin_answer(sid, turn_id=turn, metadata={"mode": "basic"})
    workspace.sessions.save_partial(begun.id, "CCTV footage is kept for")

    workspace.resume()  # the next server starts

    assert workspace.task(turn).status == "interrupted"
    messages = workspace.sessions.messages(sid)
    assert [m.id for m in messages][1:] == [begun.id]
    assert messages[1].content == "CCTV footage is kept for"
    assert messages[1].metadata == {
        "mode": "basic",
        "status": "interrupted",
        "partial": True,
        "turn_id": turn,
    }
