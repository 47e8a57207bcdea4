"""Sentence segmenters on real documents: ``python bench/sentences.py [--rules-from REV]``.

The set is ``tests/data/sentences/documents.jsonl``: 23 passages of Debian and R manuals (plain
text, PDF text as pypdf extracts it, markdown, two licences; English, Dutch, French), each with
its sentences labelled by hand (see the README there).  Each candidate splits every passage:

* ``docchat`` is ``split_sentences`` as it stands (the line layer plus the chosen library);
* ``lines + X`` is docchat's line layer (``blocks``, ``mended``) with library X on prose;
* ``X alone`` is library X on the whole passage, line breaks and all;
* ``rules @REV`` (with ``--rules-from``) is ``split_sentences`` as it was at git revision REV.

Passages marked ``holdout`` were labelled but not looked at while the line layer's rules were
written; ``tune`` ones were.  A boundary is the end offset of a sentence (whitespace stripped).
Precision: predicted boundaries that are labelled; recall: labelled boundaries predicted; exact:
labelled sentences predicted with the same start and end.  Speed: labelled sentences per CPU
second of the process over the whole set (best of 3 rounds of at least 0.3 s).  Every library
runs with English rules (documents carry no language tag); ``--languages`` adds pysbd and
sentencex with each passage's own language.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from _report import machine_facts, num, report_console, table

from docchat.chat import sentences

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "sentences" / "documents.jsonl"

Spans = list[tuple[int, int]]
Splitter = Callable[[str, str], Spans]  # (text, language) -> sentence spans


@dataclass(frozen=True)
class Passage:
    source: str
    language: str
    split: str  # "tune": rules of the line layer were fitted on it; "holdout": never looked at
    text: str
    gold: Spans


def load() -> list[Passage]:
    passages = []
    for line in DATA.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        text, at, gold = record["text"], 0, []
        for sentence in record["sentences"]:
            start = text.index(sentence, at)
            gold.append((start, start + len(sentence)))
            at = start + len(sentence)
        passages.append(Passage(record["source"], record["lang"], record["split"], text, gold))
    return passages


def stripped(text: str, spans: Iterable[tuple[int, int]]) -> Spans:
    out = []
    for start, end in spans:
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start:
            out.append((start, end))
    return out


def located(text: str, pieces: Iterable[str]) -> Spans:
    """Spans of library output that returns strings: found in order in ``text``."""
    spans, at = [], 0
    for piece in pieces:
        piece = piece.strip()
        start = text.find(piece, at) if piece else -1
        if start < 0:
            continue
        spans.append((start, start + len(piece)))
        at = start + len(piece)
    return spans


def pysbd_splitter(language: str | None) -> Callable[[str, str], Spans]:
    import pysbd

    segmenters: dict[str, pysbd.Segmenter] = {}

    def split(text: str, lang: str) -> Spans:
        code = language or lang
        if code not in segmenters:
            segmenters[code] = pysbd.Segmenter(language=code, clean=False)
        return located(text, segmenters[code].segment(text))

    return split


def sentencex_splitter(language: str | None) -> Callable[[str, str], Spans]:
    import sentencex

    def split(text: str, lang: str) -> Spans:
        return [
            (b["start_index"], b["end_index"])
            for b in sentencex.get_sentence_boundaries(language or lang, text)
        ]

    return split


def syntok_splitter(language: str | None) -> Callable[[str, str], Spans]:
    del language  # syntok has one set of rules (English, German, Spanish)
    from syntok import segmenter

    def split(text: str, lang: str) -> Spans:
        del lang
        spans = []
        for paragraph in segmenter.analyze(text):
            for sentence in paragraph:
                first, last = sentence[0], sentence[-1]
                spans.append((first.offset, last.offset + len(last.value)))
        return spans

    return split


LIBRARIES = {"pysbd": pysbd_splitter, "sentencex": sentencex_splitter, "syntok": syntok_splitter}


def with_lines(library: Splitter) -> Splitter:
    """docchat's line layer with ``library`` on each prose block (line breaks read as spaces)."""

    def split(text: str, lang: str) -> Spans:
        spans: Spans = []
        for block in sentences.blocks(text):
            if block.structural:
                spans.append((block.start, block.end))
                continue
            prose = block.read(text)
            found = sentences.mended(prose, library(prose, lang))
            spans.extend((block.start + a, block.start + b) for a, b in found)
        return spans

    return split


