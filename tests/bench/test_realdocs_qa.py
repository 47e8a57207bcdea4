"""The real-document QA set (bench/realdocs): its records always, its evidence once fetched."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

REALDOCS = Path(__file__).resolve().parents[2] / "bench" / "realdocs"


def _module(name: str) -> ModuleType:
    # bench/ is scripts, not a package: load the file itself.
    spec = importlib.util.spec_from_file_location(f"realdocs_{name}", REALDOCS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


check = _module("check_qa")


@pytest.fixture(scope="module")
def records() -> list:
    return [r for split, path in check.SPLITS.items() for r in check.load(split, path)]


def test_records_are_sound(records: list) -> None:
    assert check.record_problems(records) == []


def test_set_meets_the_issue_minimums(records: list) -> None:
    assert check.requirement_problems(records) == []
    c = check.counts(records)
    assert c["questions"] >= 100 and c["documents"] >= 30 and c["multi_part"] >= 10


def test_splits_are_about_even_per_kind(records: list) -> None:
    for kind in check.KINDS:
        calibration = sum(r.kind == kind and r.split == "calibration" for r in records)
        holdout = sum(r.kind == kind and r.split == "holdout" for r in records)
        assert abs(calibration - holdout) <= 1, kind


def test_every_document_is_locked(records: list) -> None:
    lock = json.loads((REALDOCS / "documents.lock.json").read_text(encoding="utf-8"))
    locked = {d["name"]: d for p in lock["packages"] for d in p["documents"]}
    assert {d for r in records for d in r.documents} <= set(locked)
    assert all(len(d["sha256"]) == 64 for d in locked.values())
    assert all(
        p["url"].startswith("https://deb.debian.org/debian/pool/main/") for p in lock["packages"]
    )


def _record(**fields: object) -> object:
    base: dict[str, object] = {
        "id": "x-1",
        "split": "holdout",
        "question": "How often are fire drills held?",
        "kind": "factoid",
        "parts": (("policy.pdf", "Fire drills are held twice a year."),),
        "keywords": ("twice a year",),
    }
    return check.Record(**{**base, **fields})


def test_a_keyword_missing_from_the_evidence_is_reported() -> None:
    problems = check.record_problems([_record(keywords=("three times",))])
    assert problems == ["holdout x-1: keyword 'three times' is not in its evidence"]


def test_a_keyword_must_be_whole_words_of_the_evidence() -> None:
    assert check.record_problems([_record(keywords=("twice a ye",))]) != []


def test_a_paraphrase_sharing_a_stem_with_its_evidence_is_reported() -> None:
    # "drill" and "drills" are one stem to the full-text index: not a paraphrase.
    problems = check.record_problems([_record(kind="paraphrase", question="Is there a drill?")])
    assert problems == ["holdout x-1: paraphrase shares ['drill'] with its evidence"]


def test_a_paraphrase_with_no_shared_content_word_passes() -> None:
    question = "How frequently must we practise leaving the building in an emergency?"
    assert check.record_problems([_record(kind="paraphrase", question=question)]) == []


def test_a_multi_part_question_needs_evidence_per_part() -> None:
    problems = check.record_problems([_record(kind="multi-part")])
    assert problems == ["holdout x-1: a multi-part question has one evidence string per part"]


def test_the_set_misses_the_minimums_when_it_shrinks(records: list) -> None:
    problems = check.requirement_problems([r for r in records if r.answerable])
    assert problems == ["unanswerable_share is 0, at least 0.15 wanted"]


@pytest.mark.skipif(
    not check.DEFAULT_CORPUS.is_dir(),
    reason="corpus not fetched: run python bench/realdocs/fetch.py (downloads ~150 MB of .debs)",
)
def test_every_evidence_string_is_in_one_chunk_of_its_document(records: list) -> None:
    assert check.corpus_problems(records, check.DEFAULT_CORPUS) == []
