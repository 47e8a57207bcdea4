"""The naive answers docchat's are measured against, drawn from the very passages its turn
retrieved (the answer's ``metadata.passages``), so that only the answering differs:

- ``top_passage``: the whole top passage as the answer, citing itself; never abstains.
- ``top_sentences``: the 3 sentences of the passages most similar to the question (cosine of
  the app's own embedder, MiniLM by default), each citing itself; never abstains.

If docchat's answers do no better than these on keywords and citations, the answering adds
nothing the retrieval did not already give.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from docchat.chat.sentences import split_sentences
from docchat.chat.types import Answer, Citation

Baseline = Literal["top_passage", "top_sentences"]
BASELINES: dict[Baseline, str] = {
    "top_passage": "the whole top passage as the answer, no abstention",
    "top_sentences": "the 3 passage sentences most similar to the question (the app's embedder, "
    "cosine), no abstention",
}
#: Sentences the ``top_sentences`` baseline answers with.
TOP_SENTENCES = 3

#: Unit vectors of texts, one row each (``Embedder.embed``).
Embed = Callable[[Sequence[str]], npt.NDArray[np.float32]]
#: A document's text by id, None when it is gone.
ReadText = Callable[[str], "str | None"]


@dataclass(frozen=True, slots=True)
class TurnPassage:
    """A passage a turn retrieved, read back from its document: ``text`` is
    ``document_text[char_start:char_end]``."""

    n: int
    document_id: str
    file_name: str
    chunk_id: int | None
    char_start: int
    char_end: int
    text: str


@dataclass(frozen=True, slots=True)
class BaselineAnswer:
    """A baseline's answer: its text and what it cites (document spans, quotes exact)."""

    text: str
    references: list[Citation]


def turn_passages(answer: Answer, read: ReadText) -> list[TurnPassage]:
    """The passages ``answer``'s turn retrieved, in the order the answerer saw them.

    Entries without offsets (answers stored before they were recorded), of deleted documents or
    with offsets outside the text are left out; so is everything when the metadata was too large
    to keep its passages.
    """
    found: list[TurnPassage] = []
    entries = answer.metadata.get("passages")
    for position, entry in enumerate(entries if isinstance(entries, list) else [], 1):
        if not isinstance(entry, dict):
            continue
        document_id = entry.get("document_id")
        start, end = entry.get("char_start"), entry.get("char_end")
        if not (isinstance(document_id, str) and isinstance(start, int) and isinstance(end, int)):
            continue
        text = read(document_id)
        if text is None or not 0 <= start < end <= len(text):
            continue
        chunk_id, n = entry.get("chunk_id"), entry.get("n")
        found.append(
            TurnPassage(
                n=n if isinstance(n, int) else position,
                document_id=document_id,
                file_name=str(entry.get("file_name") or ""),
                chunk_id=chunk_id if isinstance(chunk_id, int) else None,
                char_start=start,
                char_end=end,
                text=text[start:end],
            )
        )
    return found


def _citation(n: int, passage: TurnPassage, start: int, end: int) -> Citation:
    """A citation of ``passage`` whose span is ``passage.text[start:end]``."""
    return Citation(
        n=n,
        document_id=passage.document_id,
        file_name=passage.file_name,
        chunk_id=passage.chunk_id,
        char_start=passage.char_start,
        char_end=passage.char_end,
        span_start=passage.char_start + start,
        span_end=passage.char_start + end,
        quote=passage.text[start:end],
    )


def top_passage(passages: Sequence[TurnPassage]) -> BaselineAnswer:
    """The first passage, whole (without its surrounding whitespace), citing itself."""
    if not passages:
        return BaselineAnswer(text="", references=[])
    first = passages[0]
    stripped = first.text.strip()
    if not stripped:
        return BaselineAnswer(text="", references=[])
    start = first.text.index(stripped)
    cited = _citation(1, first, start, start + len(stripped))
    return BaselineAnswer(text=f"{stripped} [1]", references=[cited])


class SentenceRanker:
    """The ``top_sentences`` baseline, with the embeddings of sentences it has seen kept: the
    same passages come back for every mode and model."""

    def __init__(self, embed: Embed) -> None:
        self._embed = embed
        self._vectors: dict[str, npt.NDArray[np.float32]] = {}

    def _vectors_of(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            for text, vector in zip(missing, self._embed(missing), strict=True):
                self._vectors[text] = vector
        return np.stack([self._vectors[t] for t in texts])

    def answer(self, question: str, passages: Sequence[TurnPassage]) -> BaselineAnswer:
        """The ``TOP_SENTENCES`` sentences of ``passages`` closest to ``question``, most similar
        first, each citing its own span."""
        candidates: list[tuple[TurnPassage, int, int, str]] = []
        seen: set[tuple[str, int]] = set()
        for passage in passages:
            for sentence in split_sentences(passage.text):
                key = (passage.document_id, passage.char_start + sentence.start)
                # Overlapping passages hold the same sentence twice; one is enough.
                if key in seen or not any(c.isalnum() for c in sentence.text):
                    continue
                seen.add(key)
                candidates.append((passage, sentence.start, sentence.end, sentence.text))
        if not candidates:
            return BaselineAnswer(text="", references=[])
        vectors = self._vectors_of([question, *(c[3] for c in candidates)])
        scores = vectors[1:] @ vectors[0]
        # Stable: on a tie the earlier passage's sentence wins.
        best = sorted(range(len(candidates)), key=lambda i: -float(scores[i]))[:TOP_SENTENCES]
        references: list[Citation] = []
        parts: list[str] = []
        for n, index in enumerate(best, 1):
            passage, start, end, text = candidates[index]
            references.append(_citation(n, passage, start, end))
            parts.append(f"{text} [{n}]")
        return BaselineAnswer(text=" ".join(parts), references=references)
