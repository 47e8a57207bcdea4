"""The four chat modes, composed from the same steps: queries → passages → answer → check.

- ``basic``: the question (and, for a follow-up, its standalone rewrite) → hybrid retrieval → a
  grounded answer.
- ``extensive``: query variants (the model writes them, translations included; offline: terms
  from the first passages found) → a larger fused pool, reranked when asked → the answer.
- ``full_reading`` and ``deep_reflection``: see ``docchat.chat.reading`` and
  ``docchat.chat.reflection``.

Without a generative model every mode answers extractively (``docchat.chat.extractive``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from docchat.chat import generate
from docchat.chat.extractive import ANSWERER_NAME, Extraction, extract, terms
from docchat.chat.memory import standalone_query
from docchat.chat.types import AnswerEvent, Citation, RetrievalEvent, TokenEvent
from docchat.chat.web import web_passages
from docchat.errors import DocchatError
from docchat.retrieval.hybrid import MAX_QUERY_CHARS, Hit
from docchat.textsearch import keywords, singular

if TYPE_CHECKING:
    from docchat.chat.answer import ChatEngine, TurnState

#: Version of the extractive answer's wording (the generative prompts carry their own).
EXTRACTIVE_VERSION = "extractive-1"
#: Web results are placed after this many document passages.
WEB_AFTER = 3
#: Passages shown as "closest, not cited" with an abstention.
CLOSEST_SHOWN = 3

Events = Generator[AnswerEvent, None, "Result"]


@dataclass(slots=True)
class Result:
    """A turn's outcome, before it is stored."""

    text: str
    references: Sequence[Citation] = ()
    abstained: bool = False
    prompt_version: str = EXTRACTIVE_VERSION
    metadata: dict[str, Any] = field(default_factory=dict)


def run(engine: ChatEngine, state: TurnState, question: str) -> Events:
    """Answer in the turn's mode."""
    mode = state.effective.mode
    if mode == "extensive":
        return (yield from extensive(engine, state, question))
    if mode == "full_reading":
        from docchat.chat.reading import full_reading

        return (yield from full_reading(engine, state, question))
    if mode == "deep_reflection":
        from docchat.chat.reflection import deep_reflection

        return (yield from deep_reflection(engine, state, question))
    return (yield from basic(engine, state, question))


def basic(engine: ChatEngine, state: TurnState, question: str) -> Events:
    """Standalone query → hybrid retrieval → grounded answer."""
    queries = yield from standalone_queries(state, question)
    hits = retrieve(engine, state, queries, k=state.effective.num_results)
    hits = with_web(engine, state, queries[-1], hits)
    yield retrieval_event(state, hits)
    return (yield from answer_from(engine, state, question, hits))


def extensive(engine: ChatEngine, state: TurnState, question: str) -> Events:
    """Several query variants, fused into a larger pool, reranked when asked, then the answer."""
    queries = yield from standalone_queries(state, question)
    eff = state.effective
    pool = eff.num_results * engine.settings.chat.pool_factor
    if state.model is not None:
        with state.timed("variants"):
            variants = generate.query_variants(
                state,
                question,
                count=engine.settings.chat.query_variants,
                languages=eff.query_languages,
            )
    else:
        first = retrieve(engine, state, queries, k=min(pool, 10))
        variants = expansion_queries(question, first, count=engine.settings.chat.query_variants)
    state.extra["variants"] = variants
    queries = list(dict.fromkeys([*queries, *(v[:MAX_QUERY_CHARS] for v in variants)]))
    state.queries = queries
    hits = retrieve(engine, state, queries, k=min(pool, 200))
    hits = hits[: eff.num_results * 2]  # the model sees a larger pool than in basic mode
    hits = with_web(engine, state, queries[0], hits)
    yield retrieval_event(state, hits)
    return (yield from answer_from(engine, state, question, hits))


# -- shared steps ------------------------------------------------------------------------------


def standalone_queries(state: TurnState, question: str) -> Generator[AnswerEvent, None, list[str]]:
    """The question, plus a standalone rewrite when it is a follow-up."""
    rewrite: str | None = None
    rephrased: str | None = None
    if state.memory:
        with state.timed("rewrite"):
            if state.model is not None:
                rewrite = rephrased = generate.rewrite_follow_up(state, question)
            else:
                rewrite = standalone_query(question, state.memory)
                rephrased = standalone_query(question, state.memory, with_answer=False)
    # A rewrite adds words to a question that may already be as long as a query may be: cut to
    # that length, it still searches with the question's words first.
    rewrite = rewrite[:MAX_QUERY_CHARS] if rewrite else rewrite
    queries = [question] if not rewrite or rewrite == question else [question, rewrite]
    if rewrite and rewrite != question:
        state.extra["rewritten_query"] = rewrite
        state.rewrite = rephrased
    state.queries = queries
    state.check()
    return queries
    yield  # a generator, so modes can report progress here later


