"""Chat: the engine's own time to first token, turns deep into a long session, each mode's cost.

Run ``python bench/chat.py`` (4 minutes on 2 quiet cores, 8 when other jobs keep them busy)
or ``--quick`` (a smoke run, under 2 minutes); ``--json PATH`` also writes the numbers,
``--no-pg`` skips PostgreSQL, ``--no-local`` skips part 3 and ``--profile`` prints where the time
to first token goes at the largest size.

1. **Engine overhead to first token**: ``ChatEngine.stream`` in basic mode, timed from the call to
   the first ``TokenEvent``, with ``InstantModel``: a ``ChatModel`` whose reply is ready at once
   (the first sentence of the first passage it is shown, cited).  It stands in for a model with
   zero latency, so everything timed is docchat's own work: storing the question, retrieval, the
   evidence floor, fitting the prompt, filtering markers.  The same questions then go through
   ``Workspace.ask_stream`` (what the faces call; it records the turn as a task first) and to the
   extractive answerer (the offline default, no model at all: first token and total).  Each
   question restates a sentence the passages retrieved for it hold, and opens a new session.
   At 10k and 100k chunks on SQLite and 10k on PostgreSQL, on the
   synthetic corpus of ``bench/retrieval.py`` (chunks and clustered vectors written directly).
2. **Long sessions**: turns with memory on (10 exchanges, the default) in one session of 20,000
   messages against the same questions in sessions of 10 messages, alternating.  Sessions are
   filled by importing a generated classic session file (``SessionStore.load_from_disk``).
3. **Modes with the local model**: SmolLM2-135M in process (``smollm2``) answers a question about
   the test handbook in every mode (``--quick``: basic and extensive); retrieval time, model
   calls, tokens and total from the answers' metadata.  Skipped, with a note, when
   llama-cpp-python or the weights are missing.

The "Targets" table at the end says PASS or FAIL; the exit code is 0 either way (this is a report).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import importlib.metadata
import json
import os
import random
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # before anything imports onnxruntime

import sqlalchemy
from _corpus import Fact, SyntheticCorpus, Theme, themes
from _parts import parts
from _report import (
    NOT_RUN,
    finish,
    machine_facts,
    ms,
    num,
    percentile,
    print_machine,
    print_profile,
    print_targets,
    report_console,
    step,
    table,
)
from _setup import Index, add_token_vectors, bench_settings, postgres_settings, theme_centres

from docchat.chat.answer import ChatEngine
from docchat.chat.memory import recent_turns
from docchat.chat.outcomes import with_marker
from docchat.chat.sentences import split_sentences
from docchat.chat.types import AnswerEvent, DoneEvent, ErrorEvent, Question, TokenEvent
from docchat.config import BUILTIN_LOCAL_MODEL, EXTRACTIVE_MODEL
from docchat.llm.base import ChatMessage, ChatModel, ModelEvent, TextDelta, Usage, estimate_tokens
from docchat.llm.local import unavailable_reason
from docchat.llm.models import ModelCatalog
from docchat.options import ChatMode
from docchat.retrieval.embedders import Embedder, Vectors, make_embedder
from docchat.workspace import Workspace

# -- what is measured --------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """Sizes of every part; ``QUICK`` shrinks them for a smoke run."""

    sizes: tuple[int, ...] = (10_000, 100_000)
    chunks_per_document: int = 200
    themes: int = 240
    #: questions per size and path (each one a new session)
    questions: int = 50
    pg_size: int = 10_000
    pg_questions: int = 25
    #: messages in the long session, and in the short ones it is compared with
    long_session: int = 20_000
    short_session: int = 10
    #: turns timed in each (the short sessions: one turn each)
    session_turns: int = 25
    #: times the session reads of a turn are timed alone, in each
    session_reads: int = 200
    #: handbook questions each mode answers with the local model, and the modes
    local_questions: int = 1
    local_modes: tuple[ChatMode, ...] = ("basic", "extensive", "full_reading", "deep_reflection")


FULL = Plan()
QUICK = Plan(
    sizes=(2_000, 10_000),
    themes=48,
    questions=10,
    pg_size=2_000,
    pg_questions=10,
    long_session=2_000,
    session_turns=5,
    session_reads=50,
    local_modes=("basic", "extensive"),
)

TARGET_OVERHEAD_P95_NS = 150_000_000
TARGET_OVERHEAD_CHUNKS = 100_000
TARGET_LONG_SESSION_RATIO = 1.2
HANDBOOK = Path(__file__).resolve().parent.parent / "tests" / "data" / "handbook"
HANDBOOK_QA = HANDBOOK.parent / "handbook-answers.jsonl"

console = report_console()


# -- the instant model -------------------------------------------------------------------------

_FIRST_PASSAGE = re.compile(r'<passage n="1"[^>]*>\n(.*?)\n</passage>', re.DOTALL)
_ASKED = re.compile(r"^(?:Last question|Question): (.*)$", re.MULTILINE)


class InstantModel:
    """A ``ChatModel`` that answers at once: the stand-in for a model with zero latency.

    Shown passages, it replies with the first sentence of passage 1, cited (a grounded reply the
    citation check can confirm); asked to rewrite a question or write query variants, it returns
    the question unchanged.  Its reply streams word by word, all of it already computed.
    """

    def __init__(self, name: str = "instant", *, context_window: int = 8192) -> None:
        self.name = name
        # 8k, as most served models have at least; at 4k or less docchat shows a model only the
        # four best passages.
        self.context_window = context_window

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        temperature: float | None = None,  # noqa: ARG002 (the ChatModel protocol's signature)
        max_tokens: int | None = None,  # noqa: ARG002
        stop: Sequence[str] = (),  # noqa: ARG002
    ) -> Iterator[ModelEvent]:
        """The reply, word by word, then its usage."""
        reply = self.reply(messages[-1].content)
        for word in re.findall(r"\S+\s*", reply):
            yield TextDelta(word)
        prompt = sum(self.count_tokens(m.content) for m in messages)
        yield Usage(prompt, self.count_tokens(reply))

    @staticmethod
    def reply(prompt: str) -> str:
        """What it answers to the last user message ``prompt``."""
        passage = _FIRST_PASSAGE.search(prompt)
        if passage is not None:
            sentences = [s.text for s in split_sentences(passage.group(1)) if len(s.text) > 20]
            if sentences:
                return with_marker(sentences[0], 1)
        asked = _ASKED.search(prompt)
        return asked.group(1).strip() if asked else "yes"

    def count_tokens(self, text: str) -> int:
        """docchat's own estimate (what it uses for a server that has no tokenizer here)."""
        return estimate_tokens(text)

    def close(self) -> None:
        """Nothing to release."""


