"""The workspace as a facade: a context manager that closes what it opened, methods for what its
callers used to read from its parts, and ``docchat.ask`` answering from the default one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from corpora import Corpora

import docchat
from docchat import defaults
from docchat.config import Settings
from docchat.db import Database
from docchat.retrieval.embedders import MiniLMEmbedder
from docchat.tasks.leases import RUN_DIR
from docchat.workspace import Unready, Workspace

HANDBOOK = Path(__file__).parent / "data" / "handbook"


@pytest.fixture
def handbook(settings: Settings, minilm: MiniLMEmbedder, corpora: Corpora) -> Iterator[Workspace]:
    """A workspace with the test handbook ingested (a copy of the run's one)."""
    corpora.copy_into(settings, [HANDBOOK])
    with Workspace(settings, embedder=minilm) as workspace:
        yield workspace


def test_leaving_with_closes_the_lease_and_its_uploads(
    settings: Settings, minilm: MiniLMEmbedder
) -> None:
    with Workspace(settings, embedder=minilm) as workspace:
        spool = workspace.upload_dir
        spool.mkdir(parents=True)
        (spool / "received.txt").write_text("waiting for its task")
        assert len(list((settings.data_dir / RUN_DIR).iterdir())) == 1
        assert workspace.database_answers()
        task = workspace.resume()  # starts the task runner: an empty index has nothing to embed
        assert task is None
    assert not spool.exists()
    assert list((settings.data_dir / RUN_DIR).iterdir()) == []
    workspace.close()  # closing again does nothing


def test_ready_only_while_its_task_runner_runs(
    settings: Settings, minilm: MiniLMEmbedder, corpora: Corpora
) -> None:
    corpora.copy_into(settings, [])
    database = Database.from_settings(settings)
    workspace = Workspace(settings, database=database, embedder=minilm)
    # Opened (as the CLI opens it) but not serving: no task runner yet.
    assert workspace.readiness() == [Unready("tasks", "the task runner is not running")]
    workspace.resume()  # what the server does at start
    assert workspace.readiness() == []
    workspace.close()
    # Closing: a server shutting down hands its tasks back and takes no more.
    assert workspace.readiness() == [Unready("tasks", "the task runner is not running")]
    database.dispose()  # the connection that last check opened


def test_the_facade_says_whether_searches_can_be_reranked(
    settings: Settings, minilm: MiniLMEmbedder
) -> None:
    with Workspace(settings, embedder=minilm) as workspace:
        assert workspace.has_reranker  # the offline late-interaction reranker, on by default
    plain = settings.retrieval.model_copy(update={"late_interaction": False})
    with Workspace(settings.model_copy(update={"retrieval": plain}), embedder=minilm) as workspace:
        assert not workspace.has_reranker
        with pytest.raises(docchat.InvalidInput):
            workspace.search("maternity leave", enable_reranking=True)


def test_docchat_ask_answers_from_the_default_workspace(
    handbook: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(defaults, "_workspace", handbook)
    answer = docchat.ask("How long is maternity leave?")
    assert isinstance(answer, docchat.Answer)
    assert "16 weeks" in answer.answer
    assert answer.references
    assert all(isinstance(c, docchat.Citation) for c in answer.references)
    assert [m.role for m in docchat.get_messages(answer.session_id)] == ["user", "assistant"]


def test_ask_takes_the_question_a_face_built(handbook: Workspace) -> None:
    """The API and CLI build one ``Question`` from their input and hand it over whole."""
    first = handbook.ask(docchat.Question(text="How long is maternity leave?", mode="basic"))
    assert "16 weeks" in first.answer
    follow_up = docchat.Question(text="And paternity leave?", session_id=first.session_id)
    events = list(handbook.ask_stream(follow_up))
    assert events[-1].type == "done"
    assert handbook.session(first.session_id).message_count == 4
    # A keyword beside a whole Question would be dropped unseen: refused instead.
    with pytest.raises(TypeError, match="session_id"):
        handbook.ask(follow_up, session_id=first.session_id)
