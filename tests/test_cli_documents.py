"""The document commands end to end: ingest, search, documents, eval, on a SQLite data dir.

Every command runs through Typer's test runner against real small Markdown and text files; the
first command of a run that searches or embeds loads the offline MiniLM model.
"""

from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from docchat.cli import app

runner = CliRunner()

LIGHTHOUSE = """# Lighthouse keeping

The keeper climbed the tower every evening to light the lamp before sunset.
Paraffin oil fed the flame, and the great lens threw its beam twenty miles out to sea.

## Fog

When fog rolled in the keeper sounded the horn every thirty seconds, so that ships
could judge their distance from the rocks even when the light was hidden.

## Logbook

Every night the keeper wrote the weather, the passing ships and the oil used in the logbook.
"""

BREAD = """# Sourdough

A sourdough starter is flour and water colonised by wild yeast and lactic bacteria.
Feed the starter daily with equal weights of flour and water.

## Hydration

Dough hydration is the weight of water divided by the weight of flour. A dough at
seventy-five percent hydration is wet and open; sixty percent makes a tight crumb.

## Baking

Bake in a covered pot for twenty minutes, then uncover it to brown the crust.
"""

RIVERS = """Rivers carry sediment from the mountains down to the sea. Where a river meets the sea, \
the water slows and the sediment settles, building a delta over centuries.

Deltas are fertile plains. Farmers have grown rice on the Mekong and Nile deltas for thousands \
of years, relying on the yearly floods to renew the soil.

Dams upstream trap sediment behind them. Starved of new mud, many deltas now sink and shrink, \
and salt water creeps into the fields.

Engineers try to divert floodwater back into the marshes so that the river can rebuild the land.
"""

QA_LINES = [
    {
        "question": "sourdough starter flour water",
        "type": "lexical",
        "expected": [{"document": "bread.md", "contains": "sourdough starter"}],
    },
    {
        "question": "sediment settles where a river meets the sea",
        "type": "lexical",
        "expected": [{"document": "*.txt", "contains": "building a  DELTA"}],
    },
    {
        "question": "how were sailors warned about the rocks when they could not see",
        "type": "paraphrase",
        "expected": [{"document": "lighthouse.md"}],
    },
]

# The keys every `search --json` line has (it has a few more: rank, chunk_id, score).
HIT_KEYS = {
    "document_id",
    "file_name",
    "collection",
    "page",
    "section",
    "char_start",
    "char_end",
    "snippet",
    "text",
    "scores",
}
SUMMARY_ROW = re.compile(
    r"\s*(added|updated|unchanged|removed|failed|skipped|pages|chunks|embedded|seconds)"
    r"\s+([\d.]+)\s*"
)


def _env(data_dir: Path) -> dict[str, str]:
    # Small chunks, so a file makes several and offsets are not all zero; wide output, so tables
    # do not wrap the values the tests look for.
    return {
        "DOCCHAT_DATA_DIR": str(data_dir),
        "DOCCHAT_DOCUMENTS__CHUNK_TOKENS": "40",
        "DOCCHAT_DOCUMENTS__CHUNK_OVERLAP": "8",
        "COLUMNS": "200",
    }


def run(data_dir: Path, *args: str) -> Result:
    """``docchat ARGS`` on the data dir; the result has ``stdout`` and ``output`` (with stderr)."""
    return runner.invoke(app, list(args), env=_env(data_dir))


def summary(output: str) -> dict[str, float]:
    """The ingest summary table as numbers."""
    return {m[1]: float(m[2]) for line in output.splitlines() if (m := SUMMARY_ROW.fullmatch(line))}