def instant_engine(ws: Workspace, model: InstantModel) -> ChatEngine:
    """A chat engine over ``ws``'s parts that finds ``model`` by its name, other names as usual."""
    catalog = ModelCatalog(ws.settings.llm, data_dir=ws.settings.data_dir)

    def lookup(name: str) -> ChatModel | None:
        return model if name == model.name else catalog.get(name)

    return ChatEngine(
        settings=ws.settings,
        store=ws.sessions,
        retriever=parts(ws).retriever,
        embedder=ws.embedder,
        models=lookup,
    )


# -- timing a turn -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Timed:
    """One turn: nanoseconds to its first token and to its end, and what it stored."""

    first_ns: int
    total_ns: int
    metadata: dict[str, Any]
    answer: str
    error: str | None = None

    @property
    def stages(self) -> dict[str, float]:
        """Milliseconds per stage, as the answer's metadata records them."""
        timings: dict[str, float] = self.metadata.get("timings_ms", {})
        return timings

    @property
    def usage(self) -> dict[str, int]:
        """Tokens and model calls, as the answer's metadata records them."""
        usage: dict[str, int] = self.metadata.get("usage", {})
        return usage


Start = Callable[[str], Iterator[AnswerEvent]]


def timed_turn(start: Start, question: str) -> Timed:
    """Run a streamed turn to its end: from the call that starts it to the first token and to
    the final event."""
    clock = time.perf_counter_ns
    t0 = clock()
    first: int | None = None
    metadata: dict[str, Any] = {}
    answer, error = "", None
    for event in start(question):
        if first is None and isinstance(event, TokenEvent):
            first = clock()
        if isinstance(event, DoneEvent):
            metadata, answer = event.answer.metadata, event.answer.answer
        elif isinstance(event, ErrorEvent):
            error = event.message
            if event.answer is not None:
                metadata = event.answer.metadata
    end = clock()
    return Timed((first or end) - t0, end - t0, metadata, answer, error)


