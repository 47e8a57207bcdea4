"""Offline query variants for the extensive mode (docchat.chat.steps.expansion_queries)."""

from __future__ import annotations

from docchat.chat.steps import expansion_queries
from docchat.language.en import LEXICON as EN
from docchat.textsearch import words
from tests.chat.passages import passages


def test_variants_add_the_passages_own_words_as_written() -> None:
    hits = passages(("faq-x200.md", "quick programme"), ("faq-x100.md", "quick programme"))
    question = "How much water does the quick programme of the X200 use?"
    variants = expansion_queries(question, hits, count=2, lexicon=EN)
    assert len(variants) == 2
    for variant in variants:
        assert variant.startswith(question + " ")
        added = variant[len(question) + 1 :].split()
        assert 1 <= len(added) <= 6
        # Words as the passage spells them, never a stem of one; none the question already asks.
        for word in added:
            assert any(word in words(h.text) for h in hits)
            assert word not in {"water", "quick", "programme", "x200"}
