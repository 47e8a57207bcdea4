"""The streaming marker filter: repairs, removals, quotes, what is not a marker, any chunking."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docchat.chat.markers import MAX_MARKER_CHARS, MarkerFilter, normalise_markers

ANSWER = (
    "Employees accrue 25 days a year [2]. Receipts go through Concur within 30 days "
    '[1: "submitted within 30 days"]. Partners get 6 weeks [Passage 3, source 1]; '
    "see 【2】 and [1-3]. Unknown [9] and [0] are dropped, [ 2 ,9 ] keeps 2. "
    "Lists stay: (1) first, (2) second, but (passage 2) is a marker. Code `x[1]` and\n"
    '```python\nrows[2]\n```\nstays; a link [1](https://example.com) too. [2 "no colon"]'
)


def run(text: str, passages: int = 3) -> MarkerFilter:
    return normalise_markers(text, passages)


def test_canonical_markers_pass_unchanged() -> None:
    f = run('Meals cost EUR 45 [1]. Receipts [1, 3]. Both [1][3]. Quoted [2: "few words"].')
    assert f.text == "Meals cost EUR 45 [1]. Receipts [1][3]. Both [1][3]. Quoted [2]."
    assert (f.repaired, f.removed_unknown) == (0, 0)
    assert [m.n for m in f.markers] == [1, 1, 3, 1, 3, 2]
    assert f.quotes == {5: "few words"}
    for m in f.markers:
        assert f.text[m.start : m.end] == f"[{m.n}]"


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("[ 1 ]", "[1]"),
        ("[1,2]", "[1][2]"),
        ("[1 , 2]", "[1][2]"),
        ("[1; 2]", "[1][2]"),
        ("[1 and 3]", "[1][3]"),
        ("[1 & 3]", "[1][3]"),
        ("[Passage 1]", "[1]"),
        ("[passages 1 and 2]", "[1][2]"),
        ("[source 2]", "[2]"),
        ("[Source: 2]", "[2]"),
        ("[Doc. 3]", "[3]"),
        ("[ref #2]", "[2]"),
        ("[#2]", "[2]"),
        ("[^2]", "[2]"),
        ("\u30101\u3011", "[1]"),  # lenticular brackets
        ("\uff3b2\uff3d", "[2]"),  # full-width brackets
        ("(Passage 2)", "[2]"),
        ("(source 1, 3)", "[1][3]"),
        ("[1-3]", "[1][2][3]"),
        ("[1 \u2013 3]", "[1][2][3]"),
        ("[Passage 1 - Passage 2]", "[1][2]"),
        ("[1, 1]", "[1]"),
        ("[2 'x']", "[2 'x']"),  # single quotes are apostrophes far too often: not a quote
        ('[2 "no colon"]', "[2]"),
        ("[2: \u201ccurly\u201d]", "[2]"),
    ],
)
def test_malformed_markers_are_repaired(written: str, shown: str) -> None:
    f = run(f"Claim {written}.", passages=3)
    assert f.text == f"Claim {shown}."
    assert f.repaired == (0 if written == shown else 1)
    assert f.removed_unknown == 0


def test_unknown_passages_are_removed_and_counted() -> None:
    f = run("A [7]. B [1, 7]. C [0][2]. D [Passage 12] here. E [2-4].", passages=3)
    assert f.text == "A. B [1]. C [2]. D here. E [2][3]."
    assert f.removed_unknown == 1 + 1 + 1 + 1 + 1
    assert f.repaired == 1  # only "[2-4]" is shown in another form; "[1, 7]" was well formed
    assert [m.n for m in f.markers] == [1, 2, 2, 3]


def test_quotes_are_kept_aside_by_marker_ordinal() -> None:
    f = run('First [1]. Then [2: "exact few words", 3: \u201cother words\u201d] and [1].')
    assert f.text == "First [1]. Then [2][3] and [1]."
    assert f.quotes == {1: "exact few words", 2: "other words"}
    assert [m.quote for m in f.markers] == [None, "exact few words", "other words", None]


@pytest.mark.parametrize(
    "text",
    [
        "Steps: (1) open the tap, (2) restart.",  # a list, not citations
        "Use `rows[1]` and `x[2, 3]` in code.",
        "```\nvalues[1]\n[2]\n```",
        "A [1](https://example.com/1) Markdown link.",
        "A checkbox [ ] and [x] and [see 1].",
        "Years [2020-2023], a decimal [1.5], a slice [1:2], a range [3-1], a long one [1-30].",
        "Unclosed [1 and more text",
        "A page [p. 2] is not a passage.",
    ],
)
def test_what_is_not_a_marker_is_left_alone(text: str) -> None:
    f = run(text)
    assert f.text == text
    assert f.markers == []
    assert (f.repaired, f.removed_unknown) == (0, 0)


def test_an_unclosed_inline_code_span_ends_at_the_line_end() -> None:
    f = run("Stray `backtick [1]\nNext line [2].")
    assert f.text == "Stray `backtick [1]\nNext line [2]."
    assert [m.n for m in f.markers] == [2]


def test_partial_markers_are_held_back_then_released() -> None:
    f = MarkerFilter(3)
    assert f.feed("Receipts within 30 days [") == "Receipts within 30 days"
    assert f.feed("Passage ") == ""
    assert f.feed("2") == ""
    # "[2]" may still turn out to be a link "[2](...)": decided by the next character.
    assert f.feed("]") == ""
    assert f.feed(". Next") == " [2]. Next"
    assert f.feed(' [1: "some wor') == ""
    assert f.feed('ds"]') == ""
    assert f.finish() == " [1]"
    assert f.text == "Receipts within 30 days [2]. Next [1]"
    assert f.quotes == {1: "some words"}
    assert f.repaired == 1


def test_an_unfinished_marker_is_shown_as_text_at_the_end() -> None:
    f = MarkerFilter(3)
    assert f.feed("See [2") == "See"
    assert f.finish() == " [2"


def test_a_candidate_longer_than_a_marker_is_released() -> None:
    f = MarkerFilter(3)
    shown = f.feed('Claim [1: "' + "word " * 20)
    assert shown == "Claim"  # still a possible quote
    shown += f.feed("word " * (MAX_MARKER_CHARS // 5))
    assert shown.startswith('Claim [1: "word')  # too long to be a marker: released as text
    assert f.markers == []


def test_a_removed_marker_takes_its_spaces_along_when_streamed() -> None:
    f = MarkerFilter(2)
    out = [f.feed(piece) for piece in ["Meals are covered ", " [", "9", "]", ". Done"]]
    assert "".join(out) + f.finish() == "Meals are covered. Done"
    assert f.removed_unknown == 1


def test_normalising_twice_changes_nothing() -> None:
    once = run(ANSWER)
    twice = run(once.text)
    assert twice.text == once.text
    assert (twice.repaired, twice.removed_unknown) == (0, 0)
    assert [(m.n, m.start) for m in twice.markers] == [(m.n, m.start) for m in once.markers]


def _streamed(text: str, cuts: list[int], passages: int = 3) -> MarkerFilter:
    f = MarkerFilter(passages)
    shown, last = [], 0
    for cut in [*sorted(cuts), len(text)]:
        shown.append(f.feed(text[last:cut]))
        last = cut
    shown.append(f.finish())
    assert "".join(shown) == f.text
    return f


def _same(a: MarkerFilter, b: MarkerFilter) -> None:
    assert a.text == b.text
    assert a.markers == b.markers
    assert (a.repaired, a.removed_unknown) == (b.repaired, b.removed_unknown)


def test_every_split_point_shows_the_same() -> None:
    whole = run(ANSWER)
    assert whole.repaired > 0 and whole.removed_unknown > 0 and whole.quotes  # the sample covers
    for cut in range(len(ANSWER) + 1):
        _same(_streamed(ANSWER, [cut]), whole)


def test_one_character_at_a_time_shows_the_same() -> None:
    _same(_streamed(ANSWER, list(range(len(ANSWER)))), run(ANSWER))


_PIECES = st.sampled_from(
    [
        "[", "]", "(", ")", "\u3010", "\u3011", "`", "```", "\n", " ", "  ", ",", ":", "-",
        '"', "\u201c", "\u201d", "1", "2", "3", "7", "12", "Passage ", "source", "and", "x",
        "word", ".", "[1]", "[2, 3]", '[1: "a b"]', "[^1]", "(Passage 2)", "[1-3]",
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(_PIECES, max_size=40),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12),
)
def test_any_chunking_shows_the_same(pieces: list[str], cuts: list[int]) -> None:
    text = "".join(pieces)
    whole = run(text)
    _same(_streamed(text, [c for c in cuts if c <= len(text)]), whole)
    for m in whole.markers:
        assert 1 <= m.n <= 3
        assert whole.text[m.start : m.end] == f"[{m.n}]"
