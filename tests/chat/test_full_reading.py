"""``full_reading`` without a model, on two small real documents (tests/data/real): a question
about each document is answered from each, in its own cited sentences."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from docchat.workspace import Workspace

REAL = Path(__file__).parents[1] / "data" / "real"


@pytest.fixture
def services(workspace: Workspace, tmp_path: Path) -> Workspace:
    """The manual pages of two daemons (avahi-daemon(8), dbus-daemon(1)), ingested."""
    folder = tmp_path / "services"
    folder.mkdir()
    for name in ("avahi-daemon.txt", "dbus-daemon.txt"):
        shutil.copy(REAL / name, folder / name)
    workspace.ingest([folder], collection="services")
    return workspace


def test_each_document_answers_a_question_about_each(services: Workspace) -> None:
    answer = services.ask("What does each of the services do?", mode="full_reading")
    assert answer.metadata["abstained"] is False
    assert answer.metadata["num_relevant_documents"] == 2
    assert {r.file_name for r in answer.references} == {"avahi-daemon.txt", "dbus-daemon.txt"}
    # Each document's sentences are its own, whole, and cited to it.
    for reference in answer.references:
        text = services.document_text(reference.document_id)
        assert (
            reference.quote and text[reference.span_start : reference.span_end] == reference.quote
        )
        assert reference.quote.rstrip()[-1] in ".!?:"
    assert "Zeroconf" in answer.answer or "registers local IP addresses" in answer.answer
    assert "message bus daemon" in answer.answer


def test_a_question_about_one_thing_is_still_one_answer(services: Workspace) -> None:
    answer = services.ask(
        "What is the systemwide message bus largely used for?", mode="full_reading"
    )
    assert "broadcasting system events" in answer.answer
    assert {r.file_name for r in answer.references} == {"dbus-daemon.txt"}
