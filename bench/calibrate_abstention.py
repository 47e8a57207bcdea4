"""Calibrate the extractive answerer's abstention floor on questions the tests do not ask.

Ingests the test handbook (tests/data/handbook) into a temporary workspace, answers every question
of bench/data/calibration-qa.jsonl with the floor disabled, and prints each question's best
sentence score, then the floor that best separates answerable from unanswerable questions there
(balanced accuracy: the mean of correct-abstention and answered rates).  ``ABSTAIN_BELOW`` in
docchat/chat/extractive.py is set from this run; the test QA set is never consulted.

    python bench/calibrate_abstention.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from itertools import pairwise
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from docchat.chat.extractive import ABSTAIN_BELOW, extract  # noqa: E402
from docchat.config import Settings  # noqa: E402
from docchat.language.en import LEXICON as EN  # noqa: E402
from docchat.retrieval.embedders import MiniLMEmbedder  # noqa: E402
from docchat.workspace import Workspace  # noqa: E402

QA = ROOT / "bench" / "data" / "calibration-qa.jsonl"
CORPUS = ROOT / "tests" / "data" / "handbook"


def main() -> None:
    console = Console()
    embedder = MiniLMEmbedder()
    embedder.load()
    rows = [json.loads(line) for line in QA.read_text(encoding="utf-8").splitlines() if line]
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/calibrate.db")
        workspace = Workspace(settings, embedder=embedder)
        try:
            workspace.ingest([CORPUS])
            results = []
            for row in rows:
                hits = workspace.search(row["question"], k=8)
                found = extract(row["question"], hits, embedder, lexicon=EN, abstain_below=-1.0)
                text = " ".join(e.sentence.text for e in found.extracts).lower()
                keywords = [k.lower() for k in row.get("answer", [])]
                results.append(
                    (
                        bool(row.get("unanswerable")),
                        found.best_score,
                        all(k in text for k in keywords),
                        row["question"],
                    )
                )
        finally:
            workspace.close()

    table = Table(title="Best sentence score per calibration question")
    for column in ("kind", "score", "answer found", "question"):
        table.add_column(column)
    for unanswerable, score, correct, question in sorted(results, key=lambda r: r[1]):
        kind = "unanswerable" if unanswerable else "answerable"
        table.add_row(kind, f"{score:.3f}", "" if unanswerable else str(correct), question)
    console.print(table)

    answerable = sorted(s for u, s, _, _ in results if not u)
    unanswerable = sorted(s for u, s, _, _ in results if u)
    cuts = sorted({round(s, 3) for _, s, _, _ in results})
    best = max(
        ((a + b) / 2 for a, b in pairwise(cuts)),
        key=lambda floor: (
            sum(s < floor for s in unanswerable) / len(unanswerable)
            + sum(s >= floor for s in answerable) / len(answerable)
        ),
    )
    for label, floor in (("best on this set", best), ("ABSTAIN_BELOW now", ABSTAIN_BELOW)):
        abstained = sum(s < floor for s in unanswerable)
        false = sum(s < floor for s in answerable)
        console.print(
            f"{label}: floor {floor:.3f}: correct abstention {abstained}/{len(unanswerable)}, "
            f"false abstention {false}/{len(answerable)}"
        )


if __name__ == "__main__":
    main()
