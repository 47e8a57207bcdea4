"""Citations that can be checked: each cited sentence located in its passage, checked against
that span, and the references numbered in order of first citation.

``check_answer`` takes a finished answer (raw, or as ``MarkerFilter`` showed it while streaming)
and the passages the model saw (``hits[n - 1]`` is passage [n]).  It splits the answer into
sentences; for each citation locates the exact supporting span inside the passage (the model's
quote, fuzzy-matched, else the passage sentence that best matches); checks the sentence against it
in words (``support.Terms``: content words, numbers, bounds, negation) and by MiniLM similarity;
adds the marker a clearly supported sentence lacks; and renumbers what the answer cites.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

from docchat.chat.markers import Marker, MarkerCounts, MarkerFilter, normalise_markers
from docchat.chat.sentences import Sentence, split_sentences
from docchat.chat.support import QUOTE_MIN_RATIO, Terms, locate_quote
from docchat.chat.types import Citation, SentenceCheck
from docchat.language import Lexicon
from docchat.retrieval.embedders import Embedder
from docchat.retrieval.hybrid import Hit

__all__ = [
    "ADD_OVERLAP",
    "ADD_SIMILARITY",
    "SUPPORT_OVERLAP",
    "SUPPORT_SIMILARITY",
    "THRESHOLDS",
    "CheckedAnswer",
    "CitationStats",
    "CitedSpan",
    "MarkerCounts",
    "MarkerFilter",
    "MarkerSpan",
    "Thresholds",
    "check_answer",
]

# --------------------------------------------------------------------------------------------
# Thresholds
# --------------------------------------------------------------------------------------------
# Calibrated on 55 (answer sentence, cited passage) pairs written by hand from the handbook in
# tests/data/handbook/ (CALIBRATION in tests/chat/test_citations.py), measured with the int8
# all-MiniLM-L6-v2 embedder:
# - 31 supported (reworded, or joining two sentences of the passage): overlap 0.38-1.00 (median
#   0.89), similarity 0.61-0.99 (median 0.85).  28 reach overlap 0.7; of the other three, two
#   reach similarity 0.85 and 0.90, one does not (0.56 / 0.66: "build up 2.08 vacation days").
# - 24 unsupported.  12 are rejected by numbers, bounds or negation (support.Terms.agrees)
#   whatever their scores (overlap up to 1.00, similarity up to 0.99).  7 claim what the span does
#   not say: overlap 0.00-0.67, similarity 0.17-0.68.  5 keep the span's words and change one
#   qualifier or who it applies to ("every day" for "up to three days", "birth mothers" for
#   "partners"): overlap 0.50-0.86, similarity 0.81-0.94, inside the supported range; no threshold
#   on these two scores can reject them, and they pass (strict xfails in the tests).
# So SUPPORT_OVERLAP sits between 0.67 and 0.75 and SUPPORT_SIMILARITY between 0.68 and 0.85,
# each with a margin on both sides: 30 of 31 supported pairs pass, and all 19 unsupported ones a
# word-level check can see are rejected.
#: A sentence is supported when at least this share of its content words is in the span ...
SUPPORT_OVERLAP = 0.7
#: ... or when its embedding is at least this similar to the span's (numbers, bounds and
#: negation must agree either way).
SUPPORT_SIMILARITY = 0.8
# Adding a marker the model left out is a claim made on its behalf, so it takes both signals: 20
# of the 31 supported pairs reach both, none of the 7 unsupported pairs that differ in words
# (at most 0.67 overlap, 0.68 similarity) reaches either.
#: An uncited sentence gets a marker when its overlap with one passage's span is at least this ...
ADD_OVERLAP = 0.8
#: ... and its similarity at least this.
ADD_SIMILARITY = 0.8


#: An uncited answer this many words long or longer that is a run of a passage's words gets a
#: marker without reaching ADD_SIMILARITY (one word alone, "Yes" or a name, proves nothing).
VERBATIM_MIN_WORDS = 2
_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The support thresholds ``check_answer`` applies (defaults: the module constants)."""

    overlap: float = SUPPORT_OVERLAP
    similarity: float = SUPPORT_SIMILARITY
    add_overlap: float = ADD_OVERLAP
    add_similarity: float = ADD_SIMILARITY
    quote_ratio: float = QUOTE_MIN_RATIO


