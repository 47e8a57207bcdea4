"""How a turn ends, whatever the mode: sentences extracted and cited, an abstention naming what
was searched, or what a stopped or failed turn keeps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from docchat.chat.extractive import ANSWERER_NAME, Extraction
from docchat.chat.turn import Result, TurnState
from docchat.chat.types import Citation
from docchat.errors import DocchatError
from docchat.retrieval.hybrid import Hit

#: Passages shown as "closest, not cited" with an abstention.
CLOSEST_SHOWN = 3


def extracted(found: Extraction, hits: Sequence[Hit]) -> Result:
    """The answer made of ``found``'s sentences, each cited with its exact span."""
    citations: dict[int, Citation] = {}
    parts: list[str] = []
    markers: list[dict[str, Any]] = []
    for e in found.extracts:
        hit = hits[e.passage - 1]
        start, end = e.document_span(hit)
        if e.passage not in citations:
            citation = Citation.from_hit(hit, len(citations) + 1)
            citation.span_start, citation.span_end, citation.quote = start, end, e.sentence.text
            citations[e.passage] = citation
        n = citations[e.passage].n
        parts.append(with_marker(e.sentence.text, n))
        # Each sentence's marker shows that sentence; the reference shows the first one.
        markers.append({"n": n, "span_start": start, "span_end": end, "quote": e.sentence.text})
    return Result(
        text=" ".join(parts),
        references=list(citations.values()),
        metadata={
            "answerer": ANSWERER_NAME,
            "sentences": [
                {"text": text, "citations": [citations[e.passage].n], "supported": True}
                for text, e in zip(parts, found.extracts, strict=True)
            ],
            "marker_spans": markers,
        },
    )


def with_marker(sentence: str, n: int) -> str:
    """``sentence`` with ``[n]`` before its final punctuation."""
    stripped = sentence.rstrip()
    if stripped and stripped[-1] in ".!?;:":
        return f"{stripped[:-1]} [{n}]{stripped[-1]}"
    return f"{stripped} [{n}]"


def abstention(state: TurnState, hits: Sequence[Hit], *, reason: str | None = None) -> Result:
    """Say the documents do not hold the answer, what was searched, and the closest passages."""
    searched = "; ".join(f'"{_short(q)}"' for q in state.queries[:4]) or "your question"
    closest = [
        {
            "document_id": h.document_id,
            "file_name": h.file_name,
            "page": h.page,
            "section": h.section,
            "char_start": h.char_start,
            "char_end": h.char_end,
            "snippet": h.snippet,
            "score": round(h.score, 4),
        }
        for h in hits[:CLOSEST_SHOWN]
    ]
    scope = _scope_text(state)
    lines = [
        "I could not find the answer in your documents.",
        f"I searched for {searched}" + (f" in {scope}." if scope else "."),
    ]
    if closest:
        lines.append("The closest passages (not cited, they do not answer it):")
        for c in closest:
            page = f", page {c['page']}" if c["page"] else ""
            lines.append(f"- {c['file_name']}{page}: {' '.join(str(c['snippet']).split())}")
    return Result(
        text="\n".join(lines),
        abstained=True,
        metadata={"closest": closest, **({"abstain_reason": reason} if reason else {})},
    )


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _scope_text(state: TurnState) -> str:
    f = state.effective.source_filters
    parts = []
    if f.collections:
        parts.append("collections " + ", ".join(f.collections))
    if f.documents:
        parts.append(f"{len(f.documents)} chosen document(s)")
    if f.file_globs:
        parts.append("files matching " + ", ".join(f.file_globs))
    return "; ".join(parts)


def partial(
    state: TurnState, *, cancelled: bool = False, error: DocchatError | None = None
) -> Result:
    """What a stopped or failed turn keeps: its text so far, marked."""
    meta: dict[str, Any] = {"partial": True}
    if cancelled:
        meta["cancelled"] = True
    if error is not None:
        meta["error"] = {"code": error.code, "message": error.message}
        kind = getattr(error, "kind", None)
        if kind:
            meta["error"]["kind"] = kind
    return Result(text=state.text, metadata=meta)
