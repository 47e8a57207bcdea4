"""Check the real-document QA set: its records, the counts issue 18 asks for, and its evidence.

    python bench/realdocs/check_qa.py [--corpus DIR]

The two JSONL files are in the format ``docchat eval`` reads (README, "Evaluating retrieval"), so
what a question needs beyond it is carried by the fields that format has:

- ``type`` is the question's kind: factoid, numeric, paraphrase, multi-part, procedure or
  unanswerable (so ``docchat eval`` reports every metric per kind);
- ``expected[].contains`` is the evidence, the exact words of the document that answer it (one
  entry per part of a multi-part question), so a retrieved passage counts only if it holds them;
- ``answer`` are keywords that occur in the evidence; ``unanswerable: true`` questions have neither;
- the format is the document's suffix, the split is the file the question is in.

A question is paraphrased when it shares no content word with its evidence: no word outside
docchat's stop words whose Porter stem (what the full-text index stores) is the same, so keyword
search on the question alone cannot find the evidence (stop words: docchat's, plus a few
function words and single letters, EXTRA_STOPWORDS).  Every ``paraphrase`` question must be.

The split was made once, before anything ran on the set: within each (kind, format) stratum the
questions were ordered by the sha256 of their text and dealt alternately to calibration and
hold-out.  With the corpus fetched (fetch.py), every evidence string must occur in the text
docchat's own parser extracts from its document, within one chunk as docchat cuts them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docchat.evaluation.answers import contains_keyword
from docchat.evaluation.qa import load_qa, normalise
from docchat.retrieval.fulltext import porter_stems
from docchat.textsearch import STOPWORDS, words

HERE = Path(__file__).resolve().parent
SPLITS = {"calibration": HERE / "calibration-qa.jsonl", "holdout": HERE / "holdout-qa.jsonl"}
DEFAULT_CORPUS = HERE / "corpus"
KINDS = ("factoid", "numeric", "paraphrase", "multi-part", "procedure", "unanswerable")
FORMATS = {".pdf": "pdf", ".html": "html", ".txt": "text", ".md": "markdown", ".docx": "docx"}

# What issue 18 requires of the whole set.
MIN_QUESTIONS = 100
MIN_DOCUMENTS = 30
MIN_PDF_SHARE = 0.5
MIN_PARAPHRASED_SHARE = 0.30
MIN_UNANSWERABLE_SHARE = 0.15
MIN_MULTI_PART = 10

# Function words docchat's search keeps (its list is tuned for queries, not for this rule), and the
# letters that contractions and possessives leave ("it's" is "it", "s"): sharing one of these with
# the evidence is not sharing content.
EXTRA_STOPWORDS = frozenset(
    ["must", "may", "might", "will", "would", "shall", "under", "over", "about", "which", "what"]
)


@dataclass(frozen=True)
class Record:
    """One question as the checks see it."""

    id: str
    split: str
    question: str
    kind: str
    parts: tuple[tuple[str, str], ...]  # (document, evidence) per expected entry
    keywords: tuple[str, ...]

    @property
    def documents(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(document for document, _ in self.parts))

    @property
    def evidence(self) -> tuple[str, ...]:
        return tuple(evidence for _, evidence in self.parts)

    @property
    def answerable(self) -> bool:
        return self.kind != "unanswerable"

    @property
    def format(self) -> str | None:
        """The format of its document (None when unanswerable)."""
        if not self.documents:
            return None
        suffix = self.documents[0][self.documents[0].rfind(".") :].lower()
        return FORMATS.get(suffix, suffix)


def load(split: str, path: Path) -> list[Record]:
    """The records of one QA file, after ``docchat eval``'s own loader has accepted it."""
    load_qa(path)  # raises InvalidInput, naming the line, if docchat eval could not read it
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        raw: dict[str, Any] = json.loads(line)
        expected = raw.get("expected") or []
        records.append(
            Record(
                id=raw["id"],
                split=split,
                question=raw["question"],
                kind=raw["type"],
                parts=tuple((e["document"], e["contains"]) for e in expected),
                keywords=tuple(raw.get("answer") or ()),
            )
        )
    return records


def content_stems(text: str) -> set[str]:
    """The Porter stems of the words of ``text`` that are not stop words."""
    kept = [w for w in words(text) if len(w) > 1 and w not in STOPWORDS | EXTRA_STOPWORDS]
    return set(porter_stems(kept))


def paraphrased(record: Record) -> bool:
    """Whether the question shares no content word with any of its evidence."""
    if not record.evidence:
        return False
    question = content_stems(record.question)
    return all(not question & content_stems(e) for e in record.evidence)


