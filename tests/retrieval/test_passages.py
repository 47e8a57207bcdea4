"""Passages for later modes: a hit's neighbours and a whole document, in reading order."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from corpora import Corpora

from docchat.config import Settings
from docchat.errors import InvalidInput
from docchat.retrieval.embedders import MiniLMEmbedder
from docchat.workspace import Workspace
from tests.workspace_parts import parts

HANDBOOK = Path(__file__).parents[1] / "data" / "handbook"


@pytest.fixture
def runbook(settings: Settings, minilm: MiniLMEmbedder, corpora: Corpora) -> Iterator[Workspace]:
    """Two handbook documents ingested and embedded (a copy of the run's)."""
    corpora.copy_into(settings, [HANDBOOK / "error-codes.md", HANDBOOK / "server-runbook.md"])
    with Workspace(settings, embedder=minilm) as workspace:
        yield workspace


def test_neighbours_are_the_passages_around_a_hit(runbook: Workspace) -> None:
    (hit,) = runbook.search("Alert E1052", k=1, mode="fulltext")
    around = parts(runbook).retriever.neighbours(hit, before=1, after=1)
    assert len(around) == 3
    assert [p.rank for p in around] == [1, 2, 3]
    assert around[1].chunk_id == hit.chunk_id
    assert around[1].scores == hit.scores
    assert around[1].score == hit.score
    assert all(p.document_id == hit.document_id for p in around)
    assert all(a.char_end <= b.char_start for a, b in itertools.pairwise(around))
    text = runbook.document_text(hit.document_id, owner=None)
    assert all(text[p.char_start : p.char_end] == p.text for p in around)
    assert parts(runbook).retriever.neighbours(hit, before=0, after=0)[0].chunk_id == hit.chunk_id
    with pytest.raises(InvalidInput):
        parts(runbook).retriever.neighbours(hit, before=-1)


def test_a_document_reads_whole_in_order(runbook: Workspace) -> None:
    retriever = parts(runbook).retriever
    docs = retriever.documents(retriever.scope())
    assert {d.file_name for d in docs} == {"error-codes.md", "server-runbook.md"}
    doc = next(d for d in docs if d.file_name == "error-codes.md")
    passages = retriever.document_passages(doc)
    assert len(passages) > 3
    text = runbook.document_text(doc.id, owner=None)
    assert all(text[p.char_start : p.char_end] == p.text for p in passages)
    assert all(a.char_start < b.char_start for a, b in itertools.pairwise(passages))
    assert any("Alert E1047" in p.text for p in passages)
    assert {p.document_id for p in passages} == {doc.id}


def test_widening_joins_the_adjacent_passages_of_a_section(
    workspace: Workspace, tmp_path: Path
) -> None:
    sentences = [
        f"Paragraph line {i} describes valve V{i:03d} and its weekly inspection routine."
        for i in range(120)
    ]
    essay = tmp_path / "valves.md"
    essay.write_text("# Valves\n\n" + " ".join(sentences) + "\n\n# Pumps\n\nPumps are oiled.\n")
    workspace.ingest([essay])
    (hit,) = workspace.search("valve V060 inspection", k=1, mode="fulltext")
    text = workspace.document_text(hit.document_id, owner=None)
    around = parts(workspace).retriever.neighbours(hit, before=1, after=1)
    assert len(around) == 3, "the section must span several chunks for this test"

    (wide,) = parts(workspace).retriever.widen([hit], window=1)
    assert wide.chunk_id == hit.chunk_id and wide.scores == hit.scores
    assert wide.char_start == around[0].char_start and wide.char_end == around[2].char_end
    assert text[wide.char_start : wide.char_end] == wide.text  # still an exact slice
    assert hit.text in wide.text
    assert "Pumps are oiled" not in wide.text  # never across a section

    # A hit inside another's widened span adds nothing; an unchanged window gives the hits back.
    (other,) = [p for p in around if p.chunk_id != hit.chunk_id][:1]
    assert [h.chunk_id for h in parts(workspace).retriever.widen([hit, other])] == [hit.chunk_id]
    assert parts(workspace).retriever.widen([hit], window=0) == [hit]
    with pytest.raises(InvalidInput):
        parts(workspace).retriever.widen([hit], window=-1)
