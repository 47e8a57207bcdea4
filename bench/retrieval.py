"""Retrieval: ingestion throughput, embedding overhead and hybrid-search latency.

Run ``python bench/retrieval.py`` (about 6 minutes on 2 busy cores) or ``--quick`` (a smoke run,
under a minute); ``--json PATH`` also writes the numbers, ``--no-pg`` skips PostgreSQL and
``--profile`` prints where the time of the largest SQLite query run goes.  Each part uses its own
temporary data directory, with default settings.

1. **Ingestion**: generated text PDFs (``_corpus.py``) through ``Ingestor.ingest_paths``: parse,
   chunk and full-text index, no embedding.  Then the same files parsed and chunked on their own,
   so the table says where the time goes.
2. **Embedding**: ``Workspace.embed_pending`` against the embedder's own ``embed`` on the same chunk
   texts in the same groups, raw right before and right after each pipeline group (so load on a
   shared machine weighs on both alike), with each side's peak RSS.  Then a sanity check that
   fact queries find their page.  (``bench/ingest_memory.py`` measures the real ``docchat ingest``.)
3. **Query latency**: ``Workspace.search(q, k=8)`` (hybrid, query embedding included) at 10k and
   100k chunks on SQLite, and (optional) 10k on PostgreSQL with pgvector.  Embedding 100k chunks
   would take most of an hour on 2 cores, so chunks are written through ``Registry.store_indexed``
   and their vectors straight into the index: each chunk's vector lies near the real embedding of a
   passage on the chunk's theme (240 themes), so neighbours are meaningful and the dense step does
   the work it does in production.

The "Targets" table at the end says PASS or FAIL; the exit code is 0 either way (this is a report).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import importlib.metadata
import os
import random
import resource
import shutil
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # before anything imports onnxruntime

import numpy as np
import sqlalchemy
from _corpus import TOPICS, Fact, PdfSpec, SyntheticCorpus, Theme, Writer, make_pdfs, themes
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
from _setup import Index, bench_settings, postgres_settings, theme_centres
from sqlalchemy import select, text

from docchat.config import RetrievalSettings, Settings
from docchat.documents.chunking import chunk
from docchat.documents.models import ChunkRow
from docchat.documents.parsers import parse
from docchat.documents.tokens import get_tokenizer
from docchat.retrieval.embedders import Embedder, Vectors, embed_query, make_embedder
from docchat.retrieval.fulltext import fulltext_search
from docchat.retrieval.fusion import Fused
from docchat.retrieval.hybrid import Hit, Scope
from docchat.retrieval.vectors import embedding_text
from docchat.textsearch import fts5_query, pg_tsquery_text
from docchat.workspace import Workspace

# -- what is measured --------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """Sizes of every part; ``QUICK`` shrinks them for a smoke run."""

    pdfs: int = 40
    pages: int = 10
    words_per_page: int = 350
    #: PDFs re-ingested under tracemalloc (it slows Python down, so not the timed run)
    traced_pdfs: int = 5
    fact_checks: int = 40
    sizes: tuple[int, ...] = (10_000, 100_000)
    chunks_per_document: int = 200
    themes: int = 240
    queries: int = 200
    pg_size: int = 10_000


FULL = Plan()
QUICK = Plan(
    pdfs=6,
    pages=4,
    traced_pdfs=2,
    fact_checks=12,
    sizes=(2_000, 10_000),
    themes=48,
    queries=60,
    pg_size=2_000,
)

TARGET_PAGES_PER_S = 50.0
TARGET_PIPELINE_VS_RAW = 0.90
#: Peak RSS of an embed_pending group above the RSS with the model loaded (issue 10).
TARGET_EMBED_WORKING_BYTES = 200_000_000
TARGET_P95_NS = 50_000_000
TARGET_P95_CHUNKS = 100_000
K = 8
CANDIDATES = max(RetrievalSettings().candidates, K)

console = report_console()


def _rss_bytes() -> int:
    """The process's resident set size now (Linux), 0 where unknown."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def _max_rss_bytes() -> int:
    # ru_maxrss is in kilobytes on Linux, in bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _reset_peak_rss() -> None:
    """Start a new peak: Linux resets VmHWM to the current RSS (elsewhere nothing happens)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_rss_bytes() -> int:
    """Peak RSS since ``_reset_peak_rss`` (VmHWM); the whole process's where that is unknown."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return _max_rss_bytes()


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f}"


