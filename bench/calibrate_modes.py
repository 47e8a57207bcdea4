"""Measure the offline answerer's and the modes' fixed numbers on questions the tests do not ask.

Ingests the test handbook (tests/data/handbook) into a temporary workspace and answers the 63
questions of bench/data/calibration-qa.jsonl (41 answerable, 22 not; the set the abstention floor
was calibrated on, never the test set) with the offline answerer, once with each number as it is
and once with each alternative below, one number changed at a time:

* the extractive answerer (``docchat/chat/extractive.py``): the best sentences of the top
  passages are extracted directly (as ``bench/calibrate_abstention.py`` does), so a run takes
  seconds: keywords found (as ``docchat eval`` finds them), abstentions (at the floor as set),
  mean sentences per answer; each question alone (a follow-up without its conversation);
* ``extensive``, ``full_reading`` and ``deep_reflection`` (``docchat/chat/modes/``): each question
  is asked through ``Workspace.ask`` as ``docchat eval --answers`` does: keyword accuracy, correct
  and false abstention, mean latency.

    python bench/calibrate_modes.py                 # everything (about 15 minutes on 2 cores)
    python bench/calibrate_modes.py extractive      # only the extractive answerer's numbers

The numbers a model decides (full_reading's WHOLE_SHARE, MAP_SHARE, RELEVANT_SCORE; the critique's
UNSUPPORTED_KEPT) are not measured here: the offline answerer never takes those paths
(RELEVANT_SCORE is measured with a model by bench/calibrate_full_reading.py).
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from docchat.chat import extractive  # noqa: E402
from docchat.chat.modes import deep_reflection, extensive, full_reading  # noqa: E402
from docchat.config import Settings  # noqa: E402
from docchat.evaluation.answers import contains_keyword, evaluate_answers  # noqa: E402
from docchat.evaluation.qa import load_qa  # noqa: E402
from docchat.language import language_of  # noqa: E402
from docchat.retrieval.embedders import MiniLMEmbedder  # noqa: E402
from docchat.workspace import Workspace  # noqa: E402

QA = ROOT / "bench" / "data" / "calibration-qa.jsonl"
CORPUS = ROOT / "tests" / "data" / "handbook"

#: (module, constant, alternatives) for the extractive answerer.
EXTRACTIVE: list[tuple[ModuleType, str, list[Any]]] = [
    (extractive, "MAX_PASSAGES", [3, 10]),
    (extractive, "MAX_SENTENCES", [1, 2, 5]),
    (extractive, "KEEP_RATIO", [0.75, 0.95]),
    (extractive, "NEXT_RATIO", [0.4, 0.8]),
    (extractive, "SENTENCE_WEIGHT", [0.4, 0.6]),
    (extractive, "OVERLAP_WEIGHT", [0.1, 0.3]),
    (extractive, "IDENTIFIER_BONUS", [0.0, 0.3]),
]
#: (mode, module, constant, alternatives) for the modes.
MODES: list[tuple[str, ModuleType, str, list[Any]]] = [
    ("extensive", extensive, "FIRST_SEARCH_K", [5, 20]),
    ("extensive", extensive, "SHOWN_FACTOR", [1, 3]),
    ("full_reading", full_reading, "PER_DOCUMENT", [1, 3]),
    ("full_reading", full_reading, "INDEX_READ_FACTOR", [1, 3]),
    ("deep_reflection", deep_reflection, "QUERIES_PER_ROUND", [1, 5]),
]


@contextmanager
def changed(module: ModuleType, name: str, value: Any) -> Iterator[None]:
    """``module.name`` set to ``value`` for the block."""
    before = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, before)


def extractive_runs(workspace: Workspace, embedder: MiniLMEmbedder) -> None:
    questions = load_qa(QA)
    found = [(q, workspace.search(q.question, k=8)) for q in questions]

    def run(label: str) -> None:
        right = abstained_right = abstained_wrong = sentences = answered = 0
        for q, hits in found:
            lexicon = language_of(q.question, [h.text for h in hits[:3]]).lexicon
            got = extractive.extract(
                q.question,
                hits,
                embedder,
                lexicon=lexicon,
                max_sentences=extractive.MAX_SENTENCES,
                abstain_below=extractive.ABSTAIN_BELOW,
            )
            text = " ".join(e.sentence.text for e in got.extracts)
            if q.unanswerable:
                abstained_right += got.abstained
                continue
            abstained_wrong += got.abstained
            if not got.abstained:
                answered += 1
                sentences += len(got.extracts)
                right += all(contains_keyword(text, k) for k in q.answer or [])
        answerable = sum(not q.unanswerable for q in questions)
        print(
            f"{label:32} keywords {right}/{answerable}  abstained {abstained_right}/"
            f"{len(questions) - answerable}  false {abstained_wrong}/{answerable}  "
            f"sentences {sentences / max(answered, 1):.2f}"
        )

    run("extractive as set")
    for module, name, values in EXTRACTIVE:
        for value in values:
            with changed(module, name, value):
                run(f"  {name} = {value}")


def mode_runs(workspace: Workspace) -> None:
    questions = load_qa(QA)

    def run(mode: str, label: str) -> None:
        started = time.perf_counter()
        report = evaluate_answers(workspace.ask, workspace.document_text, questions, modes=[mode])
        o = report.runs[0].overall
        print(
            f"{mode:16} {label:26} keywords {o.keyword_correct}/{o.keyword_questions}  "
            f"abstained {o.correct_abstentions}/{o.unanswerable}  "
            f"false {o.false_abstentions}/{o.answerable}  mean {o.mean_latency_ms:.0f} ms  "
            f"({time.perf_counter() - started:.0f} s)"
        )

    done: set[str] = set()
    for mode, module, name, values in MODES:
        if mode not in done:
            run(mode, "as set")
            done.add(mode)
        for value in values:
            with changed(module, name, value):
                run(mode, f"{name} = {value}")


def main() -> None:
    only = sys.argv[1] if len(sys.argv) > 1 else None
    embedder = MiniLMEmbedder()
    embedder.load()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/calibrate.db")
        workspace = Workspace(settings, embedder=embedder)
        try:
            workspace.ingest([CORPUS])
            if only in (None, "extractive"):
                extractive_runs(workspace, embedder)
            if only in (None, "modes"):
                mode_runs(workspace)
        finally:
            workspace.close()


if __name__ == "__main__":
    main()
