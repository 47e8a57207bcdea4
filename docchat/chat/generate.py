"""The steps that call a generative model: rewrite, variants, the grounded answer itself.

Every call goes through ``_call``, which counts calls and tokens on the turn, checks the turn's
cancel flag between pieces and stops the model by closing its stream.  Passages are numbered as
the model sees them (after the context budget dropped what does not fit); markers are filtered as
they stream and checked against the passages when the reply is complete.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from docchat.chat.budget import ensure_fits, fit
from docchat.chat.citations import CheckedAnswer, MarkerFilter, check_answer
from docchat.chat.extractive import Extraction, extract
from docchat.chat.memory import as_messages
from docchat.chat.outcomes import abstention, extracted
from docchat.chat.turn import Result, TurnEngine, TurnState
from docchat.chat.types import AnswerEvent, TokenEvent
from docchat.language import Lexicon
from docchat.llm import prompts
from docchat.llm.base import ChatMessage, ChatModel, TextDelta, Usage, estimate_tokens
from docchat.retrieval.embedders import Embedder
from docchat.retrieval.hybrid import Hit

if TYPE_CHECKING:
    from collections.abc import Generator

#: Models with a window this small or smaller see at most SMALL_WINDOW_PASSAGES passages.
SMALL_WINDOW = 4096
SMALL_WINDOW_PASSAGES = 4
#: Tokens asked for when neither the request nor the model's settings say.
DEFAULT_REPLY_TOKENS = 512
#: Short replies: a rewritten question, query variants.
SHORT_REPLY_TOKENS = 96
#: Label of an answer from the model's own knowledge (only when the request allows it).
OWN_KNOWLEDGE_LABEL = "Not from your documents (the model's own knowledge, unchecked):"


def _call(
    state: TurnState,
    messages: Sequence[ChatMessage],
    *,
    max_tokens: int,
    temperature: float | None = None,
) -> Iterator[str]:
    """The model's reply as text pieces; usage and calls are counted on the turn."""
    model = state.model
    assert model is not None
    ensure_fits(
        window=model.context_window,
        reply_tokens=max_tokens,
        messages=messages,
        count=model.count_tokens,
    )
    state.usage.count_call()
    slots = state.model_slots
    if slots is not None:
        while not slots.acquire(timeout=0.2):  # a turn waiting for the model can be cancelled
            state.check()
    stream = model.stream(
        messages,
        temperature=temperature if temperature is not None else state.effective.temperature,
        max_tokens=max_tokens,
    )
    try:
        for event in stream:
            state.check()
            if isinstance(event, TextDelta):
                yield event.text
            elif isinstance(event, Usage):
                state.usage.add(event.prompt_tokens, event.completion_tokens)
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()  # stops generation when the turn stops early
        if slots is not None:
            slots.release()


def complete(state: TurnState, messages: Sequence[ChatMessage], *, max_tokens: int) -> str:
    """The model's whole reply to ``messages`` (deterministic: temperature 0)."""
    return "".join(_call(state, messages, max_tokens=max_tokens, temperature=0.0)).strip()


def rewrite_follow_up(state: TurnState, question: str) -> str | None:
    """The question made standalone by the model from the recent turns that fit its window
    (None: unchanged)."""
    history = as_messages(state.memory[-3:])
    if state.model is not None:
        fitted = fit(
            window=state.model.context_window,
            reply_tokens=SHORT_REPLY_TOKENS,
            fixed=[m.content for m in prompts.rewrite_messages(question, [])],
            passages=[],
            memory=history,
            count=state.model.count_tokens,
        )
        history = fitted.memory
    if not history:
        return None
    reply = complete(
        state, prompts.rewrite_messages(question, history), max_tokens=SHORT_REPLY_TOKENS
    )
    lines = prompts.parse_lines(reply, limit=1)
    rewrite = lines[0] if lines else ""
    if not rewrite or len(rewrite) > 1000 or rewrite.strip().lower() == question.strip().lower():
        return None
    return rewrite


def query_variants(
    state: TurnState, question: str, *, count: int, languages: Sequence[str]
) -> list[str]:
    """Search queries the model writes for ``question``: rephrasings and translations."""
    if count <= 0:
        return []
    reply = complete(
        state,
        prompts.variants_messages(question, count=count, languages=languages),
        max_tokens=SHORT_REPLY_TOKENS * 2,
    )
    return [v for v in prompts.parse_lines(reply, limit=count) if len(v) <= 1000]


