"""``full_reading``: read every document in scope, not a top-k.

Before anything is stored the work is estimated (documents, passages, tokens); past
``chat.full_reading_max_tokens`` the mode refuses with the estimate unless the request sets
``force``.  With a model: when everything fits in about 60 % of its window it goes in whole;
otherwise each document is mapped (passages in groups that fit, the model copying the evidence
and scoring its relevance, ids kept) and the relevant passages are reduced into one cited answer.
The map runs ``chat.concurrency`` calls at a time within the turn's call and time budgets, and
answers from what it has when they run out.  Without a model each document is searched on its
own for its best passages (so every document is read, by its index), and the answer is
extracted from the best of them; a question about each document ("What does each of the
services do?", "Which documents ...") is answered from each document apart, every document
that answers it in turn.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import partial

from docchat.chat import generate
from docchat.chat.effective import Effective
from docchat.chat.extent import asks_each
from docchat.chat.extractive import extract, extract_each
from docchat.chat.modes.mode import Mode, Run
from docchat.chat.steps import (
    answer_from,
    extraction_answer,
    retrieval_event,
    standalone_queries,
)
from docchat.chat.turn import Events, TurnEngine, TurnState
from docchat.chat.types import AnswerEvent, ProgressEvent
from docchat.documents.registry import VisibleDocument
from docchat.errors import InvalidInput
from docchat.llm import prompts
from docchat.llm.base import estimate_tokens
from docchat.retrieval.hybrid import Hit
from docchat.retrieval.passages import Scope

# WHOLE_SHARE and MAP_SHARE were set by hand for a generative model (room left for the question,
# the prompt and the reply) and have no measurement yet.  RELEVANT_SCORE, the middle of the 0-10
# scale the map prompt asks for, was measured with Qwen2.5-Coder-0.5B
# (bench/calibrate_full_reading.py: the map prompt on 185 documents of the 63 calibration
# questions, 41 of them the answering one, the rest the top hits' documents): 100 replies had no
# score, and the scores given tell the answering document from the others no better than chance
# at any cut (balanced accuracy 0.43-0.51 for cuts 1-10, 0.509 at 5); what decides in practice is
# the fallback, the extractive scorer (as full_reading decides: 0.842; the scorer alone 0.923,
# its floor tuned on the same questions).  So the cut stays where it was: setting it needs a
# model that follows the prompt.
# PER_DOCUMENT and INDEX_READ_* are measured with the offline answerer (bench/calibrate_modes.py:
# the 63 calibration questions through Workspace.ask, one number changed at a time), as set:
# keywords 36/41, abstained 17/22, false abstention 4/41, 2,724 ms a question (2 busy cores).
# PER_DOCUMENT 1 or 3 and INDEX_READ_FACTOR 1 or 3 answer every question the same (the
# extractive scorer picks the same best sentences from the larger or smaller pool; 2,781 to
# 3,651 ms): on 15 documents two passages each already hold the answer, more documents may not.
#: Everything goes into one prompt when it takes at most this share of the model's window.
WHOLE_SHARE = 0.6
#: A map call's passages take at most this share of the window.
MAP_SHARE = 0.45
#: A mapped group is relevant from this score (0-10) on.
RELEVANT_SCORE = 5
#: Passages each document contributes when read without a model.
PER_DOCUMENT = 2
#: Read without a model, the answer is drawn from this many times ``num_results`` of the
#: passages found, and at least ``INDEX_READ_MIN``.
INDEX_READ_FACTOR = 2
INDEX_READ_MIN = 6


@dataclass(frozen=True, slots=True)
class Plan:
    """What a full reading will read."""

    documents: list[VisibleDocument]
    passages: list[list[Hit]]  # per document, in reading order
    tokens: int

    @property
    def passage_count(self) -> int:
        """Passages in all documents."""
        return sum(len(p) for p in self.passages)


def plan(engine: TurnEngine, effective: Effective, owner: str | None) -> Plan:
    """Estimate the work; ``InvalidInput`` with the estimate when it is over budget (not forced)."""
    retriever = engine.retriever
    scope = retriever.scope(owner=owner, filters=effective.source_filters)
    documents = [] if scope.empty else retriever.documents(scope)
    passages = [retriever.document_passages(d) for d in documents]
    tokens = sum(estimate_tokens(h.text) for group in passages for h in group)
    budget = engine.settings.chat.full_reading_max_tokens
    if tokens > budget and not effective.force:
        raise InvalidInput(
            f"full_reading would read {len(documents)} documents, about {tokens:,} tokens, more "
            f"than its budget of {budget:,} (chat.full_reading_max_tokens): narrow the source "
            "filters, or set the option force to read them all",
            field="mode",
        )
    return Plan(documents, passages, tokens)


def prepare(engine: TurnEngine, effective: Effective, owner: str | None) -> Run:
    """The reading, estimated before the question is stored (over budget: nothing is)."""
    return partial(full_reading, reading=plan(engine, effective, owner))


def full_reading(
    engine: TurnEngine, state: TurnState, question: str, *, reading: Plan | None = None
) -> Events:
    """Read every document in scope (``reading``: as estimated before), then answer."""
    reading = reading or plan(engine, state.effective, state.owner)
    state.extra.update(
        num_documents=len(reading.documents),
        passages_read=reading.passage_count,
        estimated_tokens=reading.tokens,
    )
    queries = yield from standalone_queries(state, question)
    if not reading.documents:
        yield retrieval_event(state, [])
        return (yield from answer_from(engine, state, question, []))
    if state.model is None:
        groups = yield from _read_by_index(engine, state, queries, reading)
        lexicon = state.lexicon([h for g in groups for h in g])
        if asks_each(question, lexicon):
            # "What does each of the services do?": every document that answers has its say.
            with state.timed("answer"):
                found, cited = extract_each(
                    question,
                    groups,
                    engine.embedder(),
                    lexicon=lexicon,
                    rephrasings=state.rephrasings,
                )
            if not found.abstained:
                answering = {h.document_id for h in cited}
                state.extra.update(num_relevant_documents=len(answering), strategy="each")
                yield retrieval_event(state, cited)
                return (yield from extraction_answer(state, found, cited))
        pool = _best_read(engine, state, queries, groups)
    elif reading.tokens <= WHOLE_SHARE * state.model.context_window:
        pool = [h for group in reading.passages for h in group]
        state.extra.update(num_relevant_documents=len(reading.documents), strategy="whole")
    else:
        pool = yield from _map(engine, state, question, reading)
    yield retrieval_event(state, pool)
    return (yield from answer_from(engine, state, question, pool))


def _read_by_index(
    engine: TurnEngine, state: TurnState, queries: list[str], reading: Plan
) -> Generator[AnswerEvent, None, list[list[Hit]]]:
    """Each document's best passages for the queries, searched in it alone."""
    groups: list[list[Hit]] = []
    total = len(reading.documents)
    with state.timed("reading"):
        for done, document in enumerate(reading.documents, 1):
            state.check()
            found = engine.retriever.search_many(
                queries,
                scope=Scope((document,)),
                k=PER_DOCUMENT,
                manual_keywords=state.effective.manual_keywords,
            )
            groups.append(found)
            yield ProgressEvent(status=f"reading {document.file_name}", done=done, total=total)
    return groups