def json_lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def write_corpus(folder: Path) -> Path:
    """Three small documents and a PDF of random bytes in ``folder``."""
    folder.mkdir(parents=True)
    (folder / "lighthouse.md").write_text(LIGHTHOUSE, encoding="utf-8")
    (folder / "bread.md").write_text(BREAD, encoding="utf-8")
    (folder / "rivers.txt").write_text(RIVERS, encoding="utf-8")
    (folder / "scan.pdf").write_bytes(random.Random(7).randbytes(3000))
    return folder


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(data dir, documents folder): the corpus ingested once for the read-only tests."""
    root = tmp_path_factory.mktemp("corpus")
    docs = write_corpus(root / "docs")
    with pytest.MonkeyPatch.context() as mp:
        # Module fixtures run before the autouse isolation of conftest: isolate here too.
        for key in list(os.environ):
            if key.startswith("DOCCHAT_") and key != "DOCCHAT_TEST_DATABASE_URL":
                mp.delenv(key)
        mp.setenv("HOME", str(root))
        result = run(root / "data", "ingest", str(docs))
        assert result.exit_code == 0, result.output
        yield root / "data", docs


# -- ingest -------------------------------------------------------------------------------------


def test_ingest_reports_a_summary_and_the_failures(tmp_path: Path) -> None:
    docs = write_corpus(tmp_path / "docs")
    result = run(tmp_path / "data", "ingest", str(docs), str(tmp_path / "missing.md"))
    assert result.exit_code == 0, result.output
    counts = summary(result.stdout)
    assert counts["added"] == 3
    assert counts["failed"] == 2
    assert (counts["updated"], counts["unchanged"], counts["removed"]) == (0, 0, 0)
    assert counts["pages"] == 3
    assert counts["chunks"] >= 6  # small chunks: each file makes at least two
    assert counts["embedded"] == counts["chunks"]
    assert "Failures" in result.stdout
    assert re.search(r"scan\.pdf\s+'scan\.pdf' is not a valid PDF", result.stdout)
    assert re.search(r"missing\.md\s+no such file or folder", result.stdout)
    assert "Traceback" not in result.output
    # progress went to stderr
    assert "files" in result.stderr
    assert "embedding" in result.stderr


def test_ingest_again_prunes_updates_and_skips_unchanged(tmp_path: Path) -> None:
    docs = write_corpus(tmp_path / "docs")
    data = tmp_path / "data"
    assert run(data, "ingest", str(docs)).exit_code == 0

    again = run(data, "ingest", str(docs))
    assert again.exit_code == 0, again.output
    counts = summary(again.stdout)
    assert (counts["added"], counts["updated"], counts["unchanged"]) == (0, 0, 3)
    assert counts["failed"] == 1  # the bad PDF is tried again, and fails again
    assert (counts["chunks"], counts["embedded"]) == (0, 0)

    (docs / "bread.md").write_text(BREAD + "\nRest the loaf for an hour before slicing.\n")
    (docs / "rivers.txt").unlink()
    pruned = run(data, "ingest", "--prune", str(docs))
    assert pruned.exit_code == 0, pruned.output
    counts = summary(pruned.stdout)
    assert (counts["added"], counts["updated"], counts["unchanged"]) == (0, 1, 1)
    assert counts["removed"] == 1
    assert counts["embedded"] >= 1

    listed = json_lines(run(data, "documents", "list", "--json").stdout)
    assert sorted(d["file_name"] for d in listed) == ["bread.md", "lighthouse.md", "scan.pdf"]


def test_ingest_without_embedding_is_searchable_by_full_text(tmp_path: Path) -> None:
    docs = write_corpus(tmp_path / "docs")
    result = run(tmp_path / "data", "ingest", "--no-embed", "-c", "notes", str(docs / "bread.md"))
    assert result.exit_code == 0, result.output
    assert "'notes'" in result.stdout
    assert summary(result.stdout)["embedded"] == 0
    found = run(tmp_path / "data", "search", "hydration", "--mode", "fulltext", "--json")
    assert found.exit_code == 0, found.output
    assert {h["file_name"] for h in json_lines(found.stdout)} == {"bread.md"}
    dense = run(tmp_path / "data", "search", "hydration", "--mode", "dense", "--json")
    assert "have no vector yet" in dense.stderr


def test_ingest_usage_and_library_errors(tmp_path: Path) -> None:
    usage = run(tmp_path / "data", "ingest")
    assert usage.exit_code == 2
    assert "Missing argument" in usage.output
    bad = run(tmp_path / "data", "ingest", "--collection", " ", str(tmp_path))
    assert bad.exit_code == 1
    assert "error: collection name must not be empty" in bad.output
    assert "Traceback" not in bad.output


def test_ingest_skips_symlinks_out_of_the_folder_unless_asked(tmp_path: Path) -> None:
    docs = write_corpus(tmp_path / "docs")
    outside = tmp_path / "etc"
    outside.mkdir()
    (outside / "passwd").write_text("root:x:0:0:numbatsecret:/root:/bin/bash\n")
    os.symlink(outside / "passwd", docs / "passwd.txt")
    os.symlink(docs / "bread.md", docs / "loaf.md")  # inside the folder: ingested
    data = tmp_path / "data"

    result = run(data, "ingest", str(docs))
    assert result.exit_code == 0, result.output
    counts = summary(result.stdout)
    assert (counts["added"], counts["skipped"], counts["failed"]) == (4, 1, 1)
    assert re.search(r"passwd\.txt\s+symbolic link to a file outside 'docs'", result.stdout)
    listed = json_lines(run(data, "documents", "list", "--json").stdout)
    assert "passwd.txt" not in {d["file_name"] for d in listed}
    assert "loaf.md" in {d["file_name"] for d in listed}
    found = run(data, "search", "numbatsecret", "--mode", "fulltext", "--json")
    assert json_lines(found.stdout) == []

    followed = run(data, "ingest", "--follow-symlinks", str(docs))
    assert followed.exit_code == 0, followed.output
    assert (summary(followed.stdout)["added"], summary(followed.stdout)["skipped"]) == (1, 0)
    found = run(data, "search", "numbatsecret", "--mode", "fulltext", "--json")
    assert [h["file_name"] for h in json_lines(found.stdout)] == ["passwd.txt"]


# -- search -------------------------------------------------------------------------------------


def test_search_json_lines_name_the_file_and_exact_offsets(corpus: tuple[Path, Path]) -> None:
    data, _ = corpus
    result = run(data, "search", "dams trap sediment", "--json", "-k", "3")
    assert result.exit_code == 0, result.output
    hits = json_lines(result.stdout)
    assert 1 <= len(hits) <= 3
    assert [h["rank"] for h in hits] == list(range(1, len(hits) + 1))
    assert all(set(h) >= HIT_KEYS for h in hits)
    top = hits[0]
    assert top["file_name"] == "rivers.txt"
    assert top["collection"] == "default"
    assert "Dams upstream trap sediment" in top["text"]
    # A plain text file's text is the document text, so the offsets index the file itself.
    assert RIVERS[top["char_start"] : top["char_end"]] == top["text"]
    assert top["char_start"] > 0
    assert top["scores"]["fulltext_rank"] is not None


def test_search_filters(corpus: tuple[Path, Path]) -> None:
    data, _ = corpus
    only_md = json_lines(run(data, "search", "water", "--glob", "*.md", "--json").stdout)
    assert only_md
    assert {h["file_name"] for h in only_md} <= {"bread.md", "lighthouse.md"}
    keyword = run(data, "search", "water", "--keyword", "flour", "--mode", "fulltext", "--json")
    assert {h["file_name"] for h in json_lines(keyword.stdout)} == {"bread.md"}
    assert all("flour" in h["text"].lower() for h in json_lines(keyword.stdout))
    none = run(data, "search", "water", "--collection", "nowhere", "--json")
    assert none.exit_code == 0
    assert none.stdout == ""
    documents = json_lines(run(data, "documents", "list", "--json").stdout)
    bread = next(d["id"] for d in documents if d["file_name"] == "bread.md")
    by_id = json_lines(run(data, "search", "water", "--document", bread, "--json").stdout)
    assert by_id
    assert {h["document_id"] for h in by_id} == {bread}


def test_search_table_and_errors(corpus: tuple[Path, Path]) -> None:
    data, _ = corpus
    table = run(data, "search", "fog horn", "--mode", "hybrid")
    assert table.exit_code == 0, table.output
    first_row = next(line for line in table.stdout.splitlines() if line.strip().startswith("1 "))
    assert "lighthouse.md" in first_row
    assert "Fog" in first_row  # the section
    assert "fused" in table.stdout
    empty = run(data, "search", "   ")
    assert empty.exit_code == 1
    assert "error: query must be a non-empty string" in empty.output
    assert "Traceback" not in empty.output
    rerank = run(data, "search", "fog horn", "--rerank")
    assert rerank.exit_code == 0, rerank.output
    assert "rerank" in rerank.stdout  # the offline reranker's score is shown
    without = runner.invoke(
        app,
        ["search", "fog", "--rerank"],
        env={**_env(data), "DOCCHAT_RETRIEVAL__LATE_INTERACTION": "false"},
    )
    assert without.exit_code == 1
    assert "no reranker is configured" in without.output
    bad_mode = run(data, "search", "fog", "--mode", "bm25")
    assert bad_mode.exit_code == 2


# -- documents ----------------------------------------------------------------------------------


def test_documents_list_and_collections(corpus: tuple[Path, Path]) -> None:
    data, docs = corpus
    result = run(data, "documents", "list", "--json")
    assert result.exit_code == 0, result.output
    documents = {d["file_name"]: d for d in json_lines(result.stdout)}
    assert set(documents) == {"bread.md", "lighthouse.md", "rivers.txt", "scan.pdf"}
    assert documents["bread.md"]["status"] == "indexed"
    assert documents["bread.md"]["source"] == str((docs / "bread.md").resolve())
    assert documents["scan.pdf"]["status"] == "failed"
    assert "not a valid PDF" in documents["scan.pdf"]["error"]
    table = run(data, "documents", "list")
    assert documents["rivers.txt"]["id"] in table.stdout
    assert "not a valid PDF" in table.stdout
    assert json_lines(run(data, "documents", "list", "-c", "other", "--json").stdout) == []
    collections = run(data, "documents", "collections", "--json")
    assert json_lines(collections.stdout) == [{"name": "default", "documents": 4}]
    assert re.search(r"default\s+4", run(data, "documents", "collections").stdout)


def test_documents_rm(tmp_path: Path) -> None:
    docs = write_corpus(tmp_path / "docs")
    data = tmp_path / "data"
    assert run(data, "ingest", "--no-embed", str(docs)).exit_code == 0
    documents = {
        d["file_name"]: d["id"] for d in json_lines(run(data, "documents", "list", "--json").stdout)
    }
    removed = run(data, "documents", "rm", documents["bread.md"], documents["scan.pdf"])
    assert removed.exit_code == 0, removed.output
    assert f"Removed bread.md ({documents['bread.md']})" in removed.stdout
    left = json_lines(run(data, "documents", "list", "--json").stdout)
    assert sorted(d["file_name"] for d in left) == ["lighthouse.md", "rivers.txt"]
    found = json_lines(run(data, "search", "sourdough", "--mode", "fulltext", "--json").stdout)
    assert found == []

    again = run(data, "documents", "rm", "no-such-id", documents["rivers.txt"])
    assert again.exit_code == 1
    assert "error: document 'no-such-id' does not exist" in again.output
    assert "Removed rivers.txt" in again.stdout  # the others are still removed
    assert run(data, "documents", "rm").exit_code == 2


def test_reindex_with_a_new_chunk_size(tmp_path: Path) -> None:
    docs = write_corpus(tmp_path / "docs")
    data = tmp_path / "data"
    assert run(data, "ingest", "--no-embed", str(docs)).exit_code == 0
    before = {
        d["file_name"]: d for d in json_lines(run(data, "documents", "list", "--json").stdout)
    }
    rivers = before["rivers.txt"]

    smaller = {
        **_env(data),
        "DOCCHAT_DOCUMENTS__CHUNK_TOKENS": "16",
        "DOCCHAT_DOCUMENTS__CHUNK_OVERLAP": "4",
    }
    result = runner.invoke(app, ["reindex", rivers["id"]], env=smaller)
    assert result.exit_code == 0, result.output
    after = {d["file_name"]: d for d in json_lines(run(data, "documents", "list", "--json").stdout)}
    chunks = after["rivers.txt"]["chunk_count"]
    assert chunks > rivers["chunk_count"]
    assert f"Re-indexed rivers.txt ({rivers['id']}): {chunks} chunks" in result.stdout
    # It embeds every chunk left without a vector, the other documents' too.
    assert {d["status"] for d in after.values() if d["file_name"] != "scan.pdf"} == {"indexed"}
    assert after["bread.md"]["chunk_count"] == before["bread.md"]["chunk_count"]

    failed = run(data, "reindex", before["scan.pdf"]["id"])
    assert failed.exit_code == 1
    assert "'scan.pdf' cannot be re-indexed: its original file was not kept" in failed.output
    unknown = run(data, "reindex", "no-such-id")
    assert unknown.exit_code == 1
    assert "error: document 'no-such-id' does not exist" in unknown.output


# -- eval ---------------------------------------------------------------------------------------


def test_eval_prints_metrics_per_mode_and_type(corpus: tuple[Path, Path], tmp_path: Path) -> None:
    data, _ = corpus
    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps(line) + "\n" for line in QA_LINES), encoding="utf-8")
    result = run(data, "eval", str(qa))
    assert result.exit_code == 0, result.output
    assert "3 questions, top 10 passages per search" in result.stdout
    for header in ("R@1", "R@3", "R@5", "R@10", "MRR@10", "ms"):
        assert header in result.stdout
    for word in ("all", "lexical", "paraphrase", "hybrid", "fulltext", "dense"):
        assert word in result.stdout

    as_json = run(data, "eval", str(qa), "--json", "--mode", "fulltext", "-k", "5")
    assert as_json.exit_code == 0, as_json.output
    report = json.loads(as_json.stdout)
    assert (report["k"], report["questions"]) == (5, 3)
    assert [m["mode"] for m in report["modes"]] == ["fulltext"]
    lexical = report["modes"][0]["by_type"]["lexical"]
    assert lexical["recall_at_k"] == 1.0
    assert lexical["questions"] == 2
    assert len(report["details"]) == 3
    assert {d["question"] for d in report["details"]} == {q["question"] for q in QA_LINES}


def test_eval_reports_a_bad_qa_file_clearly(corpus: tuple[Path, Path], tmp_path: Path) -> None:
    data, _ = corpus
    qa = tmp_path / "qa.jsonl"
    qa.write_text(
        json.dumps(QA_LINES[0]) + '\n{"question": "no expected sources"}\n', encoding="utf-8"
    )
    result = run(data, "eval", str(qa))
    assert result.exit_code == 1
    assert "error: qa.jsonl, line 2: expected: Field required" in result.output
    assert "Traceback" not in result.output
    missing = run(data, "eval", str(tmp_path / "nope.jsonl"))
    assert missing.exit_code == 2


def test_eval_without_indexed_documents_says_to_ingest_first(tmp_path: Path) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps(line) + "\n" for line in QA_LINES), encoding="utf-8")
    data = tmp_path / "data"
    for answers in ([], ["--answers"]):
        result = run(data, "eval", str(qa), *answers)
        assert result.exit_code == 1, result.output
        assert result.output == "error: no documents are indexed; run `docchat ingest` first\n"
    # Documents that all failed to ingest are no better than none.
    bad = tmp_path / "docs" / "broken.pdf"
    bad.parent.mkdir()
    bad.write_bytes(b"not a PDF")
    ingested = run(data, "ingest", str(bad.parent))
    assert ingested.exit_code == 0, ingested.output
    assert summary(ingested.stdout)["failed"] == 1
    failed = run(data, "eval", str(qa), "--answers", "--mode", "basic")
    assert failed.exit_code == 1
    assert "no documents are indexed" in failed.output


def test_eval_in_an_empty_collection_names_it(corpus: tuple[Path, Path], tmp_path: Path) -> None:
    data, _ = corpus
    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps(line) + "\n" for line in QA_LINES), encoding="utf-8")
    result = run(data, "eval", str(qa), "--collection", "nothing-here")
    assert result.exit_code == 1
    assert "error: no documents are indexed in collection 'nothing-here'; run `docchat ingest`" in (
        result.output
    )


ANSWER_LINES = [
    {
        "id": "fog",
        "question": "How often did the keeper sound the horn in fog?",
        "type": "lexical",
        "expected": [{"document": "lighthouse.md"}],
        "answer": ["thirty seconds"],
        "evidence": "sounded the horn every thirty seconds",
        "kind": "factoid",
        "format": "markdown",
    },
    {
        "question": "And what did he write in the logbook?",
        "type": "follow-up",
        "expected": [{"document": "lighthouse.md"}],
        "answer": ["weather"],
        "follow_up_of": "fog",
    },
    {"question": "What is the opening time of the bakery shop?", "unanswerable": True},
]
HANDBOOK_ANSWERS = Path(__file__).parent / "data" / "handbook-answers.jsonl"


def test_eval_answers_on_the_handbook(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ingested = run(data, "ingest", str(Path(__file__).parent / "data" / "handbook"))
    assert ingested.exit_code == 0, ingested.output
    result = run(data, "eval", str(HANDBOOK_ANSWERS), "--answers", "--mode", "basic")
    assert result.exit_code == 0, result.output
    assert "55 questions (43 answerable, 12 unanswerable, 9 follow-ups), 1 mode x 1 model" in (
        result.stdout
    )
    for header in (
        "keywords",
        "abstained",
        "false abst.",
        "cit. prec.",
        "fragments",
        "evid.@5",
        "ms",
        "p95 ms",
    ):
        assert header in result.stdout
    # The naive baselines are printed beside docchat's run, from the same passages.
    assert "top passage" in result.stdout and "top 3 sentences" in result.stdout
    for word in ("all", "lexical", "paraphrase", "follow-up", "unanswerable", "extractive"):
        assert word in result.stdout
    assert re.search(r"\b\d+/12\b", result.stdout)  # correct abstentions as n/N


def test_eval_answers_json(corpus: tuple[Path, Path], tmp_path: Path) -> None:
    data, _ = corpus
    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps(line) + "\n" for line in ANSWER_LINES), encoding="utf-8")
    result = run(data, "eval", str(qa), "--answers", "--mode", "basic", "--json", "-k", "3")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    first_line = ANSWER_LINES[0]
    assert (report["questions"], report["answerable"], report["unanswerable"]) == (3, 2, 1)
    assert (report["modes"], report["models"]) == (["basic"], ["extractive"])
    assert report["follow_ups"] == 1
    (run_report,) = report["runs"]
    assert set(run_report["by_type"]) == {"lexical", "follow-up", "default"}
    for key in (
        "keyword_accuracy",
        "correct_abstention",
        "false_abstention_rate",
        "citation_precision",
        "mean_latency_ms",
        "p95_latency_ms",
        "fragment_citations",
        "evidence_recall_at_5",
    ):
        assert key in run_report["overall"]
    # Rows per format and kind where the file gives them, and the two baselines beside the run.
    assert (report["formats"], report["kinds"]) == (["markdown"], ["factoid"])
    # The follow-up names no format: its document, lighthouse.md, does.
    assert run_report["by_format"]["markdown"]["questions"] == 2
    assert run_report["by_kind"]["factoid"]["questions"] == 1
    assert [b["baseline"] for b in run_report["baselines"]] == ["top_passage", "top_sentences"]
    assert run_report["overall"]["evidence_questions"] == 1
    assert len(report["baseline_details"]) == 2 * 3
    top = next(d for d in report["baseline_details"] if d["baseline"] == "top_passage")
    assert top["question"] == first_line["question"] and top["abstained"] is False
    first, second, third = report["details"]
    assert first["keywords_found"] is True, first["answer"]
    assert second["session_id"] == first["session_id"]
    assert third["unanswerable"] and third["keywords_found"] is None

    # Retrieval evaluation of the same file searches only the first question.
    retrieval = run(data, "eval", str(qa), "--mode", "fulltext")
    assert retrieval.exit_code == 0, retrieval.output
    assert "1 questions, top 10 passages per search (2 unanswerable or follow-up" in (
        retrieval.stdout
    )


def test_eval_answers_usage_errors(corpus: tuple[Path, Path], tmp_path: Path) -> None:
    data, _ = corpus
    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps(line) + "\n" for line in ANSWER_LINES), encoding="utf-8")
    search_mode = run(data, "eval", str(qa), "--answers", "--mode", "dense")
    assert search_mode.exit_code == 2
    assert "--mode dense is a search mode" in search_mode.output
    chat_mode = run(data, "eval", str(qa), "--mode", "basic")
    assert chat_mode.exit_code == 2
    assert "add --answers" in chat_mode.output
    model = run(data, "eval", str(qa), "--model", "extractive")
    assert model.exit_code == 2
    assert "--model needs --answers" in model.output
    unknown = run(data, "eval", str(qa), "--answers", "--mode", "basic", "--model", "nope")
    assert unknown.exit_code == 1
    assert "nope" in unknown.output and "Traceback" not in unknown.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "Who?", "unanswerable": true, "answer": ["x"]}\n')
    invalid = run(data, "eval", str(bad), "--answers")
    assert invalid.exit_code == 1
    assert "bad.jsonl, line 1: answer: an unanswerable question has no answer keywords" in (
        invalid.output
    )