THRESHOLDS = Thresholds()


@dataclass(slots=True)
class _Passage:
    """A hit with its sentences split and their words, computed once per check."""

    hit: Hit
    sentences: list[Sentence]
    words: list[Terms]
    lexicon: Lexicon

    @classmethod
    def of(cls, hit: Hit, lexicon: Lexicon) -> _Passage:
        # A passage starts with its heading ("Accrual"); a heading states nothing to cite.
        headings = {h.strip() for h in (hit.section or "").split(" > ")}
        sentences = [
            s for s in split_sentences(hit.text) if s.text.lstrip("# ").strip() not in headings
        ]
        if not sentences and hit.text.strip():
            stripped = hit.text.strip()
            start = hit.text.index(stripped)
            sentences = [Sentence(start, start + len(stripped), stripped)]
        return cls(hit, sentences, [Terms.of(s.text, lexicon) for s in sentences], lexicon)

    def covering(self, start: int, end: int) -> tuple[int, int]:
        """The sentences around ``text[start:end]``, as passage offsets."""
        inside = [s for s in self.sentences if s.start < end and start < s.end]
        if not inside:
            return start, end
        return min(start, inside[0].start), max(end, inside[-1].end)


class _Vectors:
    """Embeddings by text, each text embedded once, missing ones in one call."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.known: dict[str, npt.NDArray[np.float32]] = {}

    def add(self, texts: Sequence[str]) -> None:
        missing = list(dict.fromkeys(t for t in texts if t not in self.known))
        if missing:
            for text, vector in zip(missing, self.embedder.embed(missing), strict=True):
                self.known[text] = vector

    def similarity(self, a: str, b: str) -> float:
        self.add([a, b])
        return float(np.dot(self.known[a], self.known[b]))


@dataclass(slots=True)
class _Evidence:
    """A located span (passage offsets) and the passage text the sentence is checked against."""

    start: int
    end: int
    text: str
    words: Terms
    located: Literal["quote", "match"]


_Candidate = tuple[int, int, int, Terms]  # content words shared, start, end, its terms


def _candidates(words: Terms, passage: _Passage, enough: float) -> list[_Candidate]:
    """The passage's sentences, with the content words each shares with the claim; and two
    adjacent sentences when no single one shares ``enough`` of the claim's words with its
    numbers, and the two together do (an answer sentence may join two)."""
    found = [
        (len(words.content & w.content), s.start, s.end, w)
        for s, w in zip(passage.sentences, passage.words, strict=True)
    ]
    wanted = enough * len(words.content)
    if any(c[0] >= wanted and words.agrees(c[3]) for c in found):
        return found
    for i in range(len(passage.sentences) - 1):
        a, b = passage.words[i].content, passage.words[i + 1].content
        # Each sentence must bring two of the claim's words the other lacks: one borrowed word
        # ("every" from the sentence before) would support claims neither makes.
        if min(len(words.content & (a - b)), len(words.content & (b - a))) < 2:
            continue
        joined = Terms.union([passage.words[i], passage.words[i + 1]])
        shared = len(words.content & joined.content)
        if shared >= wanted:
            found.append((shared, passage.sentences[i].start, passage.sentences[i + 1].end, joined))
    return found


def _best_match(
    sentence: str, candidates: list[_Candidate], passage: _Passage, vectors: _Vectors
) -> _Evidence:
    """The candidate span that best matches ``sentence``: most content words shared, then the
    most similar embedding, then the shortest."""
    text = passage.hit.text
    if not candidates:
        return _Evidence(0, len(text), text, Terms.of(text, passage.lexicon), "match")
    top = max(c[0] for c in candidates)
    tied = [c for c in candidates if c[0] == top]
    if len(tied) > 1:
        vectors.add([sentence, *(text[c[1] : c[2]] for c in tied)])
    _, start, end, span_words = max(
        tied,
        key=lambda c: (
            vectors.similarity(sentence, text[c[1] : c[2]]) if len(tied) > 1 else 0.0,
            -(c[2] - c[1]),
        ),
    )
    return _Evidence(start, end, text[start:end], span_words, "match")


def _evidence(
    sentence: str,
    words: Terms,
    passage: _Passage,
    quote: str | None,
    vectors: _Vectors,
    thresholds: Thresholds,
) -> _Evidence:
    if quote:
        found = locate_quote(quote, passage.hit.text, min_ratio=thresholds.quote_ratio)
        if found is not None:
            start, end = passage.covering(*found)
            context = passage.hit.text[start:end]
            return _Evidence(
                found[0], found[1], context, Terms.of(context, passage.lexicon), "quote"
            )
    return _best_match(sentence, _candidates(words, passage, thresholds.overlap), passage, vectors)


# --------------------------------------------------------------------------------------------
# The checked answer
# --------------------------------------------------------------------------------------------


class CitedSpan(BaseModel):
    """One (sentence, citation) pair: where in the document the sentence's support is."""

    sentence: int
    n: int
    passage: int
    span_start: int
    span_end: int
    quote: str
    located: Literal["quote", "match"]
    overlap: float
    similarity: float
    supported: bool
    added: bool = False