class TimedEmbedder:
    """An Embedder that adds up the time spent in the wrapped one's ``embed``."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.ns = 0
        self.calls = 0

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed(self, texts: Sequence[str]) -> Vectors:
        t0 = time.perf_counter_ns()
        try:
            return self.inner.embed(texts)
        finally:
            self.ns += time.perf_counter_ns() - t0
            self.calls += 1


# -- 1. ingestion ------------------------------------------------------------------------------


def part_ingest(
    plan: Plan, root: Path, embedder: TimedEmbedder
) -> tuple[dict[str, Any], Workspace, list[PdfSpec]]:
    """Ingest the generated PDFs; returns the results and the workspace (for part 2)."""
    step(f"generating {plan.pdfs} PDFs x {plan.pages} pages")
    t0 = time.perf_counter()
    specs = make_pdfs(
        root / "pdfs", count=plan.pdfs, pages=plan.pages, words_per_page=plan.words_per_page
    )
    generated_s = time.perf_counter() - t0
    size = sum(s.path.stat().st_size for s in specs)

    ws = Workspace(bench_settings(root / "ingest"), embedder=embedder)
    # Loaded once per process in real use too; timed apart so the rate is the steady state.
    t0 = time.perf_counter()
    get_tokenizer()
    import docchat.documents.parsers.pdf  # noqa: F401  (pdfium's import, outside the timing)

    warm_s = time.perf_counter() - t0
    rss_before = _rss_bytes()
    step(f"ingesting {len(specs)} PDFs ({_mb(size)} MB)")
    t0 = time.perf_counter_ns()
    state = parts(ws).ingestor.ingest_paths([root / "pdfs"])
    elapsed = time.perf_counter_ns() - t0
    peak_rss = _max_rss_bytes()
    if state.failures:
        raise RuntimeError(f"ingestion failed: {state.failures[:3]}")

    # The same work in pieces: parse alone, then chunk alone; the rest is hashing, copying the
    # file into the data dir and the database transaction (rows + FTS5 index).
    step("parsing and chunking the same files again, stage by stage")
    limits = ws.settings.documents
    t0 = time.perf_counter_ns()
    parsed = [parse(s.path, limits) for s in specs]
    parse_ns = time.perf_counter_ns() - t0
    t0 = time.perf_counter_ns()
    for doc in parsed:
        chunk(doc, max_tokens=limits.chunk_tokens, overlap=limits.chunk_overlap)
    chunk_ns = time.perf_counter_ns() - t0
    rest_ns = max(elapsed - parse_ns - chunk_ns, 0)

    step(f"re-ingesting {plan.traced_pdfs} PDFs under tracemalloc (Python heap peak)")
    traced = Workspace(bench_settings(root / "traced"))
    tracemalloc.start()
    try:
        parts(traced).ingestor.ingest_paths([s.path for s in specs[: plan.traced_pdfs]])
        heap_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        traced.close()

    seconds = elapsed / 1e9
    res: dict[str, Any] = {
        "pdfs": len(specs),
        "pages": state.pages,
        "chunks": state.chunks,
        "bytes": state.bytes,
        "words": sum(s.words for s in specs),
        "generate_s": generated_s,
        "warmup_s": warm_s,
        "seconds": seconds,
        "pages_per_s": state.pages / seconds,
        "chunks_per_s": state.chunks / seconds,
        "mb_per_s": state.bytes / 1e6 / seconds,
        "stage_ns": {"parse": parse_ns, "chunk": chunk_ns, "store + index": rest_ns},
        "rss_before_bytes": rss_before,
        "peak_rss_bytes": peak_rss,
        "tracemalloc_peak_bytes": heap_peak,
        "tracemalloc_pdfs": plan.traced_pdfs,
    }
    console.print(
        table(
            f"1. Ingestion: {len(specs)} PDFs x {plan.pages} pages (parse + chunk + full-text "
            "index, no embedding)",
            ["measure", "value"],
            [
                [
                    "pages / chunks / words",
                    f"{state.pages:,} / {state.chunks:,} / {res['words']:,}",
                ],
                ["file bytes", f"{_mb(state.bytes)} MB"],
                ["wall time", f"{seconds:.2f} s"],
                ["pages/s", num(res["pages_per_s"], 1)],
                ["chunks/s", num(res["chunks_per_s"], 1)],
                ["MB/s", num(res["mb_per_s"], 2)],
                ["peak RSS (ru_maxrss, whole process)", f"{_mb(peak_rss)} MB"],
                ["RSS before ingesting", f"{_mb(rss_before)} MB"],
                [
                    f"Python heap peak (tracemalloc, {plan.traced_pdfs} PDFs)",
                    f"{_mb(heap_peak)} MB",
                ],
                ["tokenizer + pdfium load (before timing)", f"{warm_s * 1e3:.0f} ms"],
            ],
            caption="RSS before ingesting includes the imported libraries (onnxruntime, NumPy, "
            "SQLAlchemy).  tracemalloc sees Python objects only; pdfium and tokenizers allocate "
            "natively (in RSS).  The generated PDFs are text only (about 1.5 KB a page), so MB/s "
            "is low; pages/s is the comparable rate.",
        )
    )
    console.print(
        table(
            "1b. Where ingestion time goes (each stage run alone on the same files)",
            ["stage", "ms", "share", "pages/s if alone"],
            [
                [
                    name,
                    ms(ns),
                    f"{ns / elapsed:.0%}",
                    num(state.pages / (ns / 1e9), 0) if ns else NOT_RUN,
                ]
                for name, ns in res["stage_ns"].items()
            ],
            caption="store + index = the timed run minus parse and chunk: hashing, copying into "
            "the data dir, one transaction with the chunk rows and their FTS5 entries.",
        )
    )
    return res, ws, specs


# -- 2. embedding ------------------------------------------------------------------------------


def part_embed(
    plan: Plan, ws: Workspace, embedder: TimedEmbedder, specs: list[PdfSpec]
) -> dict[str, Any]:
    """``embed_pending`` against the raw embedder on the same texts, then a fact-query check."""
    with parts(ws).db.read() as s:
        rows = s.execute(select(ChunkRow.section, ChunkRow.text).order_by(ChunkRow.id)).all()
    texts = [embedding_text(section, body) for section, body in rows]
    inner = embedder.inner
    step("loading the embedder")
    t0 = time.perf_counter()
    load = getattr(inner, "load", None)
    if load is not None:
        load()
    # Workspace.embed_pending reads and embeds this many chunks at a time, in id order.
    group = max(ws.settings.retrieval.embed_batch_size * 4, 64)
    groups = [texts[i : i + group] for i in range(0, len(texts), group)]
    # The first full-size batches grow onnxruntime's memory arena: not part of either rate.
    inner.embed(groups[0])
    load_s = time.perf_counter() - t0
    rss_loaded = _rss_bytes()

    # The pipeline runs one group per call (its progress callback sets its stop event), and the
    # raw embedder embeds the same group right before and right after it: load from other jobs,
    # which comes in bursts of seconds, then weighs on both alike.  Each pipeline call also
    # re-reads the model record and the pending count (a few milliseconds).
    stop = threading.Event()

    def one_group(_done: int, _total: int) -> None:
        stop.set()

    raw_ns = pipe_ns = done = 0
    ratios: list[float] = []  # per group: mean raw time / pipeline time = pipeline / raw rate
    # Peak RSS of each call, the high-water mark reset before it (issue 10: 1.2 GB at 32 texts a
    # batch); read between the timed sections.
    raw_peak = pipe_peak = 0
    embedder.ns = embedder.calls = 0
    step(f"Workspace.embed_pending vs embedder.embed, {len(groups)} groups of {group} chunks")
    for batch in groups:
        _reset_peak_rss()
        t0 = time.perf_counter_ns()
        inner.embed(batch)
        t1 = time.perf_counter_ns()
        raw_peak = max(raw_peak, _peak_rss_bytes())
        _reset_peak_rss()
        stop.clear()
        t1b = time.perf_counter_ns()
        n = ws.embed_pending(progress=one_group, stop=stop)
        t2 = time.perf_counter_ns()
        pipe_peak = max(pipe_peak, _peak_rss_bytes())
        _reset_peak_rss()
        t2b = time.perf_counter_ns()
        inner.embed(batch)
        t3 = time.perf_counter_ns()
        raw_peak = max(raw_peak, _peak_rss_bytes())
        if n != len(batch):
            raise RuntimeError(f"embed_pending embedded {n} chunks, expected {len(batch)}")
        done += n
        raw_ns += (t1 - t0 + t3 - t2b) // 2
        pipe_ns += t2 - t1b
        ratios.append((t1 - t0 + t3 - t2b) / 2 / (t2 - t1b))
    model_ns = embedder.ns
    rss_after = _rss_bytes()

    raw_rate = len(texts) / (raw_ns / 1e9)
    pipe_rate = done / (pipe_ns / 1e9)
    tokens = get_tokenizer().encode_batch(texts[:200], add_special_tokens=False)
    res: dict[str, Any] = {
        "chunks": done,
        "group": group,
        "onnx_batch": ws.settings.retrieval.embed_batch_size,
        "onnx_batch_tokens": ws.settings.retrieval.embed_batch_tokens,
        "mean_word_pieces": sum(len(t.ids) for t in tokens) / max(len(tokens), 1),
        "load_s": load_s,
        "raw_ns": raw_ns,
        "raw_per_s": raw_rate,
        "pipeline_ns": pipe_ns,
        "pipeline_per_s": pipe_rate,
        "pipeline_vs_raw_total": pipe_rate / raw_rate,
        # The verdict's number: one group hit by another job's burst cannot swing a median.
        "pipeline_vs_raw": percentile(ratios, 50),
        "pipeline_vs_raw_per_group": ratios,
        "pipeline_model_ns": model_ns,
        "pipeline_other_ns": pipe_ns - model_ns,
        "threads": getattr(inner, "threads", None),
        "rss_loaded_bytes": rss_loaded,
        "raw_peak_rss_bytes": raw_peak,
        "pipeline_peak_rss_bytes": pipe_peak,
        "pipeline_working_bytes": pipe_peak - rss_loaded,
        "rss_after_bytes": rss_after,
    }

    step(f"checking {plan.fact_checks} fact queries against the ingested PDFs")
    rng = random.Random(5)
    found = top1 = 0
    checks = rng.sample(
        [(spec, page, fact) for spec in specs for page, fact in spec.facts.items()],
        min(plan.fact_checks, sum(len(s.facts) for s in specs)),
    )
    for spec, page, fact in checks:
        hits = ws.search(fact.query, k=K)
        where = [(h.file_name, h.page) for h in hits]
        found += (spec.path.name, page) in where
        top1 += bool(where) and where[0] == (spec.path.name, page)
    res["fact_hit_at_8"] = found / len(checks)
    res["fact_top1"] = top1 / len(checks)
    ws.close()

    console.print(
        table(
            f"2. Embedding {done:,} chunks ({res['mean_word_pieces']:.0f} word-pieces on "
            f"average), {inner.name}, {res['threads']} threads",
            ["how", "seconds", "chunks/s", "vs raw", "peak RSS MB"],
            [
                [
                    "raw: embedder.embed() on the same texts (mean of 2)",
                    f"{raw_ns / 1e9:.1f}",
                    num(raw_rate, 1),
                    "100%",
                    _mb(raw_peak),
                ],
                [
                    "pipeline: Workspace.embed_pending()",
                    f"{pipe_ns / 1e9:.1f}",
                    num(pipe_rate, 1),
                    f"{pipe_rate / raw_rate:.1%}",
                    _mb(pipe_peak),
                ],
                [
                    f"  median of {len(ratios)} per-group ratios",
                    "",
                    "",
                    f"{res['pipeline_vs_raw']:.1%}",
                    "",
                ],
                [
                    "  of which inside embedder.embed()",
                    f"{model_ns / 1e9:.1f}",
                    "",
                    f"{model_ns / pipe_ns:.1%} of pipeline",
                    "",
                ],
                [
                    "  of which database (read, store, mark)",
                    f"{(pipe_ns - model_ns) / 1e9:.2f}",
                    "",
                    f"{(pipe_ns - model_ns) / pipe_ns:.1%} of pipeline",
                    "",
                ],
                [
                    "model load + one warm-up group (not timed); RSS then",
                    f"{load_s:.2f}",
                    "",
                    "",
                    _mb(rss_loaded),
                ],
                ["RSS after the last group", "", "", "", _mb(rss_after)],
            ],
            caption=f"Same texts, same groups of {group} (embed_pending's read size), run as ONNX "
            f"batches of at most {res['onnx_batch']} texts (retrieval.embed_batch_size) and "
            f"{res['onnx_batch_tokens']} word-pieces (embed_batch_tokens).  Peak RSS: the "
            "highest of any group's call, the high-water mark reset before each.  Raw runs right "
            "before and right after each pipeline group; its time is the mean of the two.  "
            "'Inside embedder.embed()' is timed within the pipeline run itself, so the database "
            "share is free of machine noise.  The target uses the median ratio.",
        )
    )
    console.print(
        f"Sanity: {len(checks)} fact queries on the ingested PDFs found their page in the top "
        f"{K} {res['fact_hit_at_8']:.0%} of the time (first hit: {res['fact_top1']:.0%})."
    )
    return res


# -- 3. query latency --------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """A query, and for a fact question the code of the item it asks about."""

    text: str
    code: str | None = None


def make_queries(plan: Plan, facts: Sequence[Fact]) -> list[Query]:
    """``plan.queries`` queries: 40% fact questions, the rest topical (15% of those long)."""
    writer = Writer(seed=11)
    rng = writer.rng
    n_facts = min(len(facts), int(plan.queries * 0.4))
    out = [Query(f.query, f.code) for f in rng.sample(list(facts), n_facts)]
    while len(out) < plan.queries:
        out.append(Query(writer.topic_query(rng.choice(TOPICS))))
    rng.shuffle(out)
    return out


@dataclass
class Latency:
    """Samples of one query run, in nanoseconds, and how well full text found the facts."""

    total: list[int]
    embed: list[int]
    fulltext: list[int]
    dense: list[int]
    hits: list[int]
    matched: list[float]  # share of all chunks the full-text query matches
    fact_first: int = 0
    fact_total: int = 0


def db_size(settings: Settings) -> int:
    """Bytes the database takes: the SQLite files (WAL included), or pg_database_size."""
    url = settings.effective_database_url.get_secret_value()
    if url.startswith("sqlite"):
        base = settings.data_dir / "docchat.db"
        files = (base, Path(f"{base}-wal"), Path(f"{base}-shm"))
        return sum(p.stat().st_size for p in files if p.exists())
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
        return int(size)
    finally:
        engine.dispose()


def _match_count_sql(postgres: bool) -> str:
    if postgres:
        return "SELECT count(*) FROM chunks WHERE text_tsv @@ to_tsquery('english', :q)"
    return "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH :q"


def measure(
    index: Index, queries: Sequence[Query], profile: cProfile.Profile | None = None
) -> tuple[float, Latency]:
    """Cold first query on a fresh workspace, then every query timed whole and in pieces."""
    embedder = index.embedder
    ws = Workspace(index.settings, embedder=embedder)
    try:
        t0 = time.perf_counter_ns()
        ws.search("How is the vector cache loaded on the first search?", k=K)
        cold_ns = time.perf_counter_ns() - t0
        wanted = max(ws.settings.retrieval.candidates, K)
        lat = Latency([], [], [], [], [], [])
        clock = time.perf_counter_ns

        def whole(q: Query) -> list[Hit]:
            t0 = clock()
            hits = ws.search(q.text, k=K)
            lat.total.append(clock() - t0)
            return hits

        def pieces(q: Query) -> None:
            t0 = clock()
            vector = embed_query(embedder, q.text)
            t1 = clock()
            lexical = fulltext_search(
                parts(ws).db,
                q.text,
                k=wanted,
                postings_budget=ws.settings.retrieval.fulltext_postings_budget,
            )
            t2 = clock()
            parts(ws).vectors.search(vector, model=embedder.name, k=wanted)
            t3 = clock()
            lat.embed.append(t1 - t0)
            lat.fulltext.append(t2 - t1)
            lat.dense.append(t3 - t2)
            if q.code is not None:
                lat.fact_total += 1
                lat.fact_first += bool(lexical) and lexical[0][0] == index.fact_chunk.get(q.code)

        def assembly(q: Query, hits: list[Hit]) -> None:
            # Hit assembly for the real result's ids: chunk and document rows, snippets, models.
            fused = [Fused(h.chunk_id, h.scores) for h in hits]
            t0 = clock()
            parts(ws).retriever.hydrate(fused, query=q.text, scope=Scope())
            lat.hits.append(clock() - t0)

        if profile is not None:
            profile.enable()
        for i, q in enumerate(queries):
            # Alternate which goes first, so neither always finds the caches warmed by the other.
            if i % 2:
                pieces(q)
                hits = whole(q)
            else:
                hits = whole(q)
                pieces(q)
            assembly(q, hits)
        if profile is not None:
            profile.disable()

        # How many chunks each OR query matches: what full-text search time depends on.
        postgres = parts(ws).db.engine.dialect.name == "postgresql"
        build = pg_tsquery_text if postgres else fts5_query
        sql = text(_match_count_sql(postgres))
        with parts(ws).db.read() as s:
            for q in queries:
                match = build(q.text, mode="or")
                count = s.execute(sql, {"q": match}).scalar_one() if match else 0
                lat.matched.append(count / index.chunks)
        return cold_ns, lat
    finally:
        ws.close()


def _summary(
    label: str, index: Index, cold_ns: float, lat: Latency, build_s: float
) -> dict[str, Any]:
    p50 = {
        name: percentile(samples, 50)
        for name, samples in (
            ("embed", lat.embed),
            ("fulltext", lat.fulltext),
            ("dense", lat.dense),
            ("hits", lat.hits),
        )
    }
    total = {f"p{p}": percentile(lat.total, p) for p in (50, 95, 99)}
    return {
        "backend": label,
        "chunks": index.chunks,
        "queries": len(lat.total),
        "cold_first_query_ns": cold_ns,
        **{f"{k}_ns": v for k, v in total.items()},
        "max_ns": float(max(lat.total)),
        **{f"p50_{k}_ns": v for k, v in p50.items()},
        "p95_fulltext_ns": percentile(lat.fulltext, 95),
        # Per query (the lists are aligned), so medians of unequal pieces do not mislead.
        "p50_rest_ns": percentile(
            [
                t - sum(p)
                for t, *p in zip(
                    lat.total, lat.embed, lat.fulltext, lat.dense, lat.hits, strict=True
                )
            ],
            50,
        ),
        "matched_p50": percentile(lat.matched, 50),
        "matched_p95": percentile(lat.matched, 95),
        "fact_fulltext_first": lat.fact_first / lat.fact_total if lat.fact_total else float("nan"),
        "db_bytes": db_size(index.settings),
        "build_s": build_s,
    }


def _postgres(
    plan: Plan,
    root: Path,
    embedder: Embedder,
    all_themes: list[Theme],
    centres: Vectors,
    queries: Sequence[Query],
) -> dict[str, Any]:
    try:
        with postgres_settings(root) as settings:
            index = Index(settings, embedder, SyntheticCorpus(all_themes), centres)
            step(f"PostgreSQL: writing chunks and vectors up to {plan.pg_size:,}")
            build_s = index.grow(plan.pg_size, plan.chunks_per_document)
            step(f"PostgreSQL {plan.pg_size:,} chunks: {len(queries)} queries")
            cold_ns, lat = measure(index, queries)
            return _summary("PostgreSQL*", index, cold_ns, lat, build_s)
    except Exception as exc:  # optional: a server that cannot start is reported, not raised
        return {"skipped": f"{type(exc).__name__}: {exc}"[:300]}


def part_latency(
    plan: Plan, root: Path, embedder: Embedder, *, pg: bool, profile: bool
) -> dict[str, Any]:
    """Hybrid search latency at each size on SQLite, and at ``pg_size`` on PostgreSQL."""
    all_themes = themes(plan.themes)
    step(f"embedding {len(all_themes)} theme passages (the centres of the synthetic vectors)")
    centres = theme_centres(embedder, all_themes)
    index = Index(bench_settings(root / "latency"), embedder, SyntheticCorpus(all_themes), centres)
    runs: list[dict[str, Any]] = []
    queries: list[Query] = []
    profiler: cProfile.Profile | None = None
    for size in plan.sizes:
        step(f"SQLite: writing chunks and vectors up to {size:,}")
        build_s = index.grow(size, plan.chunks_per_document)
        if not queries:
            # Made once, from facts in the smallest index, so every size runs the same queries.
            queries = make_queries(plan, index.facts)
        if profile and size == plan.sizes[-1]:
            profiler = cProfile.Profile()
        step(f"SQLite {size:,} chunks: {len(queries)} queries")
        cold_ns, lat = measure(index, queries, profiler)
        runs.append(_summary("SQLite", index, cold_ns, lat, build_s))
    if pg:
        pg_run = _postgres(plan, root, embedder, all_themes, centres, queries)
    else:
        pg_run = {"skipped": "--no-pg"}
    if "skipped" not in pg_run:
        runs.append(pg_run)

    def row(r: dict[str, Any], keys: Sequence[str]) -> list[str]:
        return [r["backend"], f"{r['chunks']:,}", *(ms(r[k]) for k in keys)]

    caption = (
        "cold 1st: the first search of a new Workspace (loads the vector matrix; the model is "
        "already loaded).  * PostgreSQL + pgvector (HNSW) is optional."
    )
    if "skipped" in pg_run:
        caption += f"  PostgreSQL not run: {pg_run['skipped']}"

    fact_share = sum(1 for q in queries if q.code) / len(queries)
    console.print(
        table(
            f"3. Hybrid search latency: Workspace.search(q, k={K}), query embedding included, "
            f"{len(queries)} queries ({fact_share:.0%} fact questions), ms",
            ["backend", "chunks", "cold 1st", "p50", "p95", "p99", "max"],
            (row(r, ("cold_first_query_ns", "p50_ns", "p95_ns", "p99_ns", "max_ns")) for r in runs),
            caption=caption,
        )
    )
    console.print(
        table(
            "3b. Where a search's time goes (p50 ms of each piece, called directly)",
            [
                "backend",
                "chunks",
                "embed query",
                "full-text",
                "full-text p95",
                "dense",
                "hits",
                "whole - pieces",
                "chunks matched p50 / p95",
                "fact = full-text #1",
                "DB size",
                "build",
            ],
            (
                [
                    *row(
                        r,
                        (
                            "p50_embed_ns",
                            "p50_fulltext_ns",
                            "p95_fulltext_ns",
                            "p50_dense_ns",
                            "p50_hits_ns",
                            "p50_rest_ns",
                        ),
                    ),
                    f"{r['matched_p50']:.0%} / {r['matched_p95']:.0%}",
                    num(r["fact_fulltext_first"] * 100, 0, "%"),
                    f"{_mb(r['db_bytes'])} MB",
                    f"{r['build_s']:.0f} s",
                ]
                for r in runs
            ),
            caption=f"embed_query; fulltext_search and VectorIndex.search with k={CANDIDATES} "
            "(retrieval.candidates); hits = Retriever.hydrate for the result's chunks (rows, "
            "snippets, models); whole - pieces: p50 over queries of the search's time minus its "
            "pieces' (fusion, checks; negative when the pieces ran slower alone: noise).  Chunks "
            "matched: share of all chunks the OR of every query word matches, before SQLite's "
            "postings budget (retrieval.fulltext_postings_budget) leaves the commonest words "
            "out.  Build: writing chunks and vectors.",
        )
    )
    if profiler is not None:
        print_profile(
            console,
            profiler,
            f"[bold]Profile of the {plan.sizes[-1]:,}-chunk SQLite query run[/] "
            "(searches and pieces together, by cumulative time)",
            30,
        )
    return {
        "sqlite": {str(r["chunks"]): r for r in runs if r["backend"] == "SQLite"},
        "postgresql": pg_run,
    }


# -- the report --------------------------------------------------------------------------------


def targets(plan: Plan, res: dict[str, Any]) -> list[dict[str, Any]]:
    """Check docchat against its targets and print the verdicts."""
    ingest, embed = res["ingest"], res["embed"]
    largest = res["latency"]["sqlite"][str(plan.sizes[-1])]
    checks = [
        {
            "target": "parse + chunk + full-text index, PDFs (1)",
            "measured": f"{ingest['pages_per_s']:,.1f} pages/s",
            "threshold": f"≥ {TARGET_PAGES_PER_S:.0f} pages/s",
            "ok": ingest["pages_per_s"] >= TARGET_PAGES_PER_S,
        },
        {
            "target": "embedding pipeline vs raw embedder, median of groups (2)",
            "measured": f"{embed['pipeline_vs_raw']:.1%}",
            "threshold": f"≥ {TARGET_PIPELINE_VS_RAW:.0%}",
            "ok": embed["pipeline_vs_raw"] >= TARGET_PIPELINE_VS_RAW,
        },
        {
            "target": "embedding working memory: pipeline peak RSS - RSS with model loaded (2)",
            "measured": f"{_mb(embed['pipeline_working_bytes'])} MB",
            "threshold": f"≤ {_mb(TARGET_EMBED_WORKING_BYTES)} MB",
            "ok": embed["pipeline_working_bytes"] <= TARGET_EMBED_WORKING_BYTES,
        },
        {
            "target": f"hybrid search p95 at {largest['chunks']:,} chunks, SQLite (3)",
            "measured": f"{ms(largest['p95_ns'])} ms",
            "threshold": f"≤ {ms(TARGET_P95_NS)} ms",
            "ok": largest["p95_ns"] <= TARGET_P95_NS,
        },
    ]
    print_targets(
        console,
        checks,
        caption=None
        if plan == FULL
        else f"Quick run: the p95 target names {TARGET_P95_CHUNKS:,} chunks; this run is "
        "smaller, and its embedding ratio rests on one group (noise).",
    )
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a smoke run with small sizes (<60 s)")
    parser.add_argument("--json", metavar="PATH", help="also write every number to this file")
    parser.add_argument("--no-pg", action="store_true", help="skip the PostgreSQL latency row")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the largest SQLite query run"
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL

    settings = bench_settings(Path(tempfile.gettempdir()))
    retrieval = settings.retrieval
    facts = machine_facts(
        **{
            "CPUs usable": str(len(os.sched_getaffinity(0))),
            "BLAS / OpenMP threads (env)": f"{os.environ.get('OPENBLAS_NUM_THREADS', 'unset')} / "
            f"{os.environ.get('OMP_NUM_THREADS', 'unset')}",
            "docchat retrieval settings": f"embedder={retrieval.embedder}, fusion="
            f"{getattr(retrieval, 'fusion', 'rrf')}, candidates={retrieval.candidates}, "
            f"embed_batch_size={retrieval.embed_batch_size}",
            "NumPy": np.__version__,
            "onnxruntime": importlib.metadata.version("onnxruntime"),
            "pypdfium2": importlib.metadata.version("pypdfium2"),
            "SQLAlchemy": sqlalchemy.__version__,
        }
    )
    print_machine(console, facts)
    started = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="docchat-bench-retrieval-"))
    try:
        embedder = TimedEmbedder(make_embedder(settings.retrieval))
        ingest, ws, specs = part_ingest(plan, root, embedder)
        results: dict[str, Any] = {
            "machine": facts,
            "plan": asdict(plan) | {"quick": args.quick},
            "ingest": ingest,
            "embed": part_embed(plan, ws, embedder, specs),
            "latency": part_latency(
                plan, root, embedder.inner, pg=not args.no_pg, profile=args.profile
            ),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)
    results["targets"] = targets(plan, results)
    finish(console, results, started, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