@dataclass
class Runs:
    """The turns of one way of answering at one size."""

    turns: list[Timed] = field(default_factory=list)
    cold: Timed | None = None

    def first(self) -> list[int]:
        return [t.first_ns for t in self.turns]

    def total(self) -> list[int]:
        return [t.total_ns for t in self.turns]

    def stage(self, name: str) -> list[float]:
        """A stage's time in nanoseconds (0 when the turn had no such stage)."""
        return [t.stages.get(name, 0.0) * 1e6 for t in self.turns]

    def summary(self) -> dict[str, Any]:
        first, total = self.first(), self.total()
        retrieval, evidence = self.stage("retrieval"), self.stage("evidence")
        answer = self.stage("answer")  # the extractive answerer's scoring
        # Per turn (the lists are aligned), so medians of unequal pieces do not mislead.
        rest = [
            f - r - e - a for f, r, e, a in zip(first, retrieval, evidence, answer, strict=True)
        ]
        after = [t - f for t, f in zip(total, first, strict=True)]
        unscored = [f - e - a for f, e, a in zip(first, evidence, answer, strict=True)]
        return {
            "turns": len(self.turns),
            "cold_first_ns": self.cold.first_ns if self.cold else float("nan"),
            **{f"first_p{p}_ns": percentile(first, p) for p in (50, 95, 99)},
            "first_max_ns": float(max(first)) if first else float("nan"),
            **{f"total_p{p}_ns": percentile(total, p) for p in (50, 95)},
            "p50_retrieval_ns": percentile(retrieval, 50),
            "p95_retrieval_ns": percentile(retrieval, 95),
            "p50_evidence_ns": percentile(evidence, 50),
            "p95_evidence_ns": percentile(evidence, 95),
            "p50_answer_ns": percentile(answer, 50),
            "p95_answer_ns": percentile(answer, 95),
            "p50_rest_before_first_ns": percentile(rest, 50),
            # What the time to first token would be without the sentence scorer.
            "first_unscored_p50_ns": percentile(unscored, 50),
            "first_unscored_p95_ns": percentile(unscored, 95),
            "p50_after_first_ns": percentile(after, 50),
            "answered": sum(not t.metadata.get("abstained", True) for t in self.turns),
            "errors": sum(t.error is not None for t in self.turns),
        }


# -- 1. engine overhead to first token ---------------------------------------------------------

#: The ways a question is answered in part 1, by label.
PATHS = ("ChatEngine.stream, instant model", "Workspace.ask_stream, instant model", "extractive")


def as_question(sentence: str) -> str:
    """A statement turned into a yes/no question ("Is it true that ...?")."""
    body = sentence.strip().rstrip(".")
    return f"Is it true that {body[:1].lower()}{body[1:]}?"


def answerable_questions(ws: Workspace, corpus: SyntheticCorpus, count: int) -> list[str]:
    """``count`` questions the passages retrieved for them answer.

    A question restates a sentence of the corpus; it is kept when hybrid search returns a chunk
    holding that sentence.  Fact questions ("What is the service interval of HX-4471?") do not
    serve here: the synthetic vectors lie near their theme, not near their text, so with dense
    search weighing 0.75 the one chunk stating the fact is rarely retrieved, and the turn abstains
    before any model is called.
    """
    rng = random.Random(5)
    k = ws.settings.retrieval.num_results
    out: list[str] = []
    for _ in range(count * 50):
        if len(out) == count:
            break
        sentence = rng.choice(corpus.pools[rng.randrange(len(corpus.pools))])
        question = as_question(sentence)
        if question not in out and any(sentence in h.text for h in ws.search(question, k=k)):
            out.append(question)
    if len(out) < count:
        raise RuntimeError(f"found only {len(out)} answerable questions of {count}")
    return out


def measure_overhead(
    ws: Workspace,
    questions: Sequence[str],
    model: InstantModel,
    profiler: cProfile.Profile | None = None,
) -> dict[str, Runs]:
    """Every question by every path, round-robin (so load from other jobs weighs on all alike)."""
    engine = instant_engine(ws, model)
    # Private, but the one way to give the faces' path (task record included) a model of our own.
    ws._engine = engine

    starts: dict[str, Start] = {
        PATHS[0]: lambda q: engine.stream(Question(text=q, mode="basic", model=model.name)),
        PATHS[1]: partial(ws.ask_stream, mode="basic", model=model.name),
        PATHS[2]: lambda q: engine.stream(Question(text=q, mode="basic", model=EXTRACTIVE_MODEL)),
    }
    runs = {label: Runs() for label in starts}
    # The first turn of a workspace loads the vector matrix (and warms the embedder's arena).
    for label, start in starts.items():
        runs[label].cold = timed_turn(start, "What does the first turn of a process cost?")
    for i, q in enumerate(questions):
        order = list(starts.items())
        order = order[i % len(order) :] + order[: i % len(order)]
        for label, start in order:
            with profiling(profiler if label == PATHS[0] else None):
                runs[label].turns.append(timed_turn(start, q))
    return runs