class MarkerSpan(BaseModel):
    """What one ``[n]`` in the answer text points at, markers in text order: the span of its own
    sentence's support (None where the check had no span: a marker in a heading)."""

    n: int
    span_start: int | None = None
    span_end: int | None = None
    quote: str | None = None


class CitationStats(BaseModel):
    """What the check counted (goes into the assistant message's metadata)."""

    markers_total: int = 0
    removed_unknown: int = 0
    repaired: int = 0
    added: int = 0
    supported_sentences: int = 0
    unsupported_sentences: int = 0
    citation_precision: float | None = None


class CheckedAnswer(BaseModel):
    """The answer with markers renumbered in order of first citation, and what was checked."""

    text: str
    references: list[Citation]
    sentences: list[SentenceCheck]
    spans: list[CitedSpan]
    #: One per ``[n]`` left in ``text``, in order: a reference's span is its first citation's,
    #: so a "[1]" on a second sentence would show the first sentence's support.
    markers: list[MarkerSpan] = []
    stats: CitationStats


_CODE_FENCE = re.compile(r"^[ ]{0,3}(`{3,}|~{3,})[^\n]*$", re.MULTILINE)


@dataclass(slots=True)
class _Segment:
    start: int
    end: int
    code: bool = False
    heading: bool = False
    markers: list[Marker] = field(default_factory=list)


def _segments(text: str, markers: Sequence[Marker]) -> list[_Segment]:
    """Sentences of the answer (markers masked, fenced code one segment), with their markers:
    a marker belongs to the sentence it ends or sits in."""
    masked = list(text)
    for m in markers:
        masked[m.start : m.end] = " " * (m.end - m.start)
    code: list[_Segment] = []
    fences = list(_CODE_FENCE.finditer(text))
    while fences:
        opening = fences.pop(0)
        closing = next((f for f in fences if f.group(1)[0] == opening.group(1)[0]), None)
        end = closing.end() if closing else len(text)
        code.append(_Segment(opening.start(), end, code=True))
        masked[opening.start() : end] = " " * (end - opening.start())
        fences = [f for f in fences if f.start() >= end]
    found = [
        _Segment(s.start, s.end, heading=bool(_HEADING.match(s.text)))
        for s in split_sentences("".join(masked))
    ]
    segments = sorted(found + code, key=lambda s: s.start)
    starts = [s.start for s in segments]
    for m in markers:
        at = max(0, bisect.bisect_right(starts, m.start) - 1)
        if segments:
            segments[at].markers.append(m)
    return segments


_HEADING = re.compile(r"#{1,6}\s")
_LINE_MARK = re.compile(r"^(?:#{1,6}|[-*+\u2022]|\d{1,3}[.)])\s+")