def rules_from(revision: str) -> Splitter:
    """``split_sentences`` as it was at ``revision``, loaded from git into a scratch module."""
    source = subprocess.run(
        ["git", "show", f"{revision}:docchat/chat/sentences.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "old_sentences.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("old_sentences", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_sentences"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return lambda text, _lang: [(s.start, s.end) for s in module.split_sentences(text)]


def score(passages: list[Passage], split: Splitter) -> dict[str, float]:
    found = labelled = hit = exact = 0
    by_group: dict[str, list[int]] = {}
    for p in passages:
        predicted = stripped(p.text, split(p.text, p.language))
        ends, gold_ends = {e for _, e in predicted}, {e for _, e in p.gold}
        found, labelled = found + len(ends), labelled + len(gold_ends)
        hit += len(ends & gold_ends)
        exact += len(set(predicted) & set(p.gold))
        for group in (p.language, p.split):
            counts = by_group.setdefault(group, [0, 0])
            counts[0] += len(set(predicted) & set(p.gold))
            counts[1] += len(p.gold)
    precision, recall = hit / found, hit / labelled
    result = {
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall),
        "exact": exact / labelled,
    }
    result |= {f"exact {group}": c[0] / c[1] for group, c in by_group.items()}
    return result


def speed(passages: list[Passage], split: Splitter) -> float:
    """Sentences per second of this process's CPU time (a busy machine slows the wall clock, not
    this), best of 3 rounds."""
    sentences_per_pass = sum(len(p.gold) for p in passages)
    best = 0.0
    for _ in range(3):
        rounds, started = 0, time.process_time()
        while (elapsed := time.process_time() - started) < 0.3 or rounds == 0:
            for p in passages:
                split(p.text, p.language)
            rounds += 1
        best = max(best, rounds * sentences_per_pass / elapsed)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules-from", metavar="REV", help="also score split_sentences at REV")
    parser.add_argument(
        "--languages", action="store_true", help="also run each library with the passage's language"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the numbers here")
    args = parser.parse_args()

    passages = load()
    candidates: dict[str, Splitter] = {
        "docchat": lambda text, _lang: [(s.start, s.end) for s in sentences.split_sentences(text)]
    }
    if args.rules_from:
        candidates[f"rules @{args.rules_from}"] = rules_from(args.rules_from)
    for name, make in LIBRARIES.items():
        candidates[f"lines + {name}"] = with_lines(make("en"))
        candidates[f"{name} alone"] = make("en")
        if args.languages and name != "syntok":
            candidates[f"lines + {name} (own language)"] = with_lines(make(None))

    results = {}
    for name, split in candidates.items():
        results[name] = score(passages, split) | {"sentences/s": speed(passages, split)}

    languages = sorted({p.language for p in passages})
    groups = [*languages, "tune", "holdout"]
    console = report_console()
    console.print(", ".join(f"{k}: {v}" for k, v in machine_facts().items()))
    total = sum(len(p.gold) for p in passages)
    counts = ", ".join(
        f"{g} {sum(len(p.gold) for p in passages if g in (p.language, p.split))}" for g in groups
    )
    columns = ["segmenter", "precision", "recall", "F1", "exact"]
    columns += [f"exact {g}" for g in groups] + ["sentences/s"]
    console.print(
        table(
            f"Sentence boundaries on {len(passages)} real passages ({total} sentences: {counts})",
            columns,
            (
                [
                    name,
                    *(num(100 * r[k], 1) for k in ("precision", "recall", "f1", "exact")),
                    *(num(100 * r[f"exact {g}"], 1) for g in groups),
                    num(r["sentences/s"]),
                ]
                for name, r in results.items()
            ),
        )
    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