@contextlib.contextmanager
def profiling(profiler: cProfile.Profile | None) -> Iterator[None]:
    """Profile the block when a profiler is given."""
    if profiler is None:
        yield
        return
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()


def part_overhead(
    plan: Plan,
    root: Path,
    embedder: Embedder,
    all_themes: list[Theme],
    centres: Vectors,
    *,
    pg: bool,
    profile: bool,
) -> dict[str, Any]:
    """Time to first token at each size on SQLite (part 2 runs on the smallest), then PostgreSQL."""
    model = InstantModel()
    index = Index(bench_settings(root / "sqlite"), embedder, SyntheticCorpus(all_themes), centres)
    questions: list[str] = []
    rows: list[dict[str, Any]] = []
    sessions: dict[str, Any] = {}
    profiler: cProfile.Profile | None = None
    for size in plan.sizes:
        step(f"SQLite: writing chunks and vectors up to {size:,}")
        build_s = index.grow(size, plan.chunks_per_document)
        # Ingestion keeps each chunk's token vectors for the reranker (on by default).
        add_token_vectors(index.settings, embedder.name)
        if profile and size == plan.sizes[-1]:
            profiler = cProfile.Profile()
        ws = Workspace(index.settings, embedder=embedder)
        try:
            if not questions:
                # From the smallest index, so every size (and PostgreSQL) asks the same ones.
                step("choosing questions the passages answer")
                questions = answerable_questions(
                    ws, index.corpus, plan.questions + plan.session_turns + 1
                )
            step(f"SQLite {size:,} chunks: {plan.questions} questions x {len(PATHS)} paths")
            runs = measure_overhead(ws, questions[: plan.questions], model, profiler)
            if not sessions:
                history = random.Random(7).sample(index.facts, min(len(index.facts), 200))
                asked = questions[plan.questions :]
                sessions = part_sessions(plan, ws, model, history, asked)
        finally:
            ws.close()
        rows += [
            {"backend": "SQLite", "chunks": index.chunks, "path": label, "build_s": build_s}
            | r.summary()
            for label, r in runs.items()
        ]
    pg_run: dict[str, Any] = {"skipped": "--no-pg"}
    if pg:
        pg_run = _postgres(
            plan, root, embedder, all_themes, centres, questions[: plan.pg_questions], model
        )
        if "skipped" not in pg_run:
            rows += pg_run["rows"]
    _print_overhead(rows, pg_run)
    _print_sessions(plan, sessions)
    if profiler is not None:
        print_profile(
            console,
            profiler,
            f"[bold]Profile of the {plan.sizes[-1]:,}-chunk SQLite turns through ChatEngine.stream"
            "[/] (whole turns, by cumulative time)",
            35,
        )
    return {"rows": rows, "postgresql": pg_run, "sessions": sessions}


def _postgres(
    plan: Plan,
    root: Path,
    embedder: Embedder,
    all_themes: list[Theme],
    centres: Vectors,
    questions: Sequence[str],
    model: InstantModel,
) -> dict[str, Any]:
    try:
        with postgres_settings(root) as settings:
            index = Index(settings, embedder, SyntheticCorpus(all_themes), centres)
            step(f"PostgreSQL: writing chunks and vectors up to {plan.pg_size:,}")
            build_s = index.grow(plan.pg_size, plan.chunks_per_document)
            add_token_vectors(index.settings, embedder.name)
            step(f"PostgreSQL {plan.pg_size:,} chunks: {len(questions)} questions")
            ws = Workspace(settings, embedder=embedder)
            try:
                runs = measure_overhead(ws, questions, model)
            finally:
                ws.close()
            return {
                "rows": [
                    {"backend": "PostgreSQL", "chunks": index.chunks, "path": label}
                    | {"build_s": build_s}
                    | r.summary()
                    for label, r in runs.items()
                ]
            }
    except Exception as exc:  # optional: a server that cannot start is reported, not raised
        return {"skipped": f"{type(exc).__name__}: {exc}"[:300]}