def _best_read(
    engine: TurnEngine, state: TurnState, queries: list[str], groups: list[list[Hit]]
) -> list[Hit]:
    """The passages read, the most similar first, for one answer from all of them."""
    pool = [h for group in groups for h in group]
    # Scores of separate searches are not comparable; the extractive scorer ranks them all.
    found_best = (
        extract(
            queries[0],
            pool,
            engine.embedder(),
            lexicon=state.lexicon(pool),
            rephrasings=state.rephrasings,
        )
        if pool
        else None
    )
    relevant = (
        {pool[e.passage - 1].document_id for e in found_best.extracts} if found_best else set()
    )
    state.extra.update(num_relevant_documents=len(relevant), strategy="index")
    ranked = sorted(pool, key=lambda h: -(h.scores.dense or 0.0))
    return ranked[: max(state.effective.num_results * INDEX_READ_FACTOR, INDEX_READ_MIN)]


def _groups(passages: Sequence[Hit], limit: int) -> list[list[Hit]]:
    groups: list[list[Hit]] = [[]]
    used = 0
    for h in passages:
        cost = estimate_tokens(h.text)
        if groups[-1] and used + cost > limit:
            groups.append([])
            used = 0
        groups[-1].append(h)
        used += cost
    return [g for g in groups if g]


