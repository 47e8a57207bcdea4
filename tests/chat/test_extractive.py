"""The offline answerer's scoring, on real handbook passages and the real MiniLM embedder."""

from __future__ import annotations

import pytest

from docchat.chat import extractive
from docchat.chat.extractive import extract
from docchat.chat.sentences import split_sentences
from docchat.language.en import LEXICON as EN
from docchat.retrieval.embedders import MiniLMEmbedder
from tests.chat.passages import passages


def test_a_follow_up_is_scored_against_its_standalone_rewrite(minilm: MiniLMEmbedder) -> None:
    hits = passages(
        ("expense-policy.md", "Concur"),
        ("travel-booking.md", "Egencia"),
        ("remote-work.md", "internet allowance"),
    )
    alone = extract("Through which portal?", hits, minilm, lexicon=EN, abstain_below=-1.0)
    rewritten = extract(
        "Through which portal?",
        hits,
        minilm,
        lexicon=EN,
        rephrasings=["Through which portal receipts submitted expense"],
        abstain_below=-1.0,
    )
    assert rewritten.best_score > alone.best_score
    assert "Concur" in rewritten.extracts[0].sentence.text


class Counting:
    """The MiniLM embedder, counting the texts it embeds."""

    def __init__(self, minilm: MiniLMEmbedder) -> None:
        self.minilm = minilm
        self.name, self.dimension = minilm.name, minilm.dimension
        self.embedded = 0

    def embed(self, texts: list[str]):  # type: ignore[no-untyped-def]
        self.embedded += len(texts)
        return self.minilm.embed(texts)


def test_only_a_shortlist_is_embedded(
    minilm: MiniLMEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(extractive, "EMBED_AT_MOST", 3)
    hits = passages(*[("error-codes.md", f"E10{n}") for n in range(40, 58, 3)])
    sentences = sum(len(split_sentences(h.text)) for h in hits)
    question = "What happens when the connection pool runs out?"
    counting = Counting(minilm)
    found = extract(question, hits, counting, lexicon=EN)
    # The question, 3 sentences and at most the one after the best: not all 24.
    assert sentences >= 20
    assert 1 + 3 <= counting.embedded <= 1 + 3 + 1
    assert not found.abstained
    assert "connection pool" in found.extracts[0].sentence.text

    floor_only = Counting(minilm)
    again = extract(question, hits, floor_only, lexicon=EN, follow_on=False)
    assert floor_only.embedded == 1 + 3
    assert again.best_score == pytest.approx(found.best_score)


def test_the_sentence_after_the_best_one_completes_the_answer(
    minilm: MiniLMEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With a shortlist of one, the instruction after "Alert E1055 is raised when ..." is not
    # shortlisted; it is embedded afterwards and joins the answer.
    monkeypatch.setattr(extractive, "EMBED_AT_MOST", 1)
    hits = passages(("error-codes.md", "E1055"))
    counting = Counting(minilm)
    found = extract(
        "What do I do when the monitoring agent loses its connection?", hits, counting, lexicon=EN
    )
    texts = [e.sentence.text for e in found.extracts]
    assert texts[:2] == [
        "Alert E1055 is raised when the monitoring agent lost its connection.",
        "Restart the agent and check the firewall rule.",
    ]
    assert counting.embedded == 1 + 1 + 1


def test_a_sentence_missing_the_asked_code_cannot_answer(minilm: MiniLMEmbedder) -> None:
    hits = passages(("faq-x200.md", "F23"), ("faq-x100.md", "F23"))
    found = extract("What does error F99 mean on the X200?", hits, minilm, lexicon=EN)
    assert found.abstained
    assert found.best_score < extractive.ABSTAIN_BELOW