def _print_overhead(rows: Sequence[dict[str, Any]], pg_run: dict[str, Any]) -> None:
    def head(r: dict[str, Any]) -> list[str]:
        return [r["backend"], f"{r['chunks']:,}", r["path"]]

    caption = (
        "Time to first token: from the call that starts the turn to its first TokenEvent; the "
        "instant model takes no time, so this is docchat's own (storing the question, retrieval, "
        "the evidence floor, fitting the prompt).  total: to the final event (answer checked and "
        "stored).  cold 1st: the first turn of a new Workspace (loads the vector matrix).  "
        "answered: turns not abstaining (every question is answered by a passage retrieved for "
        "it, see answerable_questions)."
    )
    if "skipped" in pg_run:
        caption += f"  PostgreSQL not run: {pg_run['skipped']}"
    console.print(
        table(
            "1. Time to first token, basic mode, a new session per question (ms)",
            [
                "backend",
                "chunks",
                "path",
                "cold 1st",
                "p50",
                "p95",
                "p99",
                "max",
                "total p50",
                "total p95",
                "answered",
            ],
            (
                [
                    *head(r),
                    ms(r["cold_first_ns"]),
                    ms(r["first_p50_ns"]),
                    ms(r["first_p95_ns"]),
                    ms(r["first_p99_ns"]),
                    ms(r["first_max_ns"]),
                    ms(r["total_p50_ns"]),
                    ms(r["total_p95_ns"]),
                    f"{r['answered']}/{r['turns']}"
                    + (f" ({r['errors']} errors)" if r["errors"] else ""),
                ]
                for r in rows
            ),
            caption=caption,
        )
    )
    console.print(
        table(
            "1b. Where the time to first token goes (ms, p50 unless named; stages from the "
            "answers' metadata)",
            [
                "backend",
                "chunks",
                "path",
                "retrieval",
                "retrieval p95",
                "sentence scorer",
                "scorer p95",
                "rest before 1st token",
                "1st token without scorer",
                "without scorer p95",
                "after 1st token",
            ],
            (
                [
                    *head(r),
                    ms(r["p50_retrieval_ns"]),
                    ms(r["p95_retrieval_ns"]),
                    ms(r["p50_evidence_ns"] or r["p50_answer_ns"]),
                    ms(r["p95_evidence_ns"] or r["p95_answer_ns"]),
                    ms(r["p50_rest_before_first_ns"]),
                    ms(r["first_unscored_p50_ns"]),
                    ms(r["first_unscored_p95_ns"]),
                    ms(r["p50_after_first_ns"]),
                ]
                for r in rows
            ),
            caption="retrieval: hybrid search of the question (query embedding included).  "
            "Sentence scorer: docchat.chat.extractive.extract, which embeds the question and every "
            "sentence of the first 6 passages (about 60 sentences here); with a model it is the "
            "evidence floor that decides, before the model is called, whether to abstain "
            "(stage 'evidence'), without one it is the answer (stage 'answer').  Rest: the time "
            "to first token minus those two, per turn (session and question stored, memory read, "
            "prompt fitted, markers filtered; the task record on the Workspace path).  Without "
            "scorer: the time to first token minus the scorer, per turn.  After: the citation "
            "check and storing the answer.",
        )
    )


# -- 2. long sessions --------------------------------------------------------------------------