def _clean(text: str, segment: _Segment) -> str:
    """The sentence's text without its markers, bullet or heading marks (code as it is)."""
    if segment.code:
        return text[segment.start : segment.end]
    parts, pos = [], segment.start
    for m in segment.markers:
        if segment.start <= m.start < segment.end:
            parts.append(text[pos : m.start])
            pos = m.end
    parts.append(text[pos : segment.end])
    joined = _LINE_MARK.sub("", " ".join("".join(parts).split()))
    return re.sub(r"\s+([.,;:!?…])", r"\1", joined)


def _needs_no_source(text: str, words: Terms, lexicon: Lexicon) -> bool:
    """Connective text, a lead-in, a question or an abstention: nothing to cite."""
    # The lexicon's "no_source" phrases: sentences about the search rather than the documents
    # (an abstention, a courtesy).
    if len(words.content) == 0 or lexicon.no_source.search(text):
        return True
    if words.numbers:
        return False
    return text.rstrip().endswith((":", "?")) or len(words.content) <= 2


@dataclass(slots=True)
class _Pair:
    segment: int
    passage: int  # 1-based, as the model saw it
    evidence: _Evidence
    overlap: float
    similarity: float
    supported: bool
    added: bool = False


def check_answer(
    text: str,
    hits: Sequence[Hit],
    *,
    embedder: Embedder,
    lexicon: Lexicon,
    quotes: Mapping[int, str] | None = None,
    counts: MarkerCounts | None = None,
    thresholds: Thresholds = THRESHOLDS,
) -> CheckedAnswer:
    """Check each sentence of ``text`` against the passages it cites (``hits[n - 1]`` for [n]).

    ``lexicon`` is the answer's language's (its words for ``support.Terms`` and the phrases of a
    sentence that needs no source).  ``text`` may be raw model output or a ``MarkerFilter``'s
    output; with the latter pass the filter's ``quotes`` (by marker ordinal) and ``counts`` so the
    stats include its repairs.
    """
    filtered = normalise_markers(text, len(hits))
    canonical = filtered.text
    given_quotes = {**(quotes or {}), **filtered.quotes}
    markers = [
        Marker(m.ordinal, m.n, m.start, m.end, given_quotes.get(m.ordinal))
        for m in filtered.markers
    ]
    segments = _segments(canonical, markers)
    vectors = _Vectors(embedder)
    passages: dict[int, _Passage] = {}

    def passage(n: int) -> _Passage:
        if n not in passages:
            passages[n] = _Passage.of(hits[n - 1], lexicon)
        return passages[n]

    texts = [_clean(canonical, s) for s in segments]
    words = [Terms.of(t, lexicon) for t in texts]
    checks: list[SentenceCheck] = []
    pairs: list[_Pair] = []
    for index, (segment, sentence, sentence_words) in enumerate(
        zip(segments, texts, words, strict=True)
    ):
        cited: dict[int, str | None] = {}
        for m in segment.markers:
            cited[m.n] = cited.get(m.n) or m.quote
        check = SentenceCheck(text=sentence, citations=list(cited))
        if segment.code or segment.heading or not sentence_words.content:
            checks.append(check)
            continue
        if cited:
            found = [
                _pair(index, n, sentence, sentence_words, passage(n), q, vectors, thresholds)
                for n, q in cited.items()
            ]
            _check_together(check, found, sentence, sentence_words, vectors, thresholds)
            pairs.extend(found)
        elif not _needs_no_source(sentence, sentence_words, lexicon):
            best = _best_uncited(
                index, sentence, sentence_words, hits, passage, vectors, thresholds
            )
            if best is not None:
                clear = (
                    sentence_words.agrees(best.evidence.words)
                    and best.overlap >= thresholds.add_overlap
                    and (
                        best.similarity >= thresholds.add_similarity
                        or _word_for_word(sentence, best.evidence.text)
                    )
                )
                check.overlap, check.similarity = best.overlap, best.similarity
                check.supported = clear
                if clear:
                    best.supported = best.added = True
                    check.added_citation = True
                    check.citations = [best.passage]
                    pairs.append(best)
            else:
                check.supported = False
        checks.append(check)
    return _renumber(canonical, hits, segments, checks, pairs, filtered, counts)


