"""Peak memory and embedding rate of the real ``docchat ingest`` command on a mixed-format corpus.

Run ``python bench/ingest_memory.py`` (about 4 minutes a run on 2 cores; ``--runs N``, ``--quick``
for a tenth of the corpus).  It writes a seeded corpus of 54 files shaped like issue 10's (PDF,
DOCX, HTML, Markdown and plain text; about 4,700 chunks of prose near the chunker's 200 word-piece
limit), then for each run, in a fresh data directory (``DOCCHAT_DATA_DIR``) with default settings:

1. ``docchat ingest DIR --no-embed``: parse, chunk, full-text index;
2. ``docchat ingest DIR``: nothing left to parse, so this is the embedding of every chunk.

Each command runs under ``/usr/bin/time -v``; its "Maximum resident set size" is the peak RSS of
the whole process (imports and model included).  The embedding rate is chunks / wall time of step 2,
so it includes start-up (about 2 s): compare runs with each other, not with ``bench/embedder.py``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from _corpus import TOPICS, Writer, write_pdf
from _report import busy, machine_facts, num, report_console, table

#: (suffix, files, sections per file, paragraphs per section); PDFs: pages per file instead.
_SHAPE = (
    ("pdf", 20, 30, 0),
    ("docx", 12, 24, 5),
    ("html", 10, 24, 5),
    ("md", 8, 24, 5),
    ("txt", 4, 24, 5),
)


def _paragraphs(writer: Writer, topic_index: int, count: int) -> list[str]:
    topic = TOPICS[topic_index % len(TOPICS)]
    focus = writer.rng.sample(topic.nouns, 3)
    return [writer.paragraph(topic, writer.rng.randint(4, 7), focus) for _ in range(count)]


def make_corpus(folder: Path, *, scale: float = 1.0, seed: int = 10) -> Path:
    """Write the corpus into ``folder`` (same bytes for the same seed and scale)."""
    import docx

    folder.mkdir(parents=True, exist_ok=True)
    writer = Writer(seed)
    index = 0
    for suffix, files, sections, per_section in _SHAPE:
        for n in range(files):
            index += 1
            topic = TOPICS[index % len(TOPICS)]
            title = f"{topic.docs[n % len(topic.docs)].title()} {index} ({topic.name})"
            path = folder / f"{topic.name}-{index:02d}.{suffix}"
            parts = max(1, round(sections * scale))
            if suffix == "pdf":
                pages = []
                for page in range(1, parts + 1):
                    lines = [f"{title}, page {page}", ""]
                    for text in _paragraphs(writer, index, 4):
                        lines += [*textwrap.wrap(text, 92, break_on_hyphens=False), ""]
                    pages.append(lines[:54])  # what fits on a letter page at 10 pt
                write_pdf(path, pages, title=title)
                continue
            body = [
                (
                    f"{s}. {writer.rng.choice(topic.nouns).capitalize()}",
                    _paragraphs(writer, index, per_section),
                )
                for s in range(1, parts + 1)
            ]
            if suffix == "docx":
                document = docx.Document()
                document.add_heading(title, 0)
                for heading, paragraphs in body:
                    document.add_heading(heading, 1)
                    for text in paragraphs:
                        document.add_paragraph(text)
                document.save(str(path))
            elif suffix == "html":
                html = [f"<!doctype html><html><head><title>{title}</title></head><body>"]
                html.append(f"<h1>{title}</h1>")
                for heading, paragraphs in body:
                    html.append(f"<h2>{heading}</h2>")
                    html += [f"<p>{text}</p>" for text in paragraphs]
                html.append("</body></html>")
                path.write_text("\n".join(html), encoding="utf-8")
            elif suffix == "md":
                md = [f"# {title}", ""]
                for heading, paragraphs in body:
                    md += [f"## {heading}", "", *(p + "\n" for p in paragraphs)]
                path.write_text("\n".join(md), encoding="utf-8")
            else:
                txt = [title, ""]
                for heading, paragraphs in body:
                    txt += [heading, "", *(p + "\n" for p in paragraphs)]
                path.write_text("\n".join(txt), encoding="utf-8")
    return folder


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Run ``command`` under ``/usr/bin/time -v``: (wall seconds, peak RSS bytes, stdout)."""
    t0 = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-v", *command], env=env, capture_output=True, text=True, check=True
    )
    seconds = time.perf_counter() - t0
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    if peak is None:
        raise RuntimeError(f"no peak RSS in /usr/bin/time's output: {done.stderr[-500:]}")
    return seconds, int(peak.group(1)) * 1024, done.stdout


def _count(stdout: str, what: str) -> int:
    found = re.search(rf"^\s*{what}\s+(\d+)\s*$", stdout, re.MULTILINE)
    return int(found.group(1)) if found else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a tenth of the corpus")
    parser.add_argument("--corpus", type=Path, help="write (or reuse) the corpus here")
    args = parser.parse_args()
    if not Path("/usr/bin/time").exists():
        sys.exit("needs GNU time at /usr/bin/time (apt-get install time)")

    console = report_console()
    root = Path(tempfile.mkdtemp(prefix="docchat-ingest-memory-"))
    try:
        corpus = args.corpus or root / "corpus"
        if not corpus.exists():
            make_corpus(corpus, scale=0.1 if args.quick else 1.0)
        files = sorted(p for p in corpus.iterdir() if p.is_file())
        size = sum(p.stat().st_size for p in files)
        docchat = [str(Path(sys.executable).parent / "docchat")]
        rows = []
        rates = []
        peaks = []
        for run in range(1, args.runs + 1):
            env = dict(os.environ, DOCCHAT_DATA_DIR=str(root / f"data-{run}"))
            env.pop("DOCCHAT_DATABASE_URL", None)
            load = os.getloadavg()[0]
            parse_s, parse_rss, out = _timed([*docchat, "ingest", str(corpus), "--no-embed"], env)
            pages, chunks = _count(out, "pages"), _count(out, "chunks")
            embed_s, embed_rss, out = _timed([*docchat, "ingest", str(corpus)], env)
            embedded = _count(out, "embedded")
            rates.append(embedded / embed_s)
            peaks.append(embed_rss)
            rows.append(
                [
                    str(run),
                    f"{load:.1f}",
                    f"{parse_s:.1f}",
                    f"{parse_rss / 1e6:,.0f}",
                    f"{embedded:,} / {chunks:,} ({pages} pages)",
                    f"{embed_s:.1f}",
                    num(embedded / embed_s, 1),
                    f"{embed_rss / 1e6:,.0f}",
                ]
            )
            shutil.rmtree(root / f"data-{run}")
    finally:
        shutil.rmtree(root, ignore_errors=True)

    console.print(", ".join(f"{k}: {v}" for k, v in machine_facts().items()))
    console.print(
        f"corpus: {len(files)} files, {size / 1e6:.1f} MB" + (" (machine busy)" if busy() else "")
    )
    console.print(
        table(
            "docchat ingest: peak RSS (/usr/bin/time -v) and embedding rate, fresh data dir",
            [
                "run",
                "load avg",
                "--no-embed s",
                "--no-embed peak MB",
                "embedded / chunks",
                "embed s",
                "chunks/s",
                "embed peak MB",
            ],
            rows,
            caption=f"median: {statistics.median(rates):.1f} chunks/s, "
            f"{statistics.median(peaks) / 1e6:,.0f} MB peak RSS while embedding",
        )
    )


if __name__ == "__main__":
    main()