def classic_session(session_id: str, facts: Sequence[Fact], messages: int) -> dict[str, Any]:
    """A classic session file's document: ``messages`` messages, questions and cited answers
    about ``facts`` (as the engine stores them), one minute apart."""
    start = time.time() - 60 * messages
    out: list[dict[str, Any]] = []
    for i in range(messages):
        fact = facts[(i // 2) % len(facts)]
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(start + 60 * i))
        if i % 2 == 0:
            out.append(
                {
                    "role": "user",
                    "content": fact.query,
                    "timestamp": stamp,
                    "metadata": {"mode": "basic", "model": "instant"},
                }
            )
            continue
        out.append(
            {
                "role": "assistant",
                "content": with_marker(fact.sentence, 1),
                "timestamp": stamp,
                "metadata": {
                    "mode": "basic",
                    "model": "instant",
                    "queries": [fact.query],
                    "timings_ms": {"retrieval": 30.0, "total": 80.0},
                    "usage": {"prompt_tokens": 1500, "completion_tokens": 20, "model_calls": 1},
                    "abstained": False,
                },
                "references": [
                    {
                        "n": 1,
                        "kind": "document",
                        "file_name": f"synthetic-{fact.code}.pdf",
                        "page": 1,
                        "quote": fact.sentence,
                        "snippet": fact.sentence,
                        "score": 0.5,
                    }
                ],
            }
        )
    return {
        "session_id": session_id,
        "title": "A long conversation",
        "created_at": out[0]["timestamp"] if out else time.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
        "updated_at": out[-1]["timestamp"] if out else time.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
        "settings": {"mode": "basic"},
        "messages": out,
    }


def load_session(ws: Workspace, folder: Path, session_id: str, document: dict[str, Any]) -> float:
    """Import ``document`` as a classic session file; returns the seconds the import took."""
    path = folder / f"{session_id}.json"
    path.write_text(json.dumps(document))
    t0 = time.perf_counter()
    ws.sessions.load_from_disk(path)
    return time.perf_counter() - t0


def part_sessions(
    plan: Plan,
    ws: Workspace,
    model: InstantModel,
    history: Sequence[Fact],
    asked: Sequence[str],
) -> dict[str, Any]:
    """Turns at message ~``long_session`` against turns at message ``short_session``."""
    engine = instant_engine(ws, model)
    folder = ws.settings.data_dir / "classic"
    folder.mkdir(exist_ok=True)
    step(f"(2) importing a {plan.long_session:,}-message session (SessionStore.load_from_disk)")
    load_s = load_session(ws, folder, "long", classic_session("long", history, plan.long_session))
    shorts = [f"short-{i}" for i in range(plan.session_turns)]
    for sid in [*shorts, "short-warm"]:
        load_session(ws, folder, sid, classic_session(sid, history, plan.short_session))

    # The part of a turn that could grow with the session, alone and many times (a turn's time is
    # mostly the sentence scorer's, whose noise hides a millisecond either way); against a
    # session just long enough to fill the memory, so that both read as many rows, of alike size.
    memory = ws.settings.chat.memory_turns
    load_session(ws, folder, "full", classic_session("full", history, 2 * memory))

    def reads(session_id: str) -> int:
        t0 = time.perf_counter_ns()
        count = ws.sessions.get(session_id).message_count
        recent_turns(ws.sessions, session_id, before=count, turns=memory, owner=None)
        return time.perf_counter_ns() - t0

    step(f"(2) the session reads of a turn, alone, {plan.session_reads} times")
    samples: dict[str, list[int]] = {"long": [], "full": []}
    for i in range(plan.session_reads):
        for sid in list(samples)[:: 1 if i % 2 else -1]:
            samples[sid].append(reads(sid))

    def ask(session_id: str, question: str) -> Timed:
        in_session = partial(Question, session_id=session_id, mode="basic", model=model.name)
        return timed_turn(lambda q: engine.stream(in_session(text=q)), question)

    # One untimed turn each way first: the caches a live server has warm.
    warm, *asked = asked
    ask("long", warm)
    ask("short-warm", warm)
    step(
        f"(2) {plan.session_turns} turns at message ~{plan.long_session:,} and at "
        f"{plan.short_session}, alternating"
    )
    long_runs, short_runs = Runs(), Runs()
    positions: list[int] = []
    for i, q in enumerate(asked):
        pair = [("long", long_runs), (shorts[i], short_runs)]
        for sid, runs in pair if i % 2 else pair[::-1]:
            if sid == "long":
                positions.append(ws.sessions.get("long").message_count)
            runs.turns.append(ask(sid, q))
    out: dict[str, Any] = {
        "load_s": load_s,
        "positions": [min(positions), max(positions)],
        "memory_turns": memory,
        "reads_long_p50_ns": percentile(samples["long"], 50),
        "reads_short_p50_ns": percentile(samples["full"], 50),
    }
    out["reads_ratio"] = out["reads_long_p50_ns"] / out["reads_short_p50_ns"]
    for name, runs in (("long", long_runs), ("short", short_runs)):
        out[name] = runs.summary() | {
            "model_calls_p50": percentile([t.usage.get("model_calls", 0) for t in runs.turns], 50),
            "prompt_tokens_p50": percentile(
                [t.usage.get("prompt_tokens", 0) for t in runs.turns], 50
            ),
        }
    out["ratio_total"] = out["long"]["total_p50_ns"] / out["short"]["total_p50_ns"]
    out["ratio_first"] = out["long"]["first_p50_ns"] / out["short"]["first_p50_ns"]
    return out


def _print_sessions(plan: Plan, out: dict[str, Any]) -> None:
    """Table 2."""

    def row(label: str, r: dict[str, Any], ratio: str) -> list[str]:
        return [
            label,
            ms(r["first_p50_ns"]),
            ms(r["total_p50_ns"]),
            ms(r["total_p95_ns"]),
            ms(r["p50_retrieval_ns"]),
            num(r["model_calls_p50"]),
            num(r["prompt_tokens_p50"]),
            ratio,
        ]

    console.print(
        table(
            f"2. A turn deep into a session: median of {plan.session_turns} turns, instant model, "
            f"memory on ({out['memory_turns']} exchanges), ms",
            [
                "session",
                "1st token",
                "total",
                "total p95",
                "retrieval",
                "model calls",
                "prompt tokens",
                "vs message 10",
            ],
            [
                row(
                    f"at message {out['positions'][0]:,}-{out['positions'][1]:,}",
                    out["long"],
                    f"{out['ratio_total']:.2f}x (1st token {out['ratio_first']:.2f}x)",
                ),
                row(
                    f"at message {plan.short_session} ({plan.session_turns} sessions)",
                    out["short"],
                    "1.00x",
                ),
            ],
            caption=f"The {plan.long_session:,}-message session was imported from a generated "
            f"classic file in {out['load_s']:.1f} s (SessionStore.load_from_disk).  Both ask the "
            "same questions, alternating; each turn reads the last exchanges as memory, has the "
            "model rewrite the question (a model call) and answers.  At message 10 memory holds "
            "5 exchanges, deep in the session 10 (more prompt tokens).  Target on total.  The "
            "turn's reads of the session alone (store.get and the memory read of the last "
            f"{out['memory_turns']} exchanges), p50 of {plan.session_reads}: "
            f"{ms(out['reads_long_p50_ns'])} ms deep in the session, "
            f"{ms(out['reads_short_p50_ns'])} ms at message {2 * out['memory_turns']} (the "
            f"same {2 * out['memory_turns']} rows read; {out['reads_ratio']:.2f}x).",
        )
    )


# -- 3. modes with the local model -------------------------------------------------------------


def handbook_questions(count: int) -> list[tuple[str, list[str]]]:
    """The first ``count`` answerable handbook questions and their answer keywords."""
    out = []
    for line in HANDBOOK_QA.read_text().splitlines():
        item = json.loads(line) if line.strip() else {}
        if item.get("answer") and not item.get("unanswerable") and not item.get("follow_up"):
            out.append((item["question"], list(item["answer"])))
        if len(out) == count:
            break
    return out


def part_local(plan: Plan, root: Path, embedder: Embedder) -> dict[str, Any]:
    """Each mode with SmolLM2 in process over the test handbook."""
    reason = unavailable_reason(None)
    if reason is not None:
        console.print(f"[yellow]3. Modes with the local model: skipped ({reason}).[/]")
        return {"skipped": reason}
    ws = Workspace(bench_settings(root / "handbook"), embedder=embedder)
    try:
        step(
            f"(3) ingesting and embedding {HANDBOOK.name}/ ({len(list(HANDBOOK.iterdir()))} files)"
        )
        done = ws.ingest([HANDBOOK])
        questions = handbook_questions(plan.local_questions)
        step("(3) loading SmolLM2 (one untimed basic turn)")
        # Another question: llama.cpp reuses the longest prompt prefix it still holds, so asking
        # the same one first would make the timed basic turn's prompt nearly free.
        ws.ask("Where do I report a lost badge?", mode="basic", model=BUILTIN_LOCAL_MODEL)
        rows: list[dict[str, Any]] = []
        for question, keywords in questions:
            for mode in plan.local_modes:
                step(f"(3) {mode}: {question}")
                turn = timed_turn(
                    partial(ws.ask_stream, mode=mode, model=BUILTIN_LOCAL_MODEL), question
                )
                meta = turn.metadata
                rows.append(
                    {
                        "question": question,
                        "mode": mode,
                        "first_ns": turn.first_ns,
                        "total_ns": turn.total_ns,
                        "timings_ms": turn.stages,
                        "usage": turn.usage,
                        "abstained": meta.get("abstained"),
                        "fallback": meta.get("fallback"),
                        "keyword_found": any(k.lower() in turn.answer.lower() for k in keywords),
                        "answer": turn.answer,
                        "error": turn.error,
                    }
                )
    finally:
        ws.close()

    def outcome(r: dict[str, Any]) -> str:
        if r["error"]:
            return f"error: {r['error'][:40]}"
        if r["abstained"]:
            return "abstained"
        said = "keyword found" if r["keyword_found"] else "keyword missing"
        return said + (f", {r['fallback']} fallback" if r["fallback"] else "")

    console.print(
        table(
            f"3. Each mode with {BUILTIN_LOCAL_MODEL} (SmolLM2-135M, in process) over "
            f"{HANDBOOK.name}/ ({done.chunks} chunks), ms",
            [
                "question",
                "mode",
                "retrieval",
                "model calls",
                "prompt tokens",
                "completion tokens",
                "1st token",
                "total",
                "outcome",
                "answer (start)",
            ],
            (
                [
                    r["question"],
                    r["mode"],
                    num(r["timings_ms"].get("retrieval"), 0)
                    if "retrieval" in r["timings_ms"]
                    else NOT_RUN,
                    str(r["usage"].get("model_calls", 0)),
                    f"{r['usage'].get('prompt_tokens', 0):,}",
                    f"{r['usage'].get('completion_tokens', 0):,}",
                    ms(r["first_ns"]),
                    ms(r["total_ns"]),
                    outcome(r),
                    " ".join(r["answer"].split())[:70],
                ]
                for r in rows
            ),
            caption="Each question in a new session (no memory), through Workspace.ask_stream.  "
            "retrieval, model calls and tokens from the answer's metadata; 1st token and total "
            "timed around the stream.  Keyword: one of the QA set's answer keywords is in the "
            "answer (tests/data/handbook-answers.jsonl).  The model's own time dominates; "
            "--json has every stage's (variants, map, critique, generation).",
        )
    )
    return {"chunks": done.chunks, "rows": rows}


# -- the report --------------------------------------------------------------------------------


def targets(plan: Plan, res: dict[str, Any]) -> list[dict[str, Any]]:
    """Check docchat against its targets and print the verdicts."""
    largest = max(plan.sizes)
    overhead = next(
        r
        for r in res["overhead"]["rows"]
        if r["backend"] == "SQLite" and r["path"] == PATHS[0] and r["chunks"] >= largest
    )
    sessions = res["overhead"]["sessions"]
    checks = [
        {
            "target": f"engine time to first token p95 at {overhead['chunks']:,} chunks, SQLite, "
            "instant model (1)",
            "measured": f"{ms(overhead['first_p95_ns'])} ms",
            "threshold": f"≤ {ms(TARGET_OVERHEAD_P95_NS)} ms",
            "ok": overhead["first_p95_ns"] <= TARGET_OVERHEAD_P95_NS,
        },
        {
            "target": f"a turn at message {sessions['positions'][0]:,} vs at message "
            f"{plan.short_session}, median total (2)",
            "measured": f"{sessions['ratio_total']:.2f}x",
            "threshold": f"≤ {TARGET_LONG_SESSION_RATIO}x",
            "ok": sessions["ratio_total"] <= TARGET_LONG_SESSION_RATIO,
        },
    ]
    print_targets(
        console,
        checks,
        caption=None
        if plan == FULL
        else f"Quick run: the targets name {TARGET_OVERHEAD_CHUNKS:,} chunks and message 20,000; "
        "this run is smaller.",
    )
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a smoke run with small sizes")
    parser.add_argument("--json", metavar="PATH", help="also write every number to this file")
    parser.add_argument("--no-pg", action="store_true", help="skip the PostgreSQL rows")
    parser.add_argument("--no-local", action="store_true", help="skip part 3 (the local model)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile the instant-model turns at the largest SQLite size",
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL

    settings = bench_settings(Path(tempfile.gettempdir()))
    local = unavailable_reason(None)
    facts = machine_facts(
        **{
            "CPUs usable": str(len(os.sched_getaffinity(0))),
            "docchat chat settings": f"mode={settings.chat.mode}, memory_turns="
            f"{settings.chat.memory_turns}, num_results={settings.retrieval.num_results}, "
            f"embedder={settings.retrieval.embedder}",
            "onnxruntime": importlib.metadata.version("onnxruntime"),
            "llama-cpp-python": local or importlib.metadata.version("llama-cpp-python"),
            "SQLAlchemy": sqlalchemy.__version__,
        }
    )
    print_machine(console, facts)
    started = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="docchat-bench-chat-"))
    try:
        embedder = make_embedder(settings.retrieval)
        all_themes = themes(plan.themes)
        step(f"embedding {len(all_themes)} theme passages (the centres of the synthetic vectors)")
        # As bench/retrieval.py does, so both benchmarks search the same corpus.
        centres = theme_centres(embedder, all_themes)
        results: dict[str, Any] = {
            "machine": facts,
            "plan": asdict(plan) | {"quick": args.quick},
            "overhead": part_overhead(
                plan, root, embedder, all_themes, centres, pg=not args.no_pg, profile=args.profile
            ),
            "local": {"skipped": "--no-local"}
            if args.no_local
            else part_local(plan, root, embedder),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)
    results["targets"] = targets(plan, results)
    finish(console, results, started, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
