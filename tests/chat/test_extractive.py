"""The offline answerer's scoring, on real handbook passages and the real MiniLM embedder."""

from __future__ import annotations

import pytest

from docchat.chat import extractive
from docchat.chat.extractive import extract
from docchat.chat.sentences import split_sentences
from docchat.retrieval.embedders import MiniLMEmbedder
from tests.chat.passages import passages


def test_a_follow_up_is_scored_against_its_standalone_rewrite(minilm: MiniLMEmbedder) -> None:
    hits = passages(
        ("expense-policy.md", "Concur"),
        ("travel-booking.md", "Egencia"),
        ("remote-work.md", "internet allowance"),
    )
    alone = extract("Through which portal?", hits, minilm, abstain_below=-1.0)
    rewritten = extract(
        "Through which portal?",
        hits,
        minilm,
        rephrasings=["Through which portal receipts submitted expense"],
        abstain_below=-1.0,
    )
    assert rewritten.best_score > alone.best_score
    assert "Concur" in rewritten.extracts[0].sentence.text


def test_only_a_shortlist_is_embedded(
    minilm: MiniLMEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Counting:
        name, dimension = minilm.name, minilm.dimension

        def __init__(self) -> None:
            self.embedded = 0

        def embed(self, texts: list[str]):  # type: ignore[no-untyped-def]
            self.embedded += len(texts)
            return minilm.embed(texts)

    monkeypatch.setattr(extractive, "EMBED_AT_MOST", 3)
    hits = passages(*[("error-codes.md", f"E10{n}") for n in range(40, 58, 3)])
    sentences = sum(len(split_sentences(h.text)) for h in hits)
    counting = Counting()
    found = extract("What happens when the connection pool runs out?", hits, counting)
    # The question, then at most 3 sentences and the one after each: not all 24.
    assert sentences >= 20
    assert counting.embedded <= 1 + 2 * 3
    assert not found.abstained
    assert "connection pool" in found.extracts[0].sentence.text


def test_a_sentence_missing_the_asked_code_cannot_answer(minilm: MiniLMEmbedder) -> None:
    hits = passages(("faq-x200.md", "F23"), ("faq-x100.md", "F23"))
    found = extract("What does error F99 mean on the X200?", hits, minilm)
    assert found.abstained
    assert found.best_score < extractive.ABSTAIN_BELOW
