"""``extensive``: query variants (the model writes them, translations included; offline: terms
from the first passages found) → a larger fused pool, reranked when asked → the answer."""

from __future__ import annotations

from docchat.chat import generate
from docchat.chat.modes.mode import Mode
from docchat.chat.steps import (
    answer_from,
    expansion_queries,
    retrieval_event,
    retrieve,
    standalone_queries,
    with_web,
)
from docchat.chat.turn import Events, TurnEngine, TurnState
from docchat.retrieval.hybrid import MAX_QUERY_CHARS

# Both set by hand.  Measured since with the offline answerer (bench/calibrate_modes.py: the 63
# calibration questions through Workspace.ask, one number changed at a time), as set: keywords
# 37/41, abstained 12/22, false abstention 2/41, 1,007 ms a question (2 busy cores).
# FIRST_SEARCH_K 5 or 20 and SHOWN_FACTOR 1 or 3 answer every question the same (20: 1,262 ms):
# the variants come from the first ``chat.query_variants`` passages, and the extractive answerer
# reads only the first MAX_PASSAGES of what it is shown.  What SHOWN_FACTOR gives a generative
# model is unmeasured: it needs a model run.
#: Without a model, the variants are written from the first passages of a search this deep.
FIRST_SEARCH_K = 10
#: The model (or the extractive answerer) sees this many times ``num_results`` passages of the
#: fused pool.
SHOWN_FACTOR = 2


def extensive(engine: TurnEngine, state: TurnState, question: str) -> Events:
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
        first = retrieve(engine, state, queries, k=min(pool, FIRST_SEARCH_K))
        variants = expansion_queries(
            question,
            first,
            count=engine.settings.chat.query_variants,
            lexicon=state.lexicon(first),
        )
    state.extra["variants"] = variants
    queries = list(dict.fromkeys([*queries, *(v[:MAX_QUERY_CHARS] for v in variants)]))
    state.queries = queries
    hits = retrieve(engine, state, queries, k=min(pool, 200))
    hits = hits[: eff.num_results * SHOWN_FACTOR]  # a larger pool than in basic mode
    hits = with_web(engine, state, queries[0], hits)
    yield retrieval_event(state, hits)
    return (yield from answer_from(engine, state, question, hits))


MODE = Mode(
    name="extensive",
    label="Extensive",
    description="several searches",
    run=extensive,
    budgets=("chat.query_variants", "chat.pool_factor"),
)
