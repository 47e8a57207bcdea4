"""``deep_reflection``: draft → critique → targeted retrieval for each gap → final answer.

Rounds are bounded (``reflection_rounds``, default 2), and so is the whole turn: model calls
(``chat.max_model_calls``) and seconds (``chat.max_seconds``).  When a budget runs out the mode
answers from what it has.  With a model, the critique names unsupported claims and writes search
queries for the missing evidence; without one, the critique is the question's content words the
draft does not cover, searched for together with the question.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from docchat.chat import generate
from docchat.chat.extractive import terms
from docchat.chat.modes.mode import Mode
from docchat.chat.steps import (
    answer_from,
    expansion_queries,
    quietly,
    retrieval_event,
    retrieve,
    standalone_queries,
)
from docchat.chat.turn import Events, Result, TurnEngine, TurnState
from docchat.chat.types import ProgressEvent
from docchat.llm import prompts
from docchat.retrieval.hybrid import Hit

# Set by hand.  Measured since with the offline answerer (bench/calibrate_modes.py: the 63
# calibration questions through Workspace.ask), as set: keywords 36/41, abstained 17/22, false
# abstention 4/41, 2,103 ms a question (2 busy cores); 1 or 5 queries answer every question the
# same (1,713 and 1,910 ms): offline, a round searches again only for an abstained draft, and
# the floor still abstains.  What a model's critique gains from more queries needs a model run.
#: Queries searched per critique round.
QUERIES_PER_ROUND = 3
#: Unsupported claims of a critique kept for the round's record (metadata only: no decision reads
#: them, so there is nothing to calibrate; five keep the record short).
UNSUPPORTED_KEPT = 5


def deep_reflection(engine: TurnEngine, state: TurnState, question: str) -> Events:
    """Answer, criticise the answer, search for what is missing, answer again."""
    eff = state.effective
    budget = engine.settings.chat
    deadline = state.started + budget.max_seconds
    steps = eff.reflection_rounds + 2
    queries = yield from standalone_queries(state, question)
    hits = retrieve(engine, state, queries, k=eff.num_results)
    yield retrieval_event(state, hits)
    yield ProgressEvent(status="drafting an answer", done=0, total=steps)
    draft = yield from quietly(answer_from(engine, state, question, hits))
    rounds: list[dict[str, Any]] = []
    for number in range(1, eff.reflection_rounds + 1):
        if time.perf_counter() > deadline or state.model_calls >= budget.max_model_calls - 1:
            rounds.append({"round": number, "stopped": "budget spent"})
            break
        yield ProgressEvent(status=f"checking the draft (round {number})", done=number, total=steps)
        with state.timed("critique"):
            unsupported, gaps = _critique(state, question, draft, hits)
        rounds.append({"round": number, "unsupported": unsupported, "queries": gaps})
        if not gaps:
            break
        searched = [question, *gaps][: QUERIES_PER_ROUND + 1]
        found = retrieve(engine, state, searched, k=eff.num_results)
        added = _merge(hits, found)
        rounds[-1]["new_passages"] = len(added)
        if not added:
            break
        hits = [*hits, *added]
        state.queries = list(dict.fromkeys([*state.queries, *gaps]))
        if number < eff.reflection_rounds:
            state.text = ""
            draft = yield from quietly(answer_from(engine, state, question, hits))
    state.extra["reflection"] = rounds
    state.extra["draft"] = draft.text
    yield ProgressEvent(status="writing the final answer", done=steps - 1, total=steps)
    yield retrieval_event(state, hits)
    state.text = ""
    return (yield from answer_from(engine, state, question, hits))


def _critique(
    state: TurnState, question: str, draft: Result, hits: Sequence[Hit]
) -> tuple[list[str], list[str]]:
    if state.model is not None and not draft.abstained:
        passages = [
            prompts.Passage(i, h.text, generate.source_label(h)) for i, h in enumerate(hits, 1)
        ]
        reply = generate.complete(
            state,
            prompts.critique_messages(question, draft.text, passages),
            max_tokens=generate.SHORT_REPLY_TOKENS * 2,
        )
        critique = prompts.parse_critique(reply)
        return critique.unsupported[:UNSUPPORTED_KEPT], critique.queries[:QUERIES_PER_ROUND]
    if draft.abstained:
        # Nothing answered it: search again with words the closest passages use.
        lexicon = state.lexicon(hits)
        return [], expansion_queries(question, hits, count=QUERIES_PER_ROUND, lexicon=lexicon)
    cited = " ".join(c.quote or "" for c in draft.references)
    lexicon = state.lexicon(hits)
    missing = sorted(terms(question, lexicon) - terms(cited, lexicon))
    return [], ([f"{question} {' '.join(missing)}"] if missing else [])


def _merge(hits: Sequence[Hit], found: Sequence[Hit]) -> list[Hit]:
    """The passages of ``found`` not already in ``hits``."""
    seen = {h.chunk_id for h in hits}
    return [h for h in found if h.chunk_id not in seen]


MODE = Mode(
    name="deep_reflection",
    label="Deep reflection",
    description="draft, critique, answer",
    run=deep_reflection,
    background=True,
    budgets=("chat.reflection_rounds", "chat.max_model_calls", "chat.max_seconds"),
)
