"""The offline answerer: the answer is the passages' own best sentences, each cited.

No server, no key, no weights beyond the embedder the index already uses, so it is what ``make
run`` answers with.  It cannot rephrase, combine or compute; what it says is verbatim from a
document, so its citations are exact by construction (it knows each sentence's span).

Each sentence of the top passages is scored against the question by word overlap (rarer words
count more) and by the cosine of their MiniLM embeddings; the best sentence is taken, then the
sentences close to it in score (and the one right after it in the same paragraph, which often
finishes the thought: "Alert E1052 is raised when ... Restart the ...").  When even the best
sentence is not similar enough to the question, it abstains: ``ABSTAIN_BELOW`` was calibrated on
questions the documents cannot answer (real documents and the test handbook, see below).  A
sentence that cannot be the answer whatever its similarity (it misses the asked code, the asked
kind of answer, or names a sibling of what was asked: ``docchat.chat.asked``) stays below it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import PurePath

import numpy as np
import numpy.typing as npt

from docchat.chat.asked import Variants, asked_for
from docchat.chat.extent import each_named, extent_of
from docchat.chat.sentences import Sentence, split_sentences
from docchat.language import Lexicon
from docchat.retrieval.embedders import Embedder
from docchat.retrieval.hybrid import Hit
from docchat.textsearch import keywords, words

# The numbers down to IDENTIFIER_BONUS were set by hand when the answerer was written, not
# calibrated.  Measured since (bench/calibrate_modes.py extractive: the 63 calibration questions,
# 41 answerable and 22 not, each question alone, one number changed at a time), as set: keywords
# 36/41, abstained 17/22, false abstention 4/41, 1.46 sentences an answer.
# - MAX_PASSAGES 3 or 10: the same on this set.
# - MAX_SENTENCES 1: keywords 35/41 (1.32 sentences); 2: 36/41 (1.43); 5: as 3.
# - KEEP_RATIO 0.75: 36/41 with 1.62 sentences; 0.95: 35/41 (1.35).
# - NEXT_RATIO 0.4: 36/41 with 1.76 sentences; 0.8: 35/41 (1.27).
# - SENTENCE_WEIGHT 0.4: 33/41, abstained 18/22, false 7/41; 0.6: 37/41, 15/22, 3/41.
# - OVERLAP_WEIGHT 0.1: 36/41 with 1.62 sentences; 0.3: 36/41, abstained 16/22.
# - IDENTIFIER_BONUS 0: abstained 18/22, otherwise the same; 0.3: 1.54 sentences.
# A step either way loses a keyword or adds sentences, or changes nothing here.  The weights move
# every score and so the abstention floor with them: they are recalibrated with ABSTAIN_BELOW, on
# real documents, never alone.
#: Passages whose sentences are considered (in retrieval order).
MAX_PASSAGES = 6
#: Sentences in an answer.
MAX_SENTENCES = 3
#: A further sentence joins the answer when it scores at least this share of the best one.
KEEP_RATIO = 0.85
#: The sentence right after the best one joins at this share (it often completes the answer).
NEXT_RATIO = 0.6
#: A sentence's score: its embedding similarity to the question, its passage's, and the share of
#: the question's content words it contains.
SENTENCE_WEIGHT, PASSAGE_WEIGHT, OVERLAP_WEIGHT = 0.5, 0.3, 0.2
#: Added when the question names a code, model number or year that the sentence names too.
IDENTIFIER_BONUS = 0.15
#: Sentences embedded per answer: the best by the cheap signals (their passage's similarity, the
#: share of the question's words they hold), then the sentence after the best one if it was not
#: among them.  Embedding is most of the answerer's cost (4-6 ms a sentence on 2 cores); the top
#: passages hold ~60 sentences.  Against the 12 (each with its successor) embedded before: the same
#: answers on the handbook's test, calibration and hold-out questions; on the Python reference
#: (bench/data/pyref-qa.jsonl, longer passages) one false abstention in 38 more; first token p95
#: at 100k chunks 193 -> 123 ms (bench/chat.py).
EMBED_AT_MOST = 6
#: Lines above a definition list's "label: value" line that may belong to its entry.
ENTRY_LINES = 2
#: List items a run may take after a sentence that introduces them ("... must contain:").
LIST_AT_MOST = 6
#: Abstain when the best sentence scores below this.  Set by bench/calibrate_abstention.py --joint
#: on two calibration sets no test asks: 69 questions over real documents (bench/realdocs/
#: calibration-qa.jsonl, 11 unanswerable but on-topic) and 63 about the test handbook
#: (bench/data/calibration-qa.jsonl, 22 unanswerable).  Alone they disagree: the handbook's best
#: floor is 0.392 (balanced accuracy 0.838), the real documents' 0.515 (0.782; their sentences are
#: longer and share more words with any question, so a wrong one scores higher).  0.492 has the
#: best mean balanced accuracy of the two, 0.801 (0.749 at 0.392): real documents 0.782 (10 of 11
#: unanswerable abstained, against 6; every answer holding its keywords kept), handbook 0.820
#: (20 of 22 against 17; 30 of its 36 right answers kept).  Measured 2026-12-08 with the checks
#: of ``docchat.chat.asked``.  A bi-encoder cannot tell "meals are reimbursed up to EUR 45" from
#: an answer to "how much is reimbursed for parking".  The floor guards this answerer only: a
#: generative model reads the passages and decides (``docchat.chat.generate``).
ABSTAIN_BELOW = 0.492

ANSWERER_NAME = "extractive"

#: A table of contents' dot leaders ("2.6 Defining characters . . . . . 7"): such a line names
#: where a topic is, never what it says.
_LEADERS = re.compile(r"(?:\.\s?){5,}|\u2026{2,}")
# A sentence whose subject is what came before it.
_POINTS_BACK = re.compile(r"(?:This|These|It|They)\s+(?:is|are|was|were|must|should|can)\b")
# A heading's own number ("12.1.", "7", "A.2").
_NUMBERING = re.compile(
    r"^\s*(?:(?:chapter|section|part|appendix)\s+)?(?:[A-Z]|\d{1,3})(?:\.\d{1,3})*\.?(?:\s+|$)",
    re.IGNORECASE,
)
# A definition list's "label: value" line, no sentence: "Examples: wine, dosemu, qemu".
_ENTRY_LINE = re.compile(r"[A-Z][\w -]{0,30}:\s+\S(?!.*[.!?]\s*$)")
# A list item's marker: a bullet, "1." / "2)", "(a)".
_ITEM = re.compile(r"\s*(?:[-*+\u2022\u2023\u25e6\u25aa]|\d{1,3}[.)]|\(\w{1,3}\))\s+\S")


@dataclass(frozen=True, slots=True)
class Extract:
    """A sentence taken from passage ``passage`` (1-based, as the passages are numbered)."""

    passage: int
    sentence: Sentence
    score: float
    similarity: float
    overlap: float

    def document_span(self, hit: Hit) -> tuple[int, int]:
        """The sentence's offsets in the document's text."""
        return hit.char_start + self.sentence.start, hit.char_start + self.sentence.end


@dataclass(frozen=True, slots=True)
class Extraction:
    """What the extractive answerer found: its sentences, best first, or an abstention."""

    extracts: list[Extract]
    best_score: float
    abstained: bool


def terms(text: str, lexicon: Lexicon) -> set[str]:
    """The content words of ``text``, lower-cased and lightly stemmed."""
    return {lexicon.singular(w) for w in keywords(text, lexicon.stopwords)}


def identifiers(text: str) -> set[str]:
    """Words of ``text`` that name one thing: codes, model numbers, years (they hold a digit)."""
    return {w for w in words(text) if any(ch.isdigit() for ch in w)}


def extract(
    question: str,
    hits: Sequence[Hit],
    embedder: Embedder,
    *,
    lexicon: Lexicon,
    rephrasings: Sequence[str] = (),
    max_sentences: int = MAX_SENTENCES,
    abstain_below: float = ABSTAIN_BELOW,
    follow_on: bool = True,
) -> Extraction:
    """The sentences of ``hits`` that best answer ``question``.

    ``lexicon`` is the question's language's (its stop words, stemmer and answer-kind cues).
    ``rephrasings`` are other wordings of the same question (a follow-up's standalone rewrite:
    "Through which portal?" means "... receipts ... portal"); a sentence scores its best against
    any of them.  ``follow_on=False`` skips embedding the sentence after the best one when it
    was not shortlisted (only the best score is wanted: the evidence floor).
    """
    candidates: list[tuple[int, Sentence]] = []
    # Passages overlap (and grow to whole sentences): a sentence two of them hold is one
    # candidate, from the better-ranked passage, so an answer never says it twice.
    seen: set[tuple[str, int]] = set()
    split = [split_sentences(hit.text) for hit in hits[:MAX_PASSAGES]]
    for number, (hit, sentences) in enumerate(zip(hits[:MAX_PASSAGES], split, strict=True), 1):
        for s in sentences:
            where = (hit.document_id, hit.char_start + s.start)
            if where in seen or _heading(s) or _LEADERS.search(s.text):
                continue
            seen.add(where)
            candidates.append((number, s))
    if not candidates:
        return Extraction([], 0.0, True)

    asked = list(dict.fromkeys([question, *rephrasings]))
    codes = identifiers(question)
    sentence_terms = [terms(s.text, lexicon) for _, s in candidates]
    overlaps = np.max([_overlaps(terms(q, lexicon), sentence_terms) for q in asked], axis=0)
    wanted = asked_for(question, lexicon)
    variants = Variants.of(question, (hit.text for hit in hits[:MAX_PASSAGES]), lexicon)
    cheap = [  # the score without the sentence's own similarity
        PASSAGE_WEIGHT * max(0.0, hits[number - 1].scores.dense or 0.0) + OVERLAP_WEIGHT * overlap
        for (number, _), overlap in zip(candidates, overlaps, strict=True)
    ]
    names = [codes <= identifiers(s.text) for _, s in candidates]

    def next_to(i: int, j: int) -> bool:
        return 0 <= j < len(candidates) and candidates[j][0] == candidates[i][0]

    def under(i: int) -> str:
        # "Memory. The service needs 8 GB of RAM": the label before a sentence (or its section)
        # names what its amount is of, which the sentence itself may not say again.
        number, sentence = candidates[i]
        label = candidates[i - 1][1].text if next_to(i, i - 1) else ""
        lead = [
            _unnumbered(hits[number - 1].section or ""),
            label if len(label.split()) <= 3 else "",
        ]
        return " ".join([*lead, sentence.text])

    supplies = [
        wanted.supplied_by(s.text) or wanted.supplied_by(under(i))
        for i, (_, s) in enumerate(candidates)
    ]

    # Whether a sentence can answer: it names the asked code (or follows one that does and names
    # no other: "Alert E1057 is raised when ... Raise shared_buffers to a quarter of memory"),
    # it or the next one holds the asked kind of answer, and it is not about a sibling.
    fits = [
        (names[i] or (next_to(i, i - 1) and names[i - 1] and not _codes(sentence.text)))
        and (supplies[i] or (next_to(i, i + 1) and supplies[i + 1]))
        and not variants.sibling_in(sentence.text)
        for i, (_, sentence) in enumerate(candidates)
    ]
    # A sentence that cannot answer the question is shortlisted last.
    rank = [c if f else c - 1.0 for c, f in zip(cheap, fits, strict=True)]
    chosen = _shortlist(rank)
    vectors = embedder.embed(asked + [candidates[i][1].text for i in chosen])
    asked_vectors = vectors[: len(asked)]

    def scored_as(i: int, vector: npt.NDArray[np.float32]) -> Extract:
        number, sentence = candidates[i]
        similarity = float(np.clip(asked_vectors @ vector, 0.0, 1.0).max())
        score = cheap[i] + SENTENCE_WEIGHT * similarity
        if hits[number - 1].scores.dense is None:
            # Not found by the vector search: the sentence's own similarity stands in.
            score += PASSAGE_WEIGHT * similarity
        if not fits[i]:
            # "What does F99 mean?" is not answered by a sentence about F23, "how many people"
            # by one without people, the quick programme by the eco one, however alike.
            score = min(score, abstain_below - 0.01)
        elif codes:
            # A code, model number or year names one thing: a sentence naming it is on topic.
            score += IDENTIFIER_BONUS
        return Extract(number, sentence, score, similarity, float(overlaps[i]))

    by_index = {i: scored_as(i, v) for i, v in zip(chosen, vectors[len(asked) :], strict=True)}
    best_index = max(by_index, key=lambda i: by_index[i].score)
    best = by_index[best_index]
    if best.score < abstain_below:
        ranked = sorted(by_index.values(), key=lambda e: -e.score)
        return Extraction(ranked[:max_sentences], best.score, True)
    after = best_index + 1
    if (
        follow_on
        and after not in by_index
        and after < len(candidates)
        and candidates[after][0] == best.passage
    ):
        # The sentence after the best one often finishes its thought; embedded only now, for
        # the one sentence that is kept (embedding is most of the answerer's time).
        by_index[after] = scored_as(after, embedder.embed([candidates[after][1].text])[0])
    scored = sorted(by_index.values(), key=lambda e: -e.score)

    picked = [best]
    successor = _after_in_paragraph(
        best.sentence, split[best.passage - 1], hits[best.passage - 1].text
    )
    following = next(
        (e for e in scored if e.passage == best.passage and e.sentence == successor), None
    )
    if following is not None and (
        following.score >= NEXT_RATIO * best.score or not supplies[best_index]
    ):
        picked.append(following)
    for other in scored[1:]:
        if len(picked) >= max_sentences:
            break
        if other not in picked and other.score >= KEEP_RATIO * best.score:
            picked.append(other)
    if follow_on:

        def take(i: int) -> None:
            # Taken for the question's shape, not its score: scored cheaply if not embedded.
            if i not in by_index:
                number, sentence = candidates[i]
                by_index[i] = Extract(number, sentence, cheap[i], 0.0, float(overlaps[i]))
            if by_index[i] not in picked:
                picked.append(by_index[i])

        shape = extent_of(question, lexicon)
        for i in _part_answers(shape.parts, candidates, fits, hits, embedder, lexicon):
            take(i)
        for i in _run_after(best_index, candidates, hits, shape.run):
            take(i)
        for kept in list(picked):
            passage = split[kept.passage - 1]
            text = hits[kept.passage - 1].text
            for above in [*_context_above(kept, passage), *_goes_on(kept, passage, text)]:
                if all(above.sentence != e.sentence or above.passage != e.passage for e in picked):
                    picked.append(above)
    # Read in document order within a passage, passages in the order they were chosen.
    first_seen = {e.passage: i for i, e in reversed(list(enumerate(picked)))}
    picked.sort(key=lambda e: (first_seen[e.passage], e.sentence.start))
    return Extraction(picked, best.score, False)


def extract_each(
    question: str,
    groups: Sequence[Sequence[Hit]],
    embedder: Embedder,
    *,
    lexicon: Lexicon,
    rephrasings: Sequence[str] = (),
    abstain_below: float = ABSTAIN_BELOW,
) -> tuple[Extraction, list[Hit]]:
    """For a question about each document ("What does each of the services do?"), each group's
    (one document's passages') own answer, document after document, and the passages they cite.

    A document whose best sentence stays below the floor is left out ("Which documents say how
    to report a bug?").  A question that names nothing but the documents themselves is asked of
    each by its name as well ("What does avahi-daemon do?"): its own words match nothing.
    """
    rest = words(each_named(question, "", lexicon))
    about_documents = all(w in lexicon.stopwords for w in rest)
    extracts: list[Extract] = []
    pool: list[Hit] = []
    best = 0.0
    for group in groups:
        if not group:
            continue
        asked = list(rephrasings)
        if about_documents:
            asked.append(each_named(question, PurePath(group[0].file_name).stem, lexicon))
        found = extract(
            question,
            group,
            embedder,
            lexicon=lexicon,
            rephrasings=asked,
            abstain_below=abstain_below,
        )
        best = max(best, float(found.best_score))
        if found.abstained:
            continue
        extracts.extend(replace(e, passage=e.passage + len(pool)) for e in found.extracts)
        pool.extend(group)
    return Extraction(extracts, best, not extracts), pool


def _part_answers(
    parts: Sequence[str],
    candidates: Sequence[tuple[int, Sentence]],
    fits: Sequence[bool],
    hits: Sequence[Hit],
    embedder: Embedder,
    lexicon: Lexicon,
) -> list[int]:
    """For a question asking two things ("Where is X, and how often is it mirrored?"), the index
    of the best sentence for each part, scored as a whole question's are (its own shortlist), so
    that every part is answered."""
    sentence_terms = [terms(s.text, lexicon) for _, s in candidates]
    dense = [
        PASSAGE_WEIGHT * max(0.0, hits[number - 1].scores.dense or 0.0) for number, _ in candidates
    ]
    cheap_by_part = []
    for part in parts:
        overlaps = _overlaps(terms(part, lexicon), sentence_terms)
        cheap_by_part.append(
            [
                d + OVERLAP_WEIGHT * o if f else d + OVERLAP_WEIGHT * o - 1.0
                for d, o, f in zip(dense, overlaps, fits, strict=True)
            ]
        )
    chosen = sorted({i for cheap in cheap_by_part for i in _shortlist(cheap) if fits[i]})
    if not chosen:
        return []
    vectors = embedder.embed([*parts, *(candidates[i][1].text for i in chosen)])
    similarities = vectors[len(parts) :] @ vectors[: len(parts)].T
    return [
        max(
            chosen,
            key=lambda i: cheap[i] + SENTENCE_WEIGHT * float(similarities[chosen.index(i), k]),
        )
        for k, cheap in enumerate(cheap_by_part)
    ]


def _run_after(
    best: int, candidates: Sequence[tuple[int, Sentence]], hits: Sequence[Hit], most: int
) -> list[int]:
    """Indexes of the sentences or list items that go on from ``candidates[best]`` in its
    paragraph or list: the steps of a procedure, the items asked for, the reason given next."""
    number, sentence = candidates[best]
    text = hits[number - 1].text
    listing = sentence.text.rstrip().endswith(":") or _ITEM.match(sentence.text) is not None
    run: list[int] = []
    end = sentence.end
    for i in range(best + 1, len(candidates)):
        if len(run) >= (LIST_AT_MOST if listing else most) or candidates[i][0] != number:
            break
        following = candidates[i][1]
        between = text[end : following.start]
        item = _ITEM.match(following.text) is not None
        # A blank line ends the paragraph; a list goes on across them, item after item.
        if ("\n\n" in between or between.strip()) and not (listing and item):
            break
        if listing and not item and run:
            break
        listing = listing or item
        run.append(i)
        end = following.end
    return run


def _context_above(picked: Extract, sentences: Sequence[Sentence]) -> list[Extract]:
    """What a picked line needs from above it to say what it is about (``sentences``: all of its
    passage's).  Under "texsys.cfg", "This is the only configuration file that must be present"
    names the file only through its heading, which is what was asked: the heading comes along.
    A "label: value" line of a definition list ("Examples: wine, dosemu, qemu") comes with its
    entry: the lines above it, at most ``ENTRY_LINES``, up to the entry's heading
    ("Applications/Emulators", "Software that allows you to run non-native software ...")."""
    before = [s for s in sentences if s.end <= picked.sentence.start]
    if _POINTS_BACK.match(picked.sentence.text):
        above = before[-1:]
    elif _ENTRY_LINE.match(picked.sentence.text):
        above = before[-ENTRY_LINES:]
    else:
        return []
    for k in range(len(above) - 1, -1, -1):
        if _heading(above[k]) and not _LEADERS.search(above[k].text):
            return [
                Extract(picked.passage, s, picked.score, picked.similarity, picked.overlap)
                for s in above[k:]
            ]
    return []


def _goes_on(picked: Extract, sentences: Sequence[Sentence], text: str) -> list[Extract]:
    """The sentence right after ``picked`` in its paragraph when it goes on about the same thing
    ("The first line of the message body has to include a pseudo-header." "It should say:
    Package: <packagename>"): it opens by pointing back."""
    after = _after_in_paragraph(picked.sentence, sentences, text)
    if after is None or not _POINTS_BACK.match(after.text):
        return []
    return [Extract(picked.passage, after, picked.score, picked.similarity, picked.overlap)]


def _after_in_paragraph(
    sentence: Sentence, sentences: Sequence[Sentence], text: str
) -> Sentence | None:
    """The sentence right after ``sentence`` in ``text`` (``sentences``: all of its), unless a
    blank line ends the paragraph first."""
    after = next((s for s in sentences if s.start >= sentence.end), None)
    if after is None or "\n\n" in text[sentence.end : after.start]:
        return None
    return after


def _unnumbered(section: str) -> str:
    """A section path without its headings' numbers: "12.1. Manual pages" holds no amount."""
    return " ".join(_NUMBERING.sub("", part) for part in section.split(" > "))


def _codes(text: str) -> set[str]:
    """Words of ``text`` that mix letters and digits: codes and model numbers, not times."""
    return {w for w in identifiers(text) if not w.isdigit()}


def _overlaps(wanted: set[str], sentence_terms: Sequence[set[str]]) -> list[float]:
    """Each sentence's share of ``wanted``; rarer words (over these sentences) count more."""
    idf = {
        t: math.log(1 + len(sentence_terms) / (1 + sum(t in st for st in sentence_terms)))
        for t in wanted
    }
    total = sum(idf.values()) or 1.0
    return [sum(idf[t] for t in wanted & found) / total for found in sentence_terms]


def _shortlist(cheap: Sequence[float]) -> list[int]:
    """Indexes of the sentences worth embedding: the ``EMBED_AT_MOST`` best by their cheap score."""
    return sorted(sorted(range(len(cheap)), key=lambda i: -cheap[i])[:EMBED_AT_MOST])


def _heading(sentence: Sentence) -> bool:
    # Markdown headings, and the bare heading lines text and DOCX chunks begin with; a short list
    # item is no heading ("- start services on demand" is one of the things asked for).
    # Nor is a definition list's "label: value" line ("Default: 30pt").
    text = sentence.text
    return text.lstrip().startswith("#") or (
        len(text.split()) <= 8
        and text.rstrip()[-1:] not in ".!?:;)"
        and not _ITEM.match(text)
        and not _ENTRY_LINE.match(text)
    )