def source_label(hit: Hit) -> str:
    """How a prompt names a passage's origin."""
    return hit.file_name + (f", p. {hit.page}" if hit.page else "")


def grounded_answer(
    engine: TurnEngine, state: TurnState, question: str, hits: Sequence[Hit]
) -> Generator[AnswerEvent, None, Result]:
    """The model's answer from the passages, markers filtered while streaming, then checked.

    The model reads the passages and decides whether they answer: its "the documents do not say"
    is the abstention.  The extractive scorer only orders the passages (its best evidence first)
    and stands in for an answer that fails its citation check; its calibrated floor guards the
    extractive answerer, not the model, whose reading of "at least 14 days in advance" answers
    "how far ahead must trips be reserved?" where the scorer's similarity fell below the floor.
    """
    model = state.model
    assert model is not None
    embedder = engine.embedder()
    evidence = _evidence(state, question, hits, embedder)
    if evidence is None:
        result = abstention(state, hits, reason="no passage was found")
        return (yield from _maybe_own_knowledge(state, question, result))
    retrieved = list(hits)  # what the evidence's passage numbers index
    small = model.context_window <= SMALL_WINDOW
    hits = _evidence_first(retrieved, evidence, small=small)
    reply_tokens = min(
        state.effective.max_tokens or DEFAULT_REPLY_TOKENS, max(64, model.context_window // 3)
    )
    kept, messages = _fitted_prompt(state, model, question, hits, reply_tokens=reply_tokens)
    markers = yield from _streamed(state, messages, kept, reply_tokens=reply_tokens)
    with state.timed("citation_check"):
        checked = check_answer(
            state.text, kept, embedder=embedder, lexicon=state.lexicon(kept), quotes=markers.quotes
        )
    stats = checked.stats
    citations = {
        "markers": stats.markers_total,
        "repaired": markers.repaired,
        "removed_unknown": markers.removed_unknown,
        "added": stats.added,
        "unsupported_sentences": stats.unsupported_sentences,
        "precision": stats.citation_precision,
    }
    if _model_found_nothing(checked, state.lexicon(kept)):
        result = abstention(state, hits, reason="the model found no answer in the passages")
        result.metadata["model_reply"] = checked.text
        return (yield from _maybe_own_knowledge(state, question, result))
    reason = _fallback_reason(checked)
    if reason is not None:
        # What the documents say instead (the model's reply is kept in the metadata), rather
        # than an unchecked answer; when even the evidence is below the floor, nothing is said.
        if evidence.abstained:
            fallback = abstention(state, retrieved, reason=reason)
        else:
            fallback = extracted(evidence, retrieved)
            fallback.metadata["fallback"] = "extractive"
        fallback.metadata.update(
            fallback_reason=reason, model_reply=checked.text, citations=citations
        )
        if evidence.abstained:
            return (yield from _maybe_own_knowledge(state, question, fallback))
        fallback.prompt_version = prompts.PROMPT_VERSION
        return fallback
    return Result(
        text=checked.text,
        references=checked.references,
        prompt_version=prompts.PROMPT_VERSION,
        metadata={
            "sentences": [s.model_dump(mode="json") for s in checked.sentences],
            "marker_spans": [m.model_dump(exclude_none=True) for m in checked.markers],
            "citations": citations,
        },
    )


def _evidence(
    state: TurnState, question: str, hits: Sequence[Hit], embedder: Embedder
) -> Extraction | None:
    """The extractive scorer's evidence, its best score recorded (None: no passages)."""
    with state.timed("evidence"):
        evidence = (
            extract(
                question,
                hits,
                embedder,
                lexicon=state.lexicon(hits),
                rephrasings=state.rephrasings,
                follow_on=False,
            )
            if hits
            else None
        )
    if evidence is not None:
        state.extra["evidence_score"] = round(evidence.best_score, 4)
    return evidence


def _fitted_prompt(
    state: TurnState,
    model: ChatModel,
    question: str,
    hits: Sequence[Hit],
    *,
    reply_tokens: int,
) -> tuple[list[Hit], list[ChatMessage]]:
    """The passages and memory that fit the model's window (what was left out recorded), and the
    prompt made of them, passages numbered as the model will see them."""
    eff = state.effective
    rendered = [
        prompts.render_passages([prompts.Passage(i, h.text, source_label(h))])
        for i, h in enumerate(hits, 1)
    ]
    frame = prompts.answer_messages(
        question,
        [],
        output_language=eff.output_language,
        custom_instructions=eff.custom_instructions,
    )
    fitted = fit(
        window=model.context_window,
        reply_tokens=reply_tokens,
        fixed=[m.content for m in frame],
        passages=rendered,
        memory=as_messages(state.memory),
        count=model.count_tokens,
    )
    kept = [hits[i] for i in fitted.passages]
    state.passages = kept
    state.extra["dropped_passages"] = [
        {"chunk_id": hits[i].chunk_id, "file_name": hits[i].file_name}
        for i in fitted.dropped_passages
    ]
    state.extra["dropped_memory_messages"] = fitted.dropped_memory_messages
    messages = prompts.answer_messages(
        question,
        [prompts.Passage(i, h.text, source_label(h)) for i, h in enumerate(kept, 1)],
        history=fitted.memory,
        output_language=eff.output_language,
        custom_instructions=eff.custom_instructions,
    )
    return kept, messages


def _streamed(
    state: TurnState, messages: Sequence[ChatMessage], kept: Sequence[Hit], *, reply_tokens: int
) -> Generator[AnswerEvent, None, MarkerFilter]:
    """The reply streamed into ``state.text``, markers filtered as they come; the filter (what it
    repaired, removed and quoted) is returned for the check."""
    markers = MarkerFilter(len(kept))
    with state.timed("generation"):
        for piece in _call(state, messages, max_tokens=reply_tokens):
            shown = markers.feed(piece)
            if shown:
                state.text += shown
                yield TokenEvent(text=shown)
        tail = markers.finish()
        if tail:
            state.text += tail
            yield TokenEvent(text=tail)
    # The server reported no usage: estimate it.
    state.usage.estimate_unreported(
        sum(estimate_tokens(m.content) for m in messages), estimate_tokens(state.text)
    )
    return markers


def _model_found_nothing(checked: CheckedAnswer, lexicon: Lexicon) -> bool:
    """The model's own verdict: it cited nothing and said the passages do not answer (in the
    words of the lexicon's ``not_found``, as the answer prompt asks it to)."""
    return not checked.references and lexicon.not_found.search(checked.text) is not None


def _fallback_reason(checked: CheckedAnswer) -> str | None:
    """Why the model's answer fails its citation check (None: it passes)."""
    if checked.stats.supported_sentences == 0:
        # Nothing the model wrote is borne out by the passages it was given.
        return "no sentence of the model's answer is supported by the passages"
    return None


def _evidence_first(hits: Sequence[Hit], evidence: Extraction, *, small: bool) -> list[Hit]:
    """The passages holding the best evidence first; a small model sees only a few (a 135M model
    loses the thread among eight passages)."""
    first = list(dict.fromkeys(e.passage for e in evidence.extracts))
    order = first + [i for i in range(1, len(hits) + 1) if i not in first]
    ranked = [hits[i - 1] for i in order]
    return ranked[:SMALL_WINDOW_PASSAGES] if small else ranked


def _maybe_own_knowledge(
    state: TurnState, question: str, abstained: Result
) -> Generator[AnswerEvent, None, Result]:
    """The abstention, or (when the request allows it) a labelled answer from the model."""
    abstained.prompt_version = prompts.PROMPT_VERSION
    if not state.effective.allow_model_knowledge or state.model is None:
        yield TokenEvent(text=abstained.text)
        return abstained
    state.text = OWN_KNOWLEDGE_LABEL + " "
    yield TokenEvent(text=state.text)
    messages = prompts.own_knowledge_messages(question)
    with state.timed("generation"):
        for piece in _call(state, messages, max_tokens=state.effective.max_tokens or 256):
            state.text += piece
            yield TokenEvent(text=piece)
    abstained.text = state.text.strip() + "\n\n" + abstained.text
    abstained.metadata["from_model_knowledge"] = True
    return abstained
