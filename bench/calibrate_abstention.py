"""Calibrate the extractive answerer's abstention floor on questions the tests do not ask.

Answers every question of a QA file with the floor disabled and prints each question's best
sentence score, then the floor that best separates answerable from unanswerable questions there
(balanced accuracy: the mean of correct-abstention and answered rates), and at that floor and at
``ABSTAIN_BELOW`` the keyword accuracy and abstention per question type, beside the two naive
baselines (the whole top passage; the 3 passage sentences most similar to the question).

By default the test handbook (tests/data/handbook) is ingested into a temporary workspace and
bench/data/calibration-qa.jsonl is asked.  For the real documents, ingest bench/realdocs/corpus
into a data dir first and tune on the calibration split only (the hold-out split is measured once,
with ``docchat eval --answers``):

    python bench/calibrate_abstention.py
    python bench/calibrate_abstention.py --data-dir /tmp/realdocs \\
        --qa bench/realdocs/calibration-qa.jsonl --hits /tmp/realdocs-hits.pickle

``--hits`` keeps the retrieved passages in a file, so a second run (the answerer changed, the
index not) does not search again.

One floor serves every corpus, and the sets disagree (the handbook's short sentences score
lower than long real ones for the same fit).  ``--save`` writes each question's best score; then
``--joint`` reads several such files and picks the floor the answerer uses: the lowest within
``JOINT_SLACK`` of the best mean balanced accuracy over the sets:

    python bench/calibrate_abstention.py --save /tmp/handbook-scores.json
    python bench/calibrate_abstention.py --data-dir /tmp/realdocs \\
        --qa bench/realdocs/calibration-qa.jsonl --save /tmp/realdocs-scores.json
    python bench/calibrate_abstention.py --joint /tmp/handbook-scores.json /tmp/realdocs-scores.json
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from docchat.chat.extractive import ABSTAIN_BELOW, MAX_PASSAGES, extract  # noqa: E402
from docchat.chat.outcomes import extracted  # noqa: E402
from docchat.chat.sentences import split_sentences  # noqa: E402
from docchat.config import Settings  # noqa: E402
from docchat.evaluation.answers import contains_keyword  # noqa: E402
from docchat.language.en import LEXICON as EN  # noqa: E402
from docchat.retrieval.embedders import MiniLMEmbedder  # noqa: E402
from docchat.retrieval.hybrid import Hit  # noqa: E402
from docchat.workspace import Workspace  # noqa: E402

QA = ROOT / "bench" / "data" / "calibration-qa.jsonl"
CORPUS = ROOT / "tests" / "data" / "handbook"
#: Passages an answer draws on: the chat's default ``retrieval.num_results``.
K = 8
#: ``--joint`` takes the lowest floor whose mean balanced accuracy is this close to the best (a
#: lower floor answers more: the sets are small, a hundredth is one question).
JOINT_SLACK = 0.005


@dataclass(frozen=True)
class Row:
    """One question's outcome with the floor disabled."""

    kind: str
    unanswerable: bool
    score: float
    answer: str
    keywords: list[str]
    question: str
    baselines: dict[str, str]

    def correct(self, answer: str | None = None) -> bool:
        text = self.answer if answer is None else answer
        return bool(self.keywords) and all(contains_keyword(text, k) for k in self.keywords)


def retrieve(workspace: Workspace, questions: Sequence[str]) -> list[list[Hit]]:
    return [workspace.search(q, k=K) for q in questions]


def hits_for(args: argparse.Namespace, questions: list[str], embedder: MiniLMEmbedder) -> list:
    cache = Path(args.hits) if args.hits else None
    if cache is not None and cache.exists():
        cached = pickle.loads(cache.read_bytes())
        if cached["questions"] == questions:
            return list(cached["hits"])
    if args.data_dir:
        settings = Settings(data_dir=Path(args.data_dir))
        with Workspace(settings, embedder=embedder) as workspace:
            found = retrieve(workspace, questions)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/calibrate.db")
            with Workspace(settings, embedder=embedder) as workspace:
                workspace.ingest([CORPUS])
                found = retrieve(workspace, questions)
    if cache is not None:
        cache.write_bytes(pickle.dumps({"questions": questions, "hits": found}))
    return found


