"""Measure full_reading's relevance cut (``RELEVANT_SCORE``) with a real generative model.

``full_reading`` sends each document (or group of passages) to the model with the map prompt
(``docchat.llm.prompts.map_messages``), which asks for the evidence and a 0-10 relevance score,
and keeps a group from ``RELEVANT_SCORE`` on.  This asks the map prompt, exactly as the mode
does, for the 63 calibration questions about the test handbook (bench/data/calibration-qa.jsonl:
41 answerable, 22 not; no test asks them) over the documents a reader would have to rule out: the
documents of the top search hits (the hard negatives) and the one that answers.  A document is
relevant when it is the question's expected document (the one holding its answer); for an
unanswerable question no document is.  It prints, for every cut from 1 to 10, how many relevant
documents are kept and irrelevant ones dropped, the balanced accuracy, and the replies the prompt
could not read (full_reading then lets the extractive scorer decide).

The model is any one docchat can use: a configured name (``DOCCHAT_LLM__MODELS``, e.g. Qwen behind
``python -m llama_cpp.server``) or a built-in in-process name:

    python bench/calibrate_full_reading.py --model qwen-0.5b
    python bench/calibrate_full_reading.py --model qwen-served --limit 20

The handbook's documents are small, so each is one map group, as full_reading makes them under
``MAP_SHARE`` of any window of 2,048 tokens or more.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from docchat.chat.extractive import MAX_PASSAGES, extract  # noqa: E402
from docchat.chat.modes.full_reading import RELEVANT_SCORE  # noqa: E402
from docchat.config import Settings  # noqa: E402
from docchat.language.en import LEXICON as EN  # noqa: E402
from docchat.llm import prompts  # noqa: E402
from docchat.llm.base import ChatModel, TextDelta  # noqa: E402
from docchat.llm.models import ModelCatalog  # noqa: E402
from docchat.options import SourceFilters  # noqa: E402
from docchat.retrieval.embedders import MiniLMEmbedder  # noqa: E402
from docchat.workspace import Workspace  # noqa: E402

QA = ROOT / "bench" / "data" / "calibration-qa.jsonl"
CORPUS = ROOT / "tests" / "data" / "handbook"
#: Documents of the top search hits sent to the model per question (besides the answering one).
NEGATIVES = 3
#: What full_reading lets a map reply be (``generate.SHORT_REPLY_TOKENS * 2``).
MAP_REPLY_TOKENS = 192


@dataclass(frozen=True)
class Judged:
    question: str
    document: str
    relevant: bool
    score: int | None  # None: the reply had no SCORE line
    seconds: float
    reply: str
    #: What full_reading falls back on for a reply without a score: the extractive answerer
    #: finds a sentence above its floor in the document's passages.
    extractive: bool


Reply = Callable[[str, str, str], tuple[str, float]]


def model_replies(model: ChatModel) -> Reply:
    """The model's map reply to (question, document name, text), and its seconds."""

    def reply(question: str, name: str, text: str) -> tuple[str, float]:
        started = time.perf_counter()
        messages = prompts.map_messages(question, prompts.Passage(1, text, name))
        events = model.stream(messages, temperature=0.0, max_tokens=MAP_REPLY_TOKENS)
        said = "".join(e.text for e in events if isinstance(e, TextDelta))
        return said, time.perf_counter() - started

    return reply


def stored_replies(path: Path) -> Reply:
    """Replies of an earlier run (``--json``), so the verdicts can be recomputed offline."""
    kept = {(j["question"], j["document"]): j for j in json.loads(path.read_text("utf-8"))}

    def reply(question: str, name: str, _text: str) -> tuple[str, float]:
        found = kept[question, name]
        return str(found["reply"]), float(found["seconds"])

    return reply