def quietly(events: Events) -> Events:
    """Run a step without streaming its text (a draft), passing other events through."""
    while True:
        try:
            event = next(events)
        except StopIteration as stop:
            result: Result = stop.value
            return result
        if not isinstance(event, TokenEvent):
            yield event


def retrieve(engine: ChatEngine, state: TurnState, queries: Sequence[str], *, k: int) -> list[Hit]:
    """The best ``k`` passages for the queries fused, within the turn's scope and options."""
    eff = state.effective
    with state.timed("retrieval"):
        hits = engine.retriever.search_many(
            list(queries),
            owner=state.owner,
            k=max(1, min(k, 200)),
            filters=eff.source_filters,
            manual_keywords=eff.manual_keywords,
            rerank=eff.enable_reranking or None,
        )
        if eff.neighbour_context:
            hits = engine.retriever.widen(hits)
    state.check()
    return hits


def with_web(engine: ChatEngine, state: TurnState, query: str, hits: list[Hit]) -> list[Hit]:
    """``hits`` and, when the turn asks for web search, the web's results after them."""
    if not state.effective.enable_web_search:
        return hits
    with state.timed("web_search"):
        found, report = web_passages(engine.web, query, rank_from=len(hits) + 1)
    state.extra["web_search"] = report
    state.check()
    # After the best few document passages, so that a small window still sees both kinds.
    return [*hits[:WEB_AFTER], *found, *hits[WEB_AFTER:]]


def retrieval_event(state: TurnState, hits: Sequence[Hit]) -> RetrievalEvent:
    """What the model will see, numbered as it will see it."""
    state.passages = list(hits)
    return RetrievalEvent(
        queries=state.queries,
        passages=[
            {
                "n": i,
                "document_id": h.document_id,
                "file_name": h.file_name,
                "page": h.page,
                "section": h.section,
                "snippet": h.snippet,
                "score": h.score,
            }
            for i, h in enumerate(hits, 1)
        ],
    )


def expansion_queries(question: str, hits: Sequence[Hit], *, count: int) -> list[str]:
    """Offline query variants: the question plus words the first passages use often and it does
    not (pseudo-relevance feedback), one variant per passage."""
    asked = terms(question)
    variants = []
    for hit in hits[:count]:
        used = keywords(hit.text)
        # Counted and compared by singular, written as the passage writes it ("dishes", not the
        # stem "dishe": the query is embedded as well as searched).
        counts = Counter(singular(w) for w in used)
        spelled = {singular(w): w for w in reversed(used)}  # the first spelling seen
        words = [t for t in counts if t not in asked and not t.isdigit() and len(t) > 3]
        ranked = sorted(words, key=lambda t: (-counts[t], t))[:6]
        if ranked:
            variants.append(f"{question} {' '.join(spelled[t] for t in ranked)}")
    return variants


def answer_from(engine: ChatEngine, state: TurnState, question: str, hits: Sequence[Hit]) -> Events:
    """The answer from these passages: generated, or extracted without a model."""
    if state.model is None:
        return (yield from extractive_answer(engine, state, question, hits))
    return (yield from generate.grounded_answer(engine, state, question, hits))


def extractive_answer(
    engine: ChatEngine, state: TurnState, question: str, hits: Sequence[Hit]
) -> Events:
    """The passages' best sentences, each cited with its exact span; or an abstention."""
    with state.timed("answer"):
        found = (
            extract(question, hits, engine.embedder(), rephrasings=state.rephrasings)
            if hits
            else Extraction([], 0.0, True)
        )
    state.extra["evidence_score"] = round(found.best_score, 4)
    state.check()
    if found.abstained:
        result = abstention(state, hits)
        yield TokenEvent(text=result.text)
        return result
    result = extracted(found, hits)
    for i, piece in enumerate(result.metadata["sentences"]):
        yield TokenEvent(text=(" " if i else "") + piece["text"])
    return result


def extracted(found: Extraction, hits: Sequence[Hit]) -> Result:
    """The answer made of ``found``'s sentences, each cited with its exact span."""
    citations: dict[int, Citation] = {}
    parts: list[str] = []
    for e in found.extracts:
        hit = hits[e.passage - 1]
        if e.passage not in citations:
            start, end = e.document_span(hit)
            citation = Citation.from_hit(hit, len(citations) + 1)
            citation.span_start, citation.span_end, citation.quote = start, end, e.sentence.text
            citations[e.passage] = citation
        parts.append(with_marker(e.sentence.text, citations[e.passage].n))
    return Result(
        text=" ".join(parts),
        references=list(citations.values()),
        metadata={
            "answerer": ANSWERER_NAME,
            "sentences": [
                {"text": text, "citations": [citations[e.passage].n], "supported": True}
                for text, e in zip(parts, found.extracts, strict=True)
            ],
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
