"""The offline reranker: 1-bit token vectors kept at ingestion, MaxSim at query time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from corpora import Corpora
from sqlalchemy import delete, func, select

from docchat.config import Settings
from docchat.documents.models import ChunkRow, ChunkTokensRow
from docchat.retrieval.embedders import MiniLMEmbedder
from docchat.retrieval.late_interaction import (
    maxsim,
    maxsim_many,
    maxsim_packed,
    pack_tokens,
    unpack_tokens,
)
from docchat.retrieval.vectors import embedding_text
from docchat.workspace import Workspace
from tests.workspace_parts import parts

HANDBOOK = Path(__file__).parents[1] / "data" / "handbook"


def test_packing_keeps_each_sign_as_a_unit_row() -> None:
    rng = np.random.default_rng(7)
    tokens = rng.standard_normal((11, 384)).astype(np.float32)
    bits = pack_tokens(tokens)
    assert len(bits) == 11 * 48
    back = unpack_tokens(bits, 11, 384)
    assert np.array_equal(back > 0, tokens > 0)
    assert np.allclose(np.linalg.norm(back, axis=1), 1.0)
    assert unpack_tokens(b"", 0, 384).shape == (0, 384)


def test_one_product_scores_as_many_small_ones() -> None:
    rng = np.random.default_rng(3)
    query = rng.standard_normal((6, 384)).astype(np.float32)
    passages = [rng.standard_normal((n, 384)).astype(np.float32) for n in (5, 0, 17, 1)]
    expected = [maxsim(query, p) for p in passages]
    assert np.allclose(maxsim_many(query, passages), expected, atol=1e-5)
    assert expected[1] == 0.0


def _handbook(
    settings: Settings, minilm: MiniLMEmbedder, corpora: Corpora, **retrieval: object
) -> Workspace:
    changed = settings.retrieval.model_copy(update=retrieval)
    configured = settings.model_copy(update={"retrieval": changed})
    corpora.copy_into(configured, [HANDBOOK], collection="handbook")
    return Workspace(configured, embedder=minilm)


def test_ingestion_keeps_every_chunks_tokens(
    settings: Settings, minilm: MiniLMEmbedder, corpora: Corpora
) -> None:
    ws = _handbook(settings, minilm, corpora)
    try:
        with parts(ws).db.read() as s:
            chunks = s.execute(select(ChunkRow.id, ChunkRow.section, ChunkRow.text)).all()
            stored = {
                r.chunk_id: (r[2], r.bits)
                for r in s.execute(
                    select(
                        ChunkTokensRow.chunk_id,
                        ChunkTokensRow.model,
                        ChunkTokensRow.count,
                        ChunkTokensRow.bits,
                    )
                ).all()
            }
        assert chunks and set(stored) == {c.id for c in chunks}
        # What is stored is the sign of the very vectors a fresh forward pass gives.
        first = chunks[0]
        _, (tokens,) = minilm.embed_with_tokens([embedding_text(first.section, first.text)])
        count, bits = stored[first.id]
        assert count == len(tokens)
        assert bits == pack_tokens(tokens)
    finally:
        ws.close()


def test_reranked_order_is_the_blend_of_maxsim_and_fused(
    settings: Settings, minilm: MiniLMEmbedder, corpora: Corpora
) -> None:
    ws = _handbook(settings, minilm, corpora, rerank_weight=1.0)
    try:
        question = "Where do we meet outside when the building is evacuated?"
        hits = ws.search(question, k=8, enable_reranking=True)
        assert hits[0].file_name == "health-safety.md"
        assert all(h.scores.rerank is not None for h in hits)
        # With weight 1 the order is MaxSim's alone: recompute it independently.
        _, (q,) = minilm.embed_with_tokens([question])
        _, tokens = minilm.embed_with_tokens([embedding_text(h.section, h.text) for h in hits])
        own = [maxsim(q, unpack_tokens(pack_tokens(t), len(t), 384)) for t in tokens]
        assert own == sorted(own, reverse=True)
    finally:
        ws.close()


def test_chunks_without_tokens_are_encoded_when_first_reranked(
    settings: Settings, minilm: MiniLMEmbedder, corpora: Corpora
) -> None:
    ws = _handbook(settings, minilm, corpora)
    try:
        with parts(ws).db.write() as s:
            s.execute(delete(ChunkTokensRow))  # as an index built before tokens were kept
        before = ws.search("How long is maternity leave?", k=5, enable_reranking=True)
        with parts(ws).db.read() as s:
            kept = s.scalar(select(func.count()).select_from(ChunkTokensRow))
        assert kept is not None and kept >= 5
        again = ws.search("How long is maternity leave?", k=5, enable_reranking=True)
        assert [h.chunk_id for h in again] == [h.chunk_id for h in before]
    finally:
        ws.close()


def test_without_late_interaction_nothing_is_kept(
    settings: Settings, minilm: MiniLMEmbedder, corpora: Corpora
) -> None:
    ws = _handbook(settings, minilm, corpora, late_interaction=False)
    try:
        with parts(ws).db.read() as s:
            assert s.scalar(select(func.count()).select_from(ChunkTokensRow)) == 0
        assert not ws.has_reranker
        # Reranking is on by default, but with nothing to rerank with the default asks nothing.
        assert ws.settings.retrieval.enable_reranking is True
        assert ws.search("How long is maternity leave?", k=3)[0].scores.rerank is None
        answer = ws.ask("How long is maternity leave?")
        assert "16 weeks" in answer.answer
        assert answer.metadata["options"]["enable_reranking"] is False
    finally:
        ws.close()


@pytest.mark.parametrize("other", ["another-model/onnx"])
def test_a_new_embedding_model_drops_old_tokens(
    settings: Settings, minilm: MiniLMEmbedder, corpora: Corpora, other: str
) -> None:
    ws = _handbook(settings, minilm, corpora)
    try:
        assert parts(ws).vectors.ensure_model(other, 384)
        with parts(ws).db.read() as s:
            assert s.scalar(select(func.count()).select_from(ChunkTokensRow)) == 0
    finally:
        ws.close()


def test_scoring_packed_bits_equals_scoring_unpacked_signs() -> None:
    rng = np.random.default_rng(11)
    query = rng.standard_normal((7, 384)).astype(np.float32)
    query /= np.linalg.norm(query, axis=1, keepdims=True)
    raw = [rng.standard_normal((n, 384)).astype(np.float32) for n in (40, 0, 3, 25)]
    packed = [(len(t), pack_tokens(t)) for t in raw]
    unpacked = [unpack_tokens(bits, n, 384) for n, bits in packed]
    assert np.allclose(maxsim_packed(query, packed, 384), maxsim_many(query, unpacked), atol=1e-6)


def test_a_lone_candidate_scores_as_the_best() -> None:
    from docchat.retrieval.late_interaction import _scaled

    assert list(_scaled(np.array([0.42]))) == [1.0]
    assert list(_scaled(np.array([0.2, 0.6, 1.0]))) == pytest.approx([0.0, 0.5, 1.0])