def _map(
    engine: TurnEngine, state: TurnState, question: str, reading: Plan
) -> Generator[AnswerEvent, None, list[Hit]]:
    model = state.model
    assert model is not None
    budget = engine.settings.chat
    deadline = state.started + budget.max_seconds
    limit = int(MAP_SHARE * model.context_window)
    configured = engine.settings.llm.models.get(state.effective.model)
    workers = min(budget.concurrency, configured.parallel_requests if configured else 1)
    work = [
        (d, group)
        for d, passages in zip(reading.documents, reading.passages, strict=True)
        for group in _groups(passages, limit)
    ]
    scored: list[tuple[int, Hit]] = []
    relevant_documents: set[str] = set()
    skipped = 0
    done = 0
    with ThreadPoolExecutor(max_workers=workers) as pool, state.timed("map"):
        pending: dict[Future[tuple[int, list[Hit]]], VisibleDocument] = {}
        queue = list(work)
        while queue or pending:
            while queue and len(pending) < workers:
                over = time.perf_counter() > deadline or (
                    state.model_calls + len(pending) >= budget.max_model_calls - 1
                )
                if over:
                    skipped = len(queue)
                    queue.clear()
                    break
                document, group = queue.pop(0)
                pending[pool.submit(_map_group, engine, state, question, group)] = document
            if not pending:
                break
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                document = pending.pop(future)
                score, kept = future.result()
                done += 1
                if kept:
                    relevant_documents.add(document.id)
                    scored.extend((score, h) for h in kept)
                yield ProgressEvent(
                    status=f"reading {document.file_name}", done=done, total=len(work)
                )
            state.check()
    state.extra.update(
        strategy="map-reduce",
        num_relevant_documents=len(relevant_documents),
        map_calls=done,
        map_groups_skipped=skipped,
    )
    scored.sort(key=lambda pair: -pair[0])
    return [h for _, h in scored]


def _map_group(
    engine: TurnEngine, state: TurnState, question: str, group: list[Hit]
) -> tuple[int, list[Hit]]:
    """The group's relevance (0-10) and its passages that hold evidence (none: irrelevant)."""
    text = "\n\n".join(h.text for h in group)
    reply = generate.complete(
        state,
        prompts.map_messages(question, prompts.Passage(1, text, generate.source_label(group[0]))),
        max_tokens=generate.SHORT_REPLY_TOKENS * 2,
    )
    evidence = prompts.parse_map(reply)
    score = evidence.score
    if score is None:
        # A reply the model did not shape as asked: let the calibrated evidence scorer decide.
        found = extract(
            question,
            group,
            engine.embedder(),
            lexicon=state.lexicon(group),
            rephrasings=state.rephrasings,
            follow_on=False,
        )
        score = 0 if found.abstained else RELEVANT_SCORE
    if score < RELEVANT_SCORE:
        return score, []
    quoted = [
        h for h in group if any(q and q.lower()[:60] in h.text.lower() for q in evidence.quotes)
    ]
    return score, quoted or group


MODE = Mode(
    name="full_reading",
    label="Full reading",
    description="every document in scope",
    run=full_reading,
    prepare=prepare,
    background=True,
    budgets=(
        "chat.full_reading_max_tokens",
        "chat.concurrency",
        "chat.max_model_calls",
        "chat.max_seconds",
    ),
)