def record_problems(records: Iterable[Record]) -> list[str]:
    """What is wrong with the records themselves (no corpus needed), one line each."""
    problems = []
    ids: Counter[str] = Counter()
    questions: Counter[str] = Counter()
    for r in records:
        ids[r.id] += 1
        questions[normalise(r.question)] += 1
        where = f"{r.split} {r.id}"
        if r.kind not in KINDS:
            problems.append(f"{where}: unknown kind {r.kind!r}")
        if r.answerable and (not r.evidence or not r.keywords):
            problems.append(f"{where}: an answerable question needs evidence and keywords")
        if r.kind == "multi-part" and len(r.evidence) < 2:
            problems.append(f"{where}: a multi-part question has one evidence string per part")
        for keyword in r.keywords:
            if not any(contains_keyword(e, keyword) for e in r.evidence):
                problems.append(f"{where}: keyword {keyword!r} is not in its evidence")
        if r.kind == "paraphrase" and not paraphrased(r):
            shared = content_stems(r.question) & set().union(*map(content_stems, r.evidence))
            problems.append(f"{where}: paraphrase shares {sorted(shared)} with its evidence")
    problems += [f"id {i!r} is used {n} times" for i, n in ids.items() if n > 1]
    problems += [f"question {q!r} is asked {n} times" for q, n in questions.items() if n > 1]
    return problems


def counts(records: list[Record]) -> dict[str, Any]:
    """The figures issue 18 asks for, for ``records``."""
    n = len(records) or 1
    return {
        "questions": len(records),
        "documents": len({d for r in records for d in r.documents}),
        "pdf_share": sum(r.format == "pdf" for r in records) / n,
        "paraphrased_share": sum(paraphrased(r) for r in records) / n,
        "unanswerable_share": sum(not r.answerable for r in records) / n,
        "multi_part": sum(r.kind == "multi-part" for r in records),
        "kinds": dict(Counter(r.kind for r in records)),
        "formats": dict(Counter(r.format or "none" for r in records)),
    }


def requirement_problems(records: list[Record]) -> list[str]:
    """Which of issue 18's minimums the whole set misses."""
    c = counts(records)
    wanted = [
        ("questions", MIN_QUESTIONS),
        ("documents", MIN_DOCUMENTS),
        ("pdf_share", MIN_PDF_SHARE),
        ("paraphrased_share", MIN_PARAPHRASED_SHARE),
        ("unanswerable_share", MIN_UNANSWERABLE_SHARE),
        ("multi_part", MIN_MULTI_PART),
    ]
    return [f"{key} is {c[key]:.3g}, at least {low} wanted" for key, low in wanted if c[key] < low]


def corpus_problems(records: Iterable[Record], corpus: Path) -> list[str]:
    """Evidence that is not in its document's text, or not inside one of its chunks."""
    from docchat.config import DocumentSettings
    from docchat.documents.chunking import chunk
    from docchat.documents.parsers import parse

    settings = DocumentSettings()
    texts: dict[str, tuple[str, list[str]]] = {}
    problems = []
    for r in records:
        for document, evidence in r.parts:
            if document not in texts:
                path = corpus / document
                if not path.is_file():
                    problems.append(f"{r.split} {r.id}: {document} is not in {corpus}")
                    texts[document] = ("", [])
                    continue
                parsed = parse(path, settings)
                cut = chunk(
                    parsed, max_tokens=settings.chunk_tokens, overlap=settings.chunk_overlap
                )
                texts[document] = (normalise(parsed.text), [normalise(c.text) for c in cut])
            text, chunks = texts[document]
            wanted = normalise(evidence)
            if not text:
                continue
            if wanted not in text:
                problems.append(f"{r.split} {r.id}: evidence not in {document}: {evidence!r}")
            elif not any(wanted in c for c in chunks):
                problems.append(f"{r.split} {r.id}: evidence spans two chunks: {evidence!r}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    args = parser.parse_args(argv)
    records = [r for split, path in SPLITS.items() for r in load(split, path)]
    for name, subset in [
        ("all", records),
        *((s, [r for r in records if r.split == s]) for s in SPLITS),
    ]:
        c = counts(subset)
        print(
            f"{name:12} {c['questions']:4} questions, {c['documents']:3} documents, "
            f"pdf {c['pdf_share']:.0%}, paraphrased {c['paraphrased_share']:.0%}, "
            f"unanswerable {c['unanswerable_share']:.0%}, multi-part {c['multi_part']}"
        )
        print(f"{'':12} kinds {c['kinds']}; formats {c['formats']}")
    problems = record_problems(records) + requirement_problems(records)
    if args.corpus.is_dir():
        problems += corpus_problems(records, args.corpus)
    else:
        print(f"no corpus at {args.corpus}: evidence not checked (run bench/realdocs/fetch.py)")
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    print("ok" if not problems else f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