def judge(
    reply: Reply, workspace: Workspace, embedder: MiniLMEmbedder, item: dict[str, Any]
) -> list[Judged]:
    question = str(item["question"])
    documents = {d.file_name: d.id for d in workspace.documents()}
    expected = {str(e["document"]) for e in item.get("expected", [])}
    names = list(dict.fromkeys(h.file_name for h in workspace.search(question, k=12)))
    judged = []
    for name in dict.fromkeys([*names[:NEGATIVES], *sorted(expected)]):
        text = workspace.document_text(documents[name])
        said, seconds = reply(question, name, text)
        only = SourceFilters(documents=[documents[name]])
        passages = workspace.search(question, k=MAX_PASSAGES, filters=only)
        found = extract(question, passages, embedder, lexicon=EN, follow_on=False)
        judged.append(
            Judged(
                question,
                name,
                relevant=not item.get("unanswerable") and name in expected,
                score=prompts.parse_map(said).score,
                seconds=seconds,
                reply=said,
                extractive=not found.abstained,
            )
        )
    return judged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a configured or built-in model name")
    parser.add_argument("--qa", default=str(QA), help="QA file over the handbook (JSON Lines)")
    parser.add_argument("--limit", type=int, help="only the first N questions")
    parser.add_argument("--json", dest="json_out", help="write every judgement to this file")
    parser.add_argument("--replies", help="read the model's replies from an earlier --json")
    args = parser.parse_args()
    console = Console(width=120)
    lines = Path(args.qa).read_text(encoding="utf-8").splitlines()
    qa = [json.loads(line) for line in lines if line.strip()][: args.limit]

    judged: list[Judged] = []
    # The models as configured (and joined weights kept) in the usual data dir; the handbook in
    # a workspace of its own.
    configured = Settings()
    catalog = ModelCatalog(configured.llm, data_dir=configured.data_dir)
    if args.replies:
        reply = stored_replies(Path(args.replies))
    else:
        model = catalog.get(args.model)
        if model is None:
            raise SystemExit(f"no model named {args.model!r}")
        reply = model_replies(model)
    embedder = MiniLMEmbedder()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/calibrate.db")
        with Workspace(settings, embedder=embedder) as workspace:
            workspace.ingest([CORPUS])
            for n, item in enumerate(qa, 1):
                judged.extend(judge(reply, workspace, embedder, item))
                console.print(f"{n}/{len(qa)} {item['question']}", highlight=False)
    catalog.close()
    if args.json_out:
        Path(args.json_out).write_text(
            json.dumps([asdict(j) for j in judged], indent=1), encoding="utf-8"
        )
    report(console, args.model, judged)


def report(console: Console, model: str, judged: list[Judged]) -> None:
    relevant = [j for j in judged if j.relevant]
    irrelevant = [j for j in judged if not j.relevant]

    def counted(kept: Callable[[Judged], bool]) -> tuple[int, int, float]:
        """Relevant documents kept, irrelevant ones dropped, and their balanced accuracy."""
        right = sum(kept(j) for j in relevant)
        dropped = sum(not kept(j) for j in irrelevant)
        accuracy = (right / max(1, len(relevant)) + dropped / max(1, len(irrelevant))) / 2
        return right, dropped, accuracy

    unread = sum(j.score is None for j in judged)
    table = Table(
        title=f"{model}: map replies for {len(judged)} documents ({len(relevant)} relevant), "
        f"{unread} without a score, {statistics.mean(j.seconds for j in judged):.1f} s a call"
    )
    for column in ("cut", "relevant kept", "irrelevant dropped", "balanced accuracy"):
        table.add_column(column, justify="right")

    # A reply without a score counts as full_reading would treat it without the extractive
    # fallback: not relevant (the fallback's own floor is calibrated in calibrate_abstention.py).
    def from_cut(cut: int) -> Callable[[Judged], bool]:
        return lambda j: (j.score or 0) >= cut

    for cut in range(1, 11):
        right, dropped, accuracy = counted(from_cut(cut))
        mark = " (now)" if cut == RELEVANT_SCORE else ""
        table.add_row(
            f"{cut}{mark}",
            f"{right}/{len(relevant)}",
            f"{dropped}/{len(irrelevant)}",
            f"{accuracy:.3f}",
        )
    console.print(table)

    decisions: list[tuple[str, Callable[[Judged], bool]]] = [
        (
            f"as full_reading decides (score >= {RELEVANT_SCORE}, else the extractive scorer)",
            lambda j: j.score >= RELEVANT_SCORE if j.score is not None else j.extractive,
        ),
        ("the extractive scorer alone", lambda j: j.extractive),
    ]
    for label, kept in decisions:
        right, dropped, accuracy = counted(kept)
        console.print(
            f"{label}: relevant kept {right}/{len(relevant)}, irrelevant dropped "
            f"{dropped}/{len(irrelevant)}, balanced accuracy {accuracy:.3f}",
            highlight=False,
        )
    scores = [j.score for j in judged if j.score is not None]
    spread = {s: scores.count(s) for s in sorted(set(scores))}
    console.print(f"scores given: {spread}", highlight=False)


if __name__ == "__main__":
    main()
