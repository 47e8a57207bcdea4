"""``basic``: the question (and, for a follow-up, its standalone rewrite) → hybrid retrieval → a
grounded answer (extracted, without a generative model)."""

from __future__ import annotations

from docchat.chat.modes.mode import Mode
from docchat.chat.steps import answer_from, retrieval_event, retrieve, standalone_queries, with_web
from docchat.chat.turn import Events, TurnEngine, TurnState


def basic(engine: TurnEngine, state: TurnState, question: str) -> Events:
    """Standalone query → hybrid retrieval → grounded answer."""
    queries = yield from standalone_queries(state, question)
    hits = retrieve(engine, state, queries, k=state.effective.num_results)
    hits = with_web(engine, state, queries[-1], hits)
    yield retrieval_event(state, hits)
    return (yield from answer_from(engine, state, question, hits))


MODE = Mode(
    name="basic",
    label="Basic",
    description="search, then answer",
    run=basic,
)