def _pair(
    index: int,
    n: int,
    sentence: str,
    words: Terms,
    passage: _Passage,
    quote: str | None,
    vectors: _Vectors,
    thresholds: Thresholds,
) -> _Pair:
    evidence = _evidence(sentence, words, passage, quote, vectors, thresholds)
    overlap = words.overlap(evidence.words)
    similarity = vectors.similarity(sentence, evidence.text)
    supported = words.agrees(evidence.words) and (
        overlap >= thresholds.overlap or similarity >= thresholds.similarity
    )
    return _Pair(index, n, evidence, overlap, similarity, supported)


def _check_together(
    check: SentenceCheck,
    found: list[_Pair],
    sentence: str,
    words: Terms,
    vectors: _Vectors,
    thresholds: Thresholds,
) -> None:
    """A sentence is supported by one of its spans, or by all of them together (a sentence that
    combines two passages); then each span that contributes a word no other covers supports it."""
    best = max(found, key=lambda p: (p.supported, p.overlap, p.similarity))
    check.overlap, check.similarity, check.supported = best.overlap, best.similarity, best.supported
    if best.supported or len(found) < 2:
        return
    joined = Terms.union([p.evidence.words for p in found])
    together = " ".join(p.evidence.text for p in found)
    overlap, similarity = words.overlap(joined), vectors.similarity(sentence, together)
    if not (
        words.agrees(joined)
        and (overlap >= thresholds.overlap or similarity >= thresholds.similarity)
    ):
        return
    check.overlap, check.similarity, check.supported = overlap, similarity, True
    for p in found:
        others = Terms.union([o.evidence.words for o in found if o is not p])
        own = (words.content & p.evidence.words.content) - others.content
        own_numbers = (words.numbers & p.evidence.words.mentions) - others.mentions
        p.supported = bool(own or own_numbers)


def _best_uncited(
    index: int,
    sentence: str,
    words: Terms,
    hits: Sequence[Hit],
    passage: Callable[[int], _Passage],
    vectors: _Vectors,
    thresholds: Thresholds,
) -> _Pair | None:
    """The passage an uncited sentence most clearly comes from, with its best span: among those
    sharing ``add_overlap`` of its words the most similar, else the one sharing the most."""
    found = [
        (n, _candidates(words, passage(n), thresholds.overlap)) for n in range(1, len(hits) + 1)
    ]
    if not found or not words.content:
        return None
    wanted = thresholds.add_overlap * len(words.content)
    # Only passages sharing enough words can support it clearly: embed just their spans.
    near = [(n, c) for n, c in found if max((x[0] for x in c), default=0) >= wanted]
    if not near:
        near = [max(found, key=lambda f: max((x[0] for x in f[1]), default=0))]
    best: _Pair | None = None
    for n, candidates in near:
        evidence = _best_match(sentence, candidates, passage(n), vectors)
        overlap = words.overlap(evidence.words)
        similarity = vectors.similarity(sentence, evidence.text)
        pair = _Pair(index, n, evidence, overlap, similarity, supported=False)
        if best is None or (words.agrees(evidence.words), similarity) > (
            words.agrees(best.evidence.words),
            best.similarity,
        ):
            best = pair
    return best


def _word_for_word(sentence: str, span: str) -> bool:
    """Whether ``sentence`` (two words or more) is a run of ``span``'s words, ignoring case and
    punctuation.

    A short answer in the passage's own words ("14 days in advance") is as supported as a claim
    can be, but its embedding is too short to reach ``ADD_SIMILARITY`` against a whole sentence.
    """
    words = _WORD.findall(sentence.lower())
    if len(words) < VERBATIM_MIN_WORDS:
        return False
    within = _WORD.findall(span.lower())
    size = len(words)
    return any(within[i : i + size] == words for i in range(len(within) - size + 1))