def baselines(question: str, hits: Sequence[Hit], embedder: MiniLMEmbedder) -> dict[str, str]:
    """The naive answers: the whole top passage; the 3 sentences most like the question."""
    if not hits:
        return {"top_passage": "", "top_sentences": ""}
    sentences = [s.text for h in hits for s in split_sentences(h.text)]
    vectors = embedder.embed([question, *sentences])
    order = np.argsort(-(vectors[1:] @ vectors[0]))[:3]
    return {
        "top_passage": hits[0].text,
        "top_sentences": " ".join(sentences[i] for i in order),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--qa", default=str(QA), help="QA file (JSON Lines)")
    parser.add_argument("--data-dir", help="an ingested workspace; default: the handbook")
    parser.add_argument("--hits", help="keep the retrieved passages in this file")
    parser.add_argument("--show", action="store_true", help="print every answer")
    parser.add_argument(
        "--measure",
        action="store_true",
        help="a hold-out split: report at ABSTAIN_BELOW only, no floor chosen on it",
    )
    parser.add_argument("--save", help="write each question's best score to this JSON file")
    parser.add_argument(
        "--joint",
        nargs="+",
        metavar="SCORES",
        help="files written by --save: the floor with the best mean balanced accuracy over them",
    )
    parser.add_argument(
        "--no-kind-check",
        action="store_true",
        help="answer without the asked-for kind check (docchat.chat.asked), to see what it does",
    )
    args = parser.parse_args()
    console = Console(width=160)
    if args.joint:
        joint(console, [json.loads(Path(p).read_text(encoding="utf-8")) for p in args.joint])
        return
    embedder = MiniLMEmbedder()
    embedder.load()
    lines = Path(args.qa).read_text(encoding="utf-8").splitlines()
    qa = [json.loads(line) for line in lines if line.strip()]
    all_hits = hits_for(args, [q["question"] for q in qa], embedder)
    lexicon = replace(EN, answer_kinds=None) if args.no_kind_check else EN

    rows: list[Row] = []
    for item, hits in zip(qa, all_hits, strict=True):
        found = extract(item["question"], hits, embedder, lexicon=lexicon, abstain_below=-1.0)
        answer = extracted(found, hits).text if found.extracts else ""
        rows.append(
            Row(
                kind=item.get("type", "default"),
                unanswerable=bool(item.get("unanswerable")),
                score=found.best_score,
                answer=answer,
                keywords=list(item.get("answer") or []),
                question=item["question"],
                baselines=baselines(item["question"], hits[:MAX_PASSAGES], embedder),
            )
        )

    table = Table(title="Best sentence score per question")
    for column in ("kind", "score", "answer found", "question"):
        table.add_column(column)
    for row in sorted(rows, key=lambda r: r.score):
        table.add_row(
            row.kind,
            f"{row.score:.3f}",
            "" if row.unanswerable else str(row.correct()),
            row.question,
        )
    console.print(table)
    if args.show:
        for row in rows:
            if not row.unanswerable:
                mark = "OK " if row.correct() else "-- "
                console.print(f"{mark}[{row.kind}] {row.question}\n   {row.answer[:600]}\n")

    # What a floor is judged by, as --save writes it and --joint reads it back.
    scores = [
        {"unanswerable": r.unanswerable, "score": r.score, "correct": r.correct()} for r in rows
    ]
    if args.save:
        Path(args.save).write_text(json.dumps({"qa": args.qa, "rows": scores}), encoding="utf-8")

    def balanced(floor: float) -> float:
        return balanced_accuracy(scores, floor)

    floors = [("ABSTAIN_BELOW now", ABSTAIN_BELOW)]
    if not args.measure:
        cuts = sorted({round(r.score, 3) for r in rows})
        floors.insert(
            0, ("best on this set", max(((a + b) / 2 for a, b in pairwise(cuts)), key=balanced))
        )
    for label, floor in floors:
        report(console, label, floor, rows, balanced(floor))


def balanced_accuracy(scores: Sequence[dict[str, Any]], floor: float) -> float:
    """The mean of the unanswerable questions' abstention rate and the answerable ones' answer
    rate at ``floor`` (``scores``: each question's, as ``--save`` writes them)."""
    unanswerable = [r["score"] for r in scores if r["unanswerable"]]
    answerable = [r["score"] for r in scores if not r["unanswerable"]]
    return (
        sum(s < floor for s in unanswerable) / len(unanswerable)
        + sum(s >= floor for s in answerable) / len(answerable)
    ) / 2


def joint(console: Console, sets: list[dict[str, Any]]) -> None:
    """The floor for several calibration sets at once: the lowest within ``JOINT_SLACK`` of the
    best mean balanced accuracy, with each set's figures there and at ``ABSTAIN_BELOW``."""
    cuts = sorted({round(r["score"], 3) for s in sets for r in s["rows"]})
    floors = [(a + b) / 2 for a, b in pairwise(cuts)]

    def mean(floor: float) -> float:
        return sum(balanced_accuracy(s["rows"], floor) for s in sets) / len(sets)

    best = max(mean(f) for f in floors)
    chosen = min(f for f in floors if mean(f) >= best - JOINT_SLACK)
    table = Table(title=f"joint floor {chosen:.3f} (best mean balanced accuracy {best:.3f})")
    for column in ("set", "floor", "balanced acc.", "unanswerable abstained", "answers kept"):
        table.add_column(column)
    for floor in (chosen, ABSTAIN_BELOW):
        for s in sets:
            rows = s["rows"]
            unanswerable = [r for r in rows if r["unanswerable"]]
            right = [r for r in rows if not r["unanswerable"] and r["correct"]]
            table.add_row(
                s["qa"],
                f"{floor:.3f}",
                f"{balanced_accuracy(rows, floor):.3f}",
                f"{sum(r['score'] < floor for r in unanswerable)}/{len(unanswerable)}",
                f"{sum(r['score'] >= floor for r in right)}/{len(right)}",
            )
    console.print(table)


def report(console: Console, label: str, floor: float, rows: list[Row], accuracy: float) -> None:
    by_kind: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_kind[row.kind].append(row)
    table = Table(title=f"{label}: floor {floor:.3f}, balanced accuracy {accuracy:.3f}")
    for column in ("kind", "n", "keyword acc.", "top passage", "top 3 sentences", "abstained"):
        table.add_column(column)
    for kind, group in [("all", rows), *sorted(by_kind.items())]:
        keyed = [r for r in group if not r.unanswerable and r.keywords]
        right = sum(r.correct() and r.score >= floor for r in keyed)
        passage = sum(r.correct(r.baselines["top_passage"]) for r in keyed)
        sentences = sum(r.correct(r.baselines["top_sentences"]) for r in keyed)
        abstained = sum(r.score < floor for r in group)
        table.add_row(
            kind,
            str(len(group)),
            f"{right}/{len(keyed)}",
            f"{passage}/{len(keyed)}",
            f"{sentences}/{len(keyed)}",
            f"{abstained}/{len(group)}",
        )
    console.print(table)


if __name__ == "__main__":
    main()
