"""The steps every mode composes: queries → passages (documents, web) → an answer.

A step takes the engine's parts (``TurnEngine``) and the turn's state, records what it did on the
state (queries, timings, extra metadata) and checks the turn's stop flag when it is done.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Generator, Sequence

from docchat.chat import generate
from docchat.chat.extractive import Extraction, extract, terms
from docchat.chat.memory import follow_up_terms, standalone_query
from docchat.chat.outcomes import abstention, extracted
from docchat.chat.sentences import whole_sentences
from docchat.chat.turn import Events, Result, TurnEngine, TurnState
from docchat.chat.types import AnswerEvent, RetrievalEvent, TokenEvent
from docchat.chat.web_search import web_passages
from docchat.language import Lexicon
from docchat.retrieval.hybrid import MAX_QUERY_CHARS, Hit, Retriever
from docchat.textsearch import keywords

#: Web results are placed after this many document passages.
WEB_AFTER = 3


def standalone_queries(state: TurnState, question: str) -> Generator[AnswerEvent, None, list[str]]:
    """The question, plus a standalone rewrite when it is a follow-up."""
    rewrite: str | None = None
    if state.memory:
        with state.timed("rewrite"):
            if state.model is not None:
                rewrite = generate.rewrite_follow_up(state, question)
            else:
                lexicon = state.lexicon()
                rewrite = standalone_query(question, state.memory, lexicon)
                state.rewrite_terms = follow_up_terms(question, state.memory, lexicon)
    # A rewrite adds words to a question that may already be as long as a query may be: cut to
    # that length; the question is searched on its own as well.
    rewrite = rewrite[:MAX_QUERY_CHARS] if rewrite else rewrite
    queries = [question] if not rewrite or rewrite == question else [question, rewrite]
    if rewrite and rewrite != question:
        state.extra["rewritten_query"] = rewrite
        state.rewrite = rewrite
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


def retrieve(engine: TurnEngine, state: TurnState, queries: Sequence[str], *, k: int) -> list[Hit]:
    """The best ``k`` passages for the queries fused, within the turn's scope and options."""
    eff = state.effective
    with state.timed("retrieval"):
        hits = engine.retriever.search_many(
            list(queries),
            owner=state.owner,
            k=max(1, min(k, 200)),
            filters=eff.source_filters,
            manual_keywords=eff.manual_keywords,
            enable_reranking=eff.enable_reranking or None,
        )
        # A widened hit spans the very text sentence_whole would read around it (the adjacent
        # passages of its page and section), so it could not grow further: one read, not two.
        if eff.neighbour_context:
            hits = engine.retriever.widen(hits)
        else:
            hits = sentence_whole(engine.retriever, hits)
    state.check()
    return hits


def sentence_whole(retriever: Retriever, hits: Sequence[Hit]) -> list[Hit]:
    """``hits`` each starting and ending on a sentence's bounds: chunks are cut by length and
    overlap, so one may open or close inside a sentence, and an answer quoting it would cite a
    fragment ("... but the manual says the device must not").  The rest of the sentence comes
    from the adjacent passage of the same page; where there is none, the cut stays."""
    out: list[Hit] = []
    for hit, region in zip(hits, retriever.surroundings(hits), strict=True):
        if region is None:
            out.append(hit)
            continue
        offset, text = region
        start, end = whole_sentences(text, hit.char_start - offset, hit.char_end - offset)
        if (start + offset, end + offset) == (hit.char_start, hit.char_end):
            out.append(hit)
            continue
        out.append(
            hit.model_copy(
                update={
                    "char_start": start + offset,
                    "char_end": end + offset,
                    "text": text[start:end],
                }
            )
        )
    return out


def with_web(engine: TurnEngine, state: TurnState, query: str, hits: list[Hit]) -> list[Hit]:
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


def expansion_queries(
    question: str, hits: Sequence[Hit], *, count: int, lexicon: Lexicon
) -> list[str]:
    """Offline query variants: the question plus words the first passages use often and it does
    not (pseudo-relevance feedback), one variant per passage."""
    asked = terms(question, lexicon)
    variants = []
    for hit in hits[:count]:
        used = keywords(hit.text, lexicon.stopwords)
        # Counted and compared by singular, written as the passage writes it ("dishes", not the
        # stem "dishe": the query is embedded as well as searched).
        counts = Counter(lexicon.singular(w) for w in used)
        spelled = {lexicon.singular(w): w for w in reversed(used)}  # the first spelling seen
        words = [t for t in counts if t not in asked and not t.isdigit() and len(t) > 3]
        ranked = sorted(words, key=lambda t: (-counts[t], t))[:6]
        if ranked:
            variants.append(f"{question} {' '.join(spelled[t] for t in ranked)}")
    return variants


def answer_from(engine: TurnEngine, state: TurnState, question: str, hits: Sequence[Hit]) -> Events:
    """The answer from these passages: generated, or extracted without a model."""
    if state.model is None:
        return (yield from extractive_answer(engine, state, question, hits))
    return (yield from generate.grounded_answer(engine, state, question, hits))


def extractive_answer(
    engine: TurnEngine, state: TurnState, question: str, hits: Sequence[Hit]
) -> Events:
    """The passages' best sentences, each cited with its exact span; or an abstention."""
    with state.timed("answer"):
        found = (
            extract(
                question,
                hits,
                engine.embedder(),
                lexicon=state.lexicon(hits),
                rephrasings=state.rephrasings,
            )
            if hits
            else Extraction([], 0.0, True)
        )
    return (yield from extraction_answer(state, found, hits))


def extraction_answer(state: TurnState, found: Extraction, hits: Sequence[Hit]) -> Events:
    """The answer made of what the extractive answerer ``found`` in ``hits``, streamed."""
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