def _renumber(
    text: str,
    hits: Sequence[Hit],
    segments: list[_Segment],
    checks: list[SentenceCheck],
    pairs: list[_Pair],
    filtered: MarkerFilter,
    counts: MarkerCounts | None,
) -> CheckedAnswer:
    """Number the cited passages in order of first citation and rewrite the text to match."""
    # Every marker in the text, and each added one at the end of its sentence, in text order.
    placed: list[tuple[int, int, int, bool]] = [
        (m.start, m.end, m.n, False) for m in filtered.markers
    ]
    for pair in pairs:
        if pair.added:
            segment = segments[pair.segment]
            at = segment.end
            while at > segment.start and text[at - 1] in ".!?…:;":
                at -= 1
            placed.append((at, at, pair.passage, True))
    placed.sort(key=lambda p: (p[0], p[3]))
    numbers: dict[int, int] = {}
    for _, _, n, _ in placed:
        numbers.setdefault(n, len(numbers) + 1)

    starts = [s.start for s in segments]
    by_sentence = {(p.segment, p.passage): p for p in pairs}
    shown: list[tuple[int, int]] = []  # (segment, passage) of each marker left in the text
    parts: list[str] = []
    pos, previous_end, previous_n = 0, -1, 0
    for start, end, n, added in placed:
        parts.append(text[pos:start])
        new = numbers[n]
        if start == previous_end and new == previous_n:
            pos = end  # "[1][1]" after renumbering: shown once
            continue
        space = " " if added and start > 0 and not text[start - 1].isspace() else ""
        parts.append(f"{space}[{new}]")
        pos, previous_end, previous_n = end, end, new
        # An added marker sits at its sentence's end, where the next sentence may start.
        sentence = max(0, bisect.bisect_right(starts, start - 1 if added else start) - 1)
        shown.append((sentence, n))
    parts.append(text[pos:])

    spans: list[CitedSpan] = []
    for pair in pairs:
        hit = hits[pair.passage - 1]
        ev = pair.evidence
        spans.append(
            CitedSpan(
                sentence=pair.segment,
                n=numbers[pair.passage],
                passage=pair.passage,
                span_start=hit.char_start + ev.start,
                span_end=hit.char_start + ev.end,
                quote=hit.text[ev.start : ev.end],
                located=ev.located,
                overlap=pair.overlap,
                similarity=pair.similarity,
                supported=pair.supported,
                added=pair.added,
            )
        )
    for check in checks:
        check.citations = list(dict.fromkeys(numbers[n] for n in check.citations))
    markers: list[MarkerSpan] = []
    for sentence, n in shown:
        own = by_sentence.get((sentence, n))
        marker = MarkerSpan(n=numbers[n])
        if own is not None:
            hit, ev = hits[n - 1], own.evidence
            marker.span_start, marker.span_end = hit.char_start + ev.start, hit.char_start + ev.end
            marker.quote = hit.text[ev.start : ev.end]
        markers.append(marker)

    references = []
    for passage_number, n in numbers.items():
        citation = Citation.from_hit(hits[passage_number - 1], n)
        # The span shown for a reference: its first citation that supports its sentence, else
        # its first citation.  The first one is what the reader meets first; a supported one is
        # worth showing over an unsupported one.
        mine = [s for s in spans if s.n == n]
        chosen = next((s for s in mine if s.supported), mine[0] if mine else None)
        if chosen is not None:
            citation.span_start, citation.span_end = chosen.span_start, chosen.span_end
            citation.quote = chosen.quote
        references.append(citation)

    model_pairs = [s for s in spans if not s.added]
    before = counts or MarkerCounts()
    stats = CitationStats(
        markers_total=len(filtered.markers),
        removed_unknown=before.removed_unknown + filtered.removed_unknown,
        repaired=before.repaired + filtered.repaired,
        added=sum(1 for s in spans if s.added),
        supported_sentences=sum(1 for c in checks if c.supported is True),
        unsupported_sentences=sum(1 for c in checks if c.supported is False),
        # The model's own citations: one it left out and the check added is not its precision.
        citation_precision=(
            sum(1 for s in model_pairs if s.supported) / len(model_pairs) if model_pairs else None
        ),
    )
    return CheckedAnswer(
        text="".join(parts),
        references=references,
        sentences=checks,
        spans=spans,
        markers=markers,
        stats=stats,
    )
