"""The ``docchat`` command line, a second face of the library.

Each command reads the settings once (``_settings()``), calls the library (a ``Workspace``'s
methods) and prints with Rich.  Heavy imports (FastAPI, uvicorn, SQLAlchemy, the retrieval stack,
the parsers) happen inside the command that needs them, so ``docchat --help`` stays quick
(tests/test_imports.py).  Results go to stdout; progress bars, warnings and errors
to stderr, so ``--json`` output can be piped.  A library error (``DocchatError``) prints its
message and exits with status 1; usage errors exit with 2; a turn stopped with Ctrl-C, 130.
"""

from __future__ import annotations

import json
import signal
import sys
import textwrap
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NoReturn, cast

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from docchat.errors import DocchatError, DocumentNotFound

if TYPE_CHECKING:
    import datetime as dt
    from types import FrameType

    from sqlalchemy.exc import SQLAlchemyError

    from docchat.chat.evaluate import AnswerMetrics, AnswerReport
    from docchat.chat.types import Answer, ErrorEvent
    from docchat.config import Settings
    from docchat.documents.ingest import IngestProgress
    from docchat.options import ChatOptions
    from docchat.retrieval.evaluate import EvaluationReport
    from docchat.retrieval.hybrid import Hit
    from docchat.sessions.types import Message
    from docchat.workspace import Workspace

# Spelled out here rather than imported, so that --help does not load the retrieval stack.
Mode = Literal["hybrid", "fulltext", "dense"]
EvalMode = Literal[
    "all", "hybrid", "fulltext", "dense", "basic", "extensive", "full_reading", "deep_reflection"
]
ChatMode = Literal["basic", "extensive", "full_reading", "deep_reflection"]
ExportFormat = Literal["json", "markdown", "docx", "pdf"]

app = typer.Typer(
    name="docchat",
    help="Chat with your documents: persistent sessions, cited answers, offline by default.",
    no_args_is_help=True,
    add_completion=False,
    # Locals can hold database passwords and API keys; a traceback must not print them.
    pretty_exceptions_show_locals=False,
)
documents_app = typer.Typer(
    name="documents",
    help="List and remove ingested documents; list collections.",
    no_args_is_help=True,
)
app.add_typer(documents_app)
sessions_app = typer.Typer(
    name="sessions",
    help="List, show and export chat sessions.",
    no_args_is_help=True,
)
app.add_typer(sessions_app)
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON object per line instead of a table.")
]


def _error(message: str) -> None:
    """Print ``message`` as an error."""
    err_console.print(f"[bold red]error:[/bold red] {escape(message)}")


def _fail(message: str, code: int = 1) -> NoReturn:
    """Print ``message`` as an error and end the command with exit status ``code``."""
    _error(message)
    raise typer.Exit(code)


def _settings() -> Settings:
    """The settings, read from the environment (``DOCCHAT_*``); a bad value ends the command."""
    # Here, not at the top: building the settings classes is a good part of --help's time.
    from pydantic import ValidationError

    from docchat.config import Settings

    try:
        return Settings()
    except ValidationError as exc:
        # Values are left out: the environment may hold secrets.
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        )
        _fail(f"invalid configuration: {problems}", code=2)


def _database_label(settings: Settings) -> str:
    """The database URL with its password masked, for printing."""
    from sqlalchemy.engine import make_url

    url = settings.effective_database_url.get_secret_value()
    return make_url(url).render_as_string(hide_password=True)


def _driver_message(exc: SQLAlchemyError) -> str:
    """The first line of the database driver's own message, without statement or parameters."""
    # The driver's words ("connection refused", "password authentication failed") help the
    # operator; the statement and its parameters do not.
    lines = str(getattr(exc, "orig", None) or "").strip().splitlines()
    return lines[0] if lines else type(exc).__name__


@contextmanager
def _reported() -> Iterator[None]:
    """Library errors end the command with their message and exit status 1, not a traceback."""
    try:
        yield
    except DocchatError as exc:
        _fail(exc.message)


@contextmanager
def _workspace() -> Iterator[Workspace]:
    """The workspace of the configured database (migrated), closed when the command ends."""
    from sqlalchemy.exc import SQLAlchemyError

    from docchat.workspace import Workspace

    settings = _settings()
    label = _database_label(settings)
    try:
        with _reported():
            workspace = Workspace(settings)
    except SQLAlchemyError as exc:
        _fail(f"cannot open {label}: {_driver_message(exc)}")
    try:
        with _reported():
            yield workspace
    except SQLAlchemyError as exc:
        _fail(f"database error on {label}: {_driver_message(exc)}")
    finally:
        workspace.close()


def _progress(*, transient: bool = False) -> Progress:
    """A progress display on stderr: name, bar, done/total, details, elapsed time."""
    return Progress(
        TextColumn("{task.description:<9}"),
        BarColumn(bar_width=30),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=transient,
    )


def _print_table(table: Table) -> None:
    """Print a table on stdout, fitted to the terminal (soft wrap would stop its cells wrapping)."""
    console.print(table, soft_wrap=False)


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else 0.0


def _warn_missing_vectors(workspace: Workspace, modes: Sequence[str]) -> None:
    """Say so when chunks lack vectors: dense search cannot find them yet."""
    if "hybrid" not in modes and "dense" not in modes:
        return
    pending = workspace.chunks_without_vectors()
    if pending:
        err_console.print(
            f"[yellow]warning:[/yellow] {pending} chunks have no vector yet, so dense search "
            "misses them; `docchat ingest` without --no-embed computes them"
        )


@app.command()
def serve(
    host: Annotated[
        str | None,
        typer.Option(help="Interface to listen on. Default: DOCCHAT_SERVER__HOST or 127.0.0.1."),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            min=0, max=65535, help="Port to listen on. Default: DOCCHAT_SERVER__PORT or 8000."
        ),
    ] = None,
) -> None:
    """Run the HTTP API server (applies database migrations at start-up)."""
    import uvicorn

    from docchat.api.app import create_app

    settings = _settings()
    uvicorn.run(
        create_app(settings),
        host=host if host is not None else settings.server.host,
        port=port if port is not None else settings.server.port,
    )


@app.command()
def mcp() -> None:
    """Serve docchat's tools to an AI assistant over MCP on stdin/stdout (for a desktop client
    to start; `serve` has them at /mcp over HTTP)."""
    from docchat.mcp import build_server

    with _workspace() as workspace:
        # stdout carries the protocol: everything else this prints goes to stderr.
        build_server(workspace).run("stdio")


@app.command()
def migrate() -> None:
    """Bring the database schema up to date and print its revision."""
    from sqlalchemy.exc import SQLAlchemyError

    from docchat.db import make_engine
    from docchat.migrations import current_revision, upgrade

    settings = _settings()
    label = _database_label(settings)
    engine = make_engine(settings)
    try:
        upgrade(engine)
        revision = current_revision(engine)
    except SQLAlchemyError as exc:
        _fail(f"cannot migrate {label}: {_driver_message(exc)}")
    finally:
        engine.dispose()
    console.print(f"Database: [bold]{escape(label)}[/bold]")
    console.print(f"Revision: [green]{escape(revision or 'none')}[/green]")


# -- ingest -----------------------------------------------------------------------------------


@app.command()
def ingest(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Files and folders to ingest. Folders are walked for supported files, "
            "hidden entries skipped; a path that does not exist is reported as a failure.",
            show_default=False,
        ),
    ],
    collection: Annotated[
        str, typer.Option("--collection", "-c", help="Collection to ingest into.")
    ] = "default",
    prune: Annotated[
        bool,
        typer.Option(
            help="Remove the collection's documents whose file is no longer in a folder given."
        ),
    ] = False,
    embed: Annotated[
        bool,
        typer.Option(
            help="Compute the vectors of new chunks now. With --no-embed documents are "
            "searchable by full text only, until an ingest embeds them.",
        ),
    ] = True,
) -> None:
    """Add or update files and folders: parse, chunk, index, embed; then print a summary.

    Unchanged files are skipped. Failed files are listed with the reason; the rest go on.

    The exit status is 0 when the run completed, even with failures.
    """
    with _workspace() as workspace, _progress() as progress:
        files = progress.add_task("files", total=None, detail="scanning…")

        def on_file(state: IngestProgress) -> None:
            seconds = state.seconds
            detail = (
                f"{state.pages} pages, {state.chunks} chunks · "
                f"{_rate(state.files_done, seconds):.1f} files/s, "
                f"{_rate(state.pages, seconds):.1f} pages/s"
            )
            if state.current:
                detail += f" · {escape(Path(state.current).name)}"
            progress.update(
                files, total=state.files_total, completed=state.files_done, detail=detail
            )

        # The bar appears once there is something to embed: often there is nothing.
        chunks: list[TaskID] = []
        started: list[float] = []

        def on_embed(done: int, total: int) -> None:
            if not total:
                return
            if not chunks:
                chunks.append(progress.add_task("embedding", total=total, detail=""))
                started.append(time.perf_counter())
            rate = _rate(done, time.perf_counter() - started[0])
            progress.update(
                chunks[0], total=total, completed=done, detail=f"chunks · {rate:.0f} chunks/s"
            )

        result = workspace.ingest(
            paths,
            collection=collection,
            prune=prune,
            progress=on_file,
            embed=embed,
            embed_progress=on_embed,
        )
        seconds = time.perf_counter() - result.started

    console.print(f"Ingested into collection [bold]{escape(repr(collection))}[/bold]")
    summary = Table(show_header=False, box=box.SIMPLE)
    summary.add_column("what")
    summary.add_column("count", justify="right")
    for name, value in [
        ("added", result.added),
        ("updated", result.updated),
        ("unchanged", result.unchanged),
        ("removed", result.removed),
        ("failed", len(result.failures)),
        ("pages", result.pages),
        ("chunks", result.chunks),
        ("embedded", result.embedded),
    ]:
        summary.add_row(name, str(value), style="red" if name == "failed" and value else None)
    summary.add_row("seconds", f"{seconds:.1f}")
    _print_table(summary)
    if result.failures:
        failures = Table(title="Failures", title_justify="left", box=box.SIMPLE_HEAD)
        failures.add_column("file", style="bold")
        failures.add_column("reason")
        for failure in result.failures:
            failures.add_row(escape(failure.name), escape(failure.reason))
        _print_table(failures)


@app.command()
def reindex(
    document_id: Annotated[
        str,
        typer.Argument(
            help="Id of the document (see `docchat documents list`).", show_default=False
        ),
    ],
) -> None:
    """Parse a document's stored original again with the current settings (parser, chunk size),
    replace its passages and compute their vectors.

    Documents with the same bytes share the passages and are re-indexed with it. A failed
    document can be re-indexed when its original is stored. Ctrl-C cancels.
    """
    with _workspace() as workspace, _progress() as progress:
        task = workspace.reindex(document_id)
        bar = progress.add_task("reindex", total=None, detail="parsing…")
        try:
            while task.finished_at is None:
                task = workspace.wait_for_task(task.id, timeout=0.2)
                embedding = task.current == "embedding"
                progress.update(
                    bar,
                    total=task.total or None,
                    completed=task.processed,
                    detail="chunks embedded" if embedding else "parsing…",
                )
        except KeyboardInterrupt:
            # The task runs in this process; close() would wait for it to finish.
            workspace.cancel_task(task.id)
            _fail("cancelled", code=130)
        info = workspace.document(document_id)
    if task.status != "succeeded":
        reasons = "; ".join(str(e.get("message", e)) for e in task.errors if isinstance(e, dict))
        _fail(f"re-indexing {info.file_name!r} {task.status}" + (f": {reasons}" if reasons else ""))
    result = task.result
    others = len(result["documents"]) - 1
    shared = f" (and {others} more with the same bytes)" if others > 0 else ""
    console.print(
        f"Re-indexed {escape(info.file_name)} ({info.id}){shared}: "
        f"{result['chunks']} chunks, {result['embedded']} embedded"
    )


# -- search -----------------------------------------------------------------------------------


def _scores(hit: Hit) -> str:
    s = hit.scores
    parts = [
        f"fused {s.fused:.4f}" if s.fused is not None else None,
        f"full-text {s.fulltext:.3g} #{s.fulltext_rank}" if s.fulltext is not None else None,
        f"dense {s.dense:.3f} #{s.dense_rank}" if s.dense is not None else None,
        f"rerank {s.rerank:.3f}" if s.rerank is not None else None,
    ]
    return "\n".join(p for p in parts if p)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for, in your own words.")],
    k: Annotated[
        int | None,
        typer.Option(
            "--k",
            "-k",
            min=1,
            max=200,
            help="Passages to return. Default: DOCCHAT_RETRIEVAL__NUM_RESULTS or 8.",
        ),
    ] = None,
    collection: Annotated[
        list[str] | None,
        typer.Option("--collection", "-c", help="Search only this collection (repeatable)."),
    ] = None,
    document: Annotated[
        list[str] | None,
        typer.Option("--document", "-d", help="Search only this document id (repeatable)."),
    ] = None,
    glob: Annotated[
        list[str] | None,
        typer.Option(
            "--glob",
            "-g",
            help="Search only files whose name matches this shell pattern, e.g. '*.pdf' "
            "(repeatable).",
        ),
    ] = None,
    keyword: Annotated[
        list[str] | None,
        typer.Option("--keyword", help="A word every passage must contain (repeatable)."),
    ] = None,
    mode: Annotated[
        Mode,
        typer.Option(
            help="hybrid: full-text and vector results fused; fulltext: keyword index only; "
            "dense: vectors only."
        ),
    ] = "hybrid",
    rerank: Annotated[
        bool | None,
        typer.Option(
            "--rerank/--no-rerank",
            help="Rerank with the configured reranker. "
            "Default: DOCCHAT_RETRIEVAL__ENABLE_RERANKING.",
            show_default=False,
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Find the passages that best match QUERY, with file, page, section and scores."""
    from docchat.options import SourceFilters

    filters = SourceFilters(
        collections=collection or [], documents=document or [], file_globs=glob or []
    )
    with _workspace() as workspace:
        _warn_missing_vectors(workspace, [mode])
        hits = workspace.search(
            query,
            k=k,
            filters=filters,
            manual_keywords=keyword or [],
            rerank=rerank,
            mode=mode,
        )
    if json_output:
        for hit in hits:
            typer.echo(json.dumps(hit.model_dump(mode="json"), ensure_ascii=False))
        return
    if not hits:
        err_console.print("No passages found.")
        return
    table = Table(box=box.SIMPLE_HEAD, show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("file", style="bold", overflow="fold")
    table.add_column("page", justify="right")
    table.add_column("section", overflow="fold")
    table.add_column("snippet", ratio=1)
    table.add_column("scores", no_wrap=True)
    for hit in hits:
        table.add_row(
            str(hit.rank),
            escape(hit.file_name),
            str(hit.page) if hit.page is not None else "",
            escape(hit.section or ""),
            escape(" ".join(hit.snippet.split())),
            _scores(hit),
        )
    _print_table(table)


# -- documents --------------------------------------------------------------------------------


@documents_app.command("list")
def documents_list(
    collection: Annotated[
        str | None, typer.Option("--collection", "-c", help="Only documents of this collection.")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """List documents, newest first, with their id, status and size."""
    from docchat.documents.parsers import format_size

    with _workspace() as workspace:
        documents = workspace.documents(collection=collection)
    if json_output:
        for info in documents:
            typer.echo(json.dumps(info.model_dump(mode="json"), ensure_ascii=False))
        return
    if not documents:
        err_console.print("No documents.")
        return
    table = Table(box=box.SIMPLE_HEAD)
    # Ids stay whole, to be copied for `documents rm`; the rest wraps to fit the terminal.
    table.add_column("id", no_wrap=True)
    table.add_column("file", overflow="fold")
    table.add_column("status", overflow="fold")
    table.add_column("size", justify="right")
    for info in documents:
        status = info.status
        if info.status == "failed":
            status = f"[red]failed[/red]: {escape(info.error or '')}"
        size = format_size(info.size)
        if info.page_count is not None:
            size += f"\n{info.page_count} {'page' if info.page_count == 1 else 'pages'}"
        table.add_row(
            info.id,
            f"[bold]{escape(info.file_name)}[/bold]\n[dim]{escape(info.collection)}[/dim]",
            status,
            size,
        )
    _print_table(table)


@documents_app.command("rm")
def documents_rm(
    ids: Annotated[
        list[str],
        typer.Argument(
            help="Ids of the documents to remove (see `docchat documents list`).",
            show_default=False,
        ),
    ],
) -> None:
    """Remove documents with their chunks, vectors and stored files (when no longer shared)."""
    missing = 0
    with _workspace() as workspace:
        for document_id in ids:
            try:
                info = workspace.delete_document(document_id)
            except DocumentNotFound as exc:
                _error(exc.message)
                missing += 1
                continue
            console.print(f"Removed {escape(info.file_name)} ({info.id})")
    if missing:
        raise typer.Exit(1)


@documents_app.command("collections")
def documents_collections(json_output: JsonOption = False) -> None:
    """List collections with their number of documents."""
    with _workspace() as workspace:
        collections = workspace.collections()
    if json_output:
        for c in collections:
            typer.echo(json.dumps({"name": c.name, "documents": c.documents}))
        return
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("collection", style="bold")
    table.add_column("documents", justify="right")
    for c in collections:
        table.add_row(escape(c.name), str(c.documents))
    _print_table(table)


# -- eval -------------------------------------------------------------------------------------


def _eval_table(report: EvaluationReport) -> Table:
    """Rows: question type x mode; the best mode per metric and type in bold green."""
    from docchat.retrieval.evaluate import CUTOFFS, Metric

    k = report.k
    # Cutoffs above k are not measured; recall@k is shown once when k is one of them.
    columns: list[tuple[str, Metric]] = [
        (f"R@{n}", cast("Metric", f"recall_at_{n}")) for n in CUTOFFS if n <= k
    ]
    if k not in CUTOFFS:
        columns.append((f"R@{k}", "recall_at_k"))
    columns += [(f"MRR@{k}", "mrr_at_k"), ("ms", "mean_latency_ms")]
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("type", style="bold")
    table.add_column("mode")
    table.add_column("n", justify="right")
    for header, _ in columns:
        table.add_column(header, justify="right")
    compare = len(report.modes) > 1
    groups: list[str | None] = [None]
    if report.types != ["default"]:
        groups += report.types
    for question_type in groups:
        for position, mode_report in enumerate(report.modes):
            metrics = report.metrics(mode_report.mode, question_type)
            cells = []
            for _, name in columns:
                value = getattr(metrics, name)
                text = f"{value:.1f}" if name == "mean_latency_ms" else f"{value:.3f}"
                if compare and mode_report.mode in report.best_modes(name, question_type):
                    text = f"[bold green]{text}[/bold green]"
                cells.append(text)
            label = "all" if question_type is None else escape(question_type)
            table.add_row(
                label if position == 0 else "",
                mode_report.mode,
                str(metrics.questions),
                *cells,
                end_section=position == len(report.modes) - 1,
            )
    return table


def _answer_cell(metrics: AnswerMetrics, name: str) -> tuple[str, float | None]:
    """A metric's text and its value for comparison (higher is better, latency negated)."""
    if name == "correct_abstention":
        value = metrics.correct_abstention
        text = (
            f"{metrics.correct_abstentions}/{metrics.unanswerable}" if metrics.unanswerable else ""
        )
        return text, value
    value = getattr(metrics, name)
    if value is None:
        return "", None
    if name.endswith("latency_ms"):
        return f"{value:.0f}", -value
    if name == "false_abstention_rate":
        return f"{value:.3f}", -value
    return f"{value:.3f}", value


#: (header, AnswerMetrics field) of the answer table.
_ANSWER_COLUMNS = [
    ("keywords", "keyword_accuracy"),
    ("abstained", "correct_abstention"),
    ("false abst.", "false_abstention_rate"),
    ("cit. prec.", "citation_precision"),
    ("ms", "mean_latency_ms"),
    ("p95 ms", "p95_latency_ms"),
]


def _answer_table(report: AnswerReport) -> Table:
    """Rows: question type x mode x model; the best run per metric and type in bold green."""
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("type", style="bold")
    table.add_column("mode")
    table.add_column("model", overflow="fold")
    table.add_column("n", justify="right")
    for header, _ in _ANSWER_COLUMNS:
        table.add_column(header, justify="right")
    compare = len(report.runs) > 1
    groups: list[str | None] = [None]
    if report.types != ["default"]:
        groups += report.types
    for question_type in groups:
        rows = [(run, report.metrics(run.mode, run.model, question_type)) for run in report.runs]
        best: dict[str, float] = {}
        for _, name in _ANSWER_COLUMNS:
            values = [v for _, m in rows if (v := _answer_cell(m, name)[1]) is not None]
            if values:
                best[name] = max(values)
        for position, (run, metrics) in enumerate(rows):
            cells = []
            for _, name in _ANSWER_COLUMNS:
                text, value = _answer_cell(metrics, name)
                if compare and value is not None and value == best.get(name):
                    text = f"[bold green]{text}[/bold green]"
                cells.append(text)
            label = "all" if question_type is None else escape(question_type)
            table.add_row(
                label if position == 0 else "",
                run.mode,
                escape(run.model),
                str(metrics.questions),
                *cells,
                end_section=position == len(rows) - 1,
            )
    return table


def _eval_answers(
    qa_file: Path,
    *,
    k: int | None,
    mode: EvalMode,
    models: list[str],
    collection: list[str] | None,
    json_output: bool,
) -> None:
    """``eval --answers``: ask every question, score the answers, print the report."""
    from docchat.chat.evaluate import CHAT_MODES, evaluate_answers
    from docchat.options import ChatOptions, SourceFilters
    from docchat.retrieval.evaluate import load_qa

    if mode != "all" and mode not in CHAT_MODES:
        _fail(
            f"--mode {mode} is a search mode; with --answers use one of " + ", ".join(CHAT_MODES),
            code=2,
        )
    with _reported():
        questions = load_qa(qa_file)
    modes: tuple[ChatMode, ...] = CHAT_MODES if mode == "all" else (mode,)
    options = None
    if k is not None or collection:
        options = ChatOptions(
            num_results=k,
            source_filters=SourceFilters(collections=collection) if collection else None,
        )
    with _workspace() as workspace, _progress(transient=True) as progress:
        names = models or [workspace.settings.llm.default_model]
        _warn_missing_vectors(workspace, ["hybrid"])
        task = progress.add_task(
            "answers", total=len(questions) * len(modes) * len(names), detail=""
        )

        def ask_within(
            question: str,
            *,
            session_id: str | None = None,
            mode: ChatMode | None = None,
            model: str | None = None,
        ) -> Answer:
            return workspace.ask(
                question, session_id=session_id, mode=mode, model=model, options=options
            )

        def on_answer(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        report = evaluate_answers(
            ask_within,
            workspace.document_text,
            questions,
            modes=modes,
            models=names,
            progress=on_answer,
        )
    if json_output:
        typer.echo(report.model_dump_json())
        return
    console.print(
        f"{report.questions} questions ({report.answerable} answerable, "
        f"{report.unanswerable} unanswerable, {report.follow_ups} follow-ups), "
        f"{len(report.modes)} {'mode' if len(report.modes) == 1 else 'modes'} x "
        f"{len(report.models)} {'model' if len(report.models) == 1 else 'models'}"
    )
    _print_table(_answer_table(report))
    console.print(
        "keywords: answers holding every expected keyword; abstained: unanswerable questions "
        "that abstained; false abst.: answerable ones that did; cit. prec.: references whose "
        "quote is the cited span, in an expected document."
    )
    if len(report.runs) > 1:
        console.print("[bold green]Bold green[/bold green]: the best run for that metric and type.")
    failed = sum(1 for d in report.details if d.error is not None)
    if failed:
        err_console.print(
            f"[yellow]warning:[/yellow] {failed} answers failed and count as wrong "
            "(--json shows each error)"
        )


@app.command("eval")
def eval_command(
    qa_file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            help="JSON Lines: one question a line with its expected sources and, for --answers, "
            "its expected answer keywords or unanswerable: true (see README).",
            show_default=False,
        ),
    ],
    answers: Annotated[
        bool,
        typer.Option(
            "--answers",
            help="Evaluate answers instead of retrieval: ask every question in each chat mode "
            "with each model; report keyword accuracy, correct and false abstention, citation "
            "precision and latency. Stores a session per question: use an evaluation database.",
        ),
    ] = False,
    k: Annotated[
        int | None,
        typer.Option(
            "--k",
            "-k",
            min=1,
            max=200,
            help="Passages retrieved per question: recall@k and MRR@k (default 10); with "
            "--answers the passages an answer draws on (default "
            "DOCCHAT_RETRIEVAL__NUM_RESULTS).",
            show_default=False,
        ),
    ] = None,
    mode: Annotated[
        EvalMode,
        typer.Option(
            help="Search mode (hybrid, fulltext, dense) to evaluate, or all three side by side; "
            "with --answers a chat mode (basic, extensive, full_reading, deep_reflection) or all "
            "four."
        ),
    ] = "all",
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            help="With --answers: a model to answer with, by name (repeatable; see `docchat "
            "models`). Default: DOCCHAT_LLM__DEFAULT_MODEL (extractive).",
            show_default=False,
        ),
    ] = None,
    collection: Annotated[
        list[str] | None,
        typer.Option("--collection", "-c", help="Search only this collection (repeatable)."),
    ] = None,
    rerank: Annotated[
        bool | None,
        typer.Option(
            "--rerank/--no-rerank",
            help="Retrieval: also run hybrid search reranked (hybrid+rerank). Default: when a "
            "reranker is configured (the offline one is, with the MiniLM embedder) and all modes "
            "are evaluated.",
            show_default=False,
        ),
    ] = None,
    json_output: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the report, each question's rank (or answer) included, as one JSON object.",
        ),
    ] = False,
) -> None:
    """Measure retrieval (recall@1/3/5/k, MRR@k, latency) or, with --answers, answers (keyword
    accuracy, abstention, citation precision, latency) on questions with known answers."""
    if answers:
        _eval_answers(
            qa_file,
            k=k,
            mode=mode,
            models=model or [],
            collection=collection,
            json_output=json_output,
        )
        return
    if model:
        _fail("--model needs --answers: retrieval evaluation asks no model", code=2)
    from docchat.options import SourceFilters
    from docchat.retrieval.evaluate import RERANKED, SEARCH_MODES, EvalRun, evaluate, load_qa
    from docchat.retrieval.hybrid import SearchMode

    if mode != "all" and mode not in SEARCH_MODES:
        _fail(f"--mode {mode} is a chat mode: add --answers to evaluate answers", code=2)
    with _reported():
        questions = load_qa(qa_file)
    modes: tuple[EvalRun, ...] = SEARCH_MODES if mode == "all" else (mode,)
    filters = SourceFilters(collections=collection or [])
    k = 10 if k is None else k
    with _workspace() as workspace, _progress(transient=True) as progress:
        has_reranker = workspace.retriever.reranker is not None
        if rerank and not has_reranker:
            _fail("--rerank: no reranker is configured (see DOCCHAT_RETRIEVAL__RERANK_URL)")
        if rerank or (rerank is None and mode == "all" and has_reranker):
            modes = (*modes, RERANKED)
        _warn_missing_vectors(workspace, modes)
        task = progress.add_task("searches", total=len(questions) * len(modes), detail="")

        def search_within(
            query: str, *, k: int | None = None, mode: SearchMode = "hybrid", rerank: bool = False
        ) -> list[Hit]:
            return workspace.search(query, k=k, mode=mode, filters=filters, rerank=rerank)

        def on_search(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        report = evaluate(search_within, questions, k=k, modes=modes, progress=on_search)
    if json_output:
        typer.echo(report.model_dump_json())
        return
    skipped = (
        f" ({report.skipped} unanswerable or follow-up questions not searched)"
        if report.skipped
        else ""
    )
    console.print(f"{report.questions} questions, top {report.k} passages per search{skipped}")
    _print_table(_eval_table(report))
    if len(modes) > 1:
        console.print(
            "[bold green]Bold green[/bold green]: the best mode for that metric and type."
        )


# -- ask and chat -----------------------------------------------------------------------------

SessionOption = Annotated[
    str | None,
    typer.Option(
        "--session",
        "-s",
        help="Ask in this chat session (see `docchat sessions list`). Default: a new session.",
        show_default=False,
    ),
]
ChatModeOption = Annotated[
    ChatMode | None,
    typer.Option(
        "--mode",
        "-m",
        help="basic: search, then answer; extensive: search with query variants too; "
        "full_reading: read every matching document; deep_reflection: critique the answer and "
        "search again. Default: the session's mode, else DOCCHAT_CHAT__MODE (basic).",
        show_default=False,
    ),
]
ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="The model that answers, by name (see `docchat models`). Default: the session's "
        "model, else DOCCHAT_LLM__DEFAULT_MODEL (extractive).",
        show_default=False,
    ),
]
AnswerCollectionOption = Annotated[
    list[str] | None,
    typer.Option("--collection", "-c", help="Answer only from this collection (repeatable)."),
]
AnswerDocumentOption = Annotated[
    list[str] | None,
    typer.Option("--document", "-d", help="Answer only from this document id (repeatable)."),
]
AnswerGlobOption = Annotated[
    list[str] | None,
    typer.Option(
        "--glob",
        "-g",
        help="Answer only from files whose name matches this shell pattern, e.g. '*.pdf' "
        "(repeatable).",
    ),
]
AnswerKeywordOption = Annotated[
    list[str] | None,
    typer.Option("--keyword", help="A term forced into the full-text search (repeatable)."),
]
NumResultsOption = Annotated[
    int | None,
    typer.Option(
        "--num-results",
        "-k",
        min=1,
        max=200,
        help="Passages retrieved. Default: the session's, else DOCCHAT_RETRIEVAL__NUM_RESULTS.",
        show_default=False,
    ),
]
LanguageOption = Annotated[
    str | None,
    typer.Option(
        "--language",
        help="Answer in this language, e.g. 'Dutch' or 'fr' (models that write; the extractive "
        "answerer quotes).",
        show_default=False,
    ),
]
InstructionsOption = Annotated[
    str | None,
    typer.Option(
        "--instructions",
        help="Extra instructions for the model, e.g. 'Answer in one sentence.'",
        show_default=False,
    ),
]

# ChatOptions' fields as the command line spells them, for error messages.
_OPTION_FLAGS = {
    "num_results": "--num-results",
    "manual_keywords": "--keyword",
    "custom_instructions": "--instructions",
    "output_language": "--language",
    "collections": "--collection",
    "documents": "--document",
    "file_globs": "--glob",
}
#: Characters of a quote or passage shown in a table cell.
QUOTE_CHARS = 160


def _chat_options(
    *,
    collection: list[str] | None,
    document: list[str] | None,
    glob: list[str] | None,
    keyword: list[str] | None,
    num_results: int | None,
    language: str | None,
    instructions: str | None,
) -> ChatOptions | None:
    """The answer options given on the command line; None when none was, so that the session's
    settings (or the configured defaults) apply.  A value out of range is a usage error."""
    from pydantic import ValidationError

    from docchat.options import ChatOptions, SourceFilters

    try:
        values: dict[str, Any] = {}
        if collection or document or glob:
            values["source_filters"] = SourceFilters(
                collections=collection or [], documents=document or [], file_globs=glob or []
            )
        if keyword:
            values["manual_keywords"] = keyword
        if num_results is not None:
            values["num_results"] = num_results
        if language is not None:
            values["output_language"] = language
        if instructions is not None:
            values["custom_instructions"] = instructions
        return ChatOptions(**values) if values else None
    except ValidationError as exc:
        problems = "; ".join(
            f"{next((_OPTION_FLAGS[p] for p in e['loc'] if p in _OPTION_FLAGS), 'option')}: "
            f"{e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        )
        _fail(f"invalid option: {problems}", code=2)


@dataclass(frozen=True)
class _TurnRequest:
    """What every turn of an ``ask`` or a ``chat`` asks for besides the question."""

    mode: ChatMode | None
    model: str | None
    options: ChatOptions | None


@dataclass
class _TurnOutcome:
    """How a turn ended: the stored answer (None only if a second Ctrl-C cut it short), the error
    that failed it, and whether Ctrl-C stopped it."""

    answer: Answer | None = None
    error: ErrorEvent | None = None
    stopped: bool = False


@contextmanager
def _ctrl_c_sets(cancel: threading.Event) -> Iterator[None]:
    """While the block runs, Ctrl-C sets ``cancel`` rather than raising; a second one raises.

    A KeyboardInterrupt raised inside the turn's generator would end it before it stored its
    partial answer; with the flag the turn stops at its next step (the next piece of the reply)
    and stores what it has, marked cancelled.  The second Ctrl-C is for a model that sends
    nothing.  Signal handlers can only be set from the main thread; elsewhere the caller's
    ``except KeyboardInterrupt`` is all there is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def on_interrupt(signum: int, frame: FrameType | None) -> None:  # noqa: ARG001 (signature)
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        err_console.print("\n[yellow]stopping…[/yellow] [dim](Ctrl-C again to quit now)[/dim]")

    signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


def _run_turn(
    workspace: Workspace,
    question: str,
    *,
    session_id: str | None,
    request: _TurnRequest,
    stream: bool,
) -> _TurnOutcome:
    """Ask ``question``, writing the answer to stdout as it arrives when ``stream`` and the status
    of long modes to stderr.  Errors before the turn starts (unknown session, empty question)
    are raised; a failure after it started is in the outcome, the turn stored."""
    from docchat.chat.types import DoneEvent, ErrorEvent, ProgressEvent, TokenEvent

    cancel = threading.Event()
    outcome = _TurnOutcome()
    events = workspace.ask_stream(
        question,
        session_id=session_id,
        mode=request.mode,
        model=request.model,
        options=request.options,
        cancel=cancel,
    )
    at_line_start = True
    try:
        with _ctrl_c_sets(cancel):
            for event in events:
                if isinstance(event, TokenEvent):
                    if stream and event.text:
                        typer.echo(event.text, nl=False)
                        at_line_start = event.text.endswith("\n")
                elif isinstance(event, ProgressEvent):
                    counts = f" ({event.done}/{event.total})" if event.total else ""
                    if not at_line_start:
                        typer.echo()
                        at_line_start = True
                    err_console.print(f"[dim]… {escape(event.status)}{counts}[/dim]")
                elif isinstance(event, DoneEvent):
                    outcome.answer = event.answer
                elif isinstance(event, ErrorEvent):
                    outcome.error = event
                    outcome.answer = event.answer
    except KeyboardInterrupt:
        # A second Ctrl-C, or one outside the main thread: a turn paused between two events
        # stores what it had as it closes; one interrupted inside keeps only the question.
        cancel.set()
        close = getattr(events, "close", None)  # a generator, typed as an iterator
        if close is not None:
            close()
    if stream and not at_line_start:
        typer.echo()
    outcome.stopped = cancel.is_set()
    return outcome


def _shorten(text: str, width: int = QUOTE_CHARS) -> str:
    """``text`` on one line, cut at a word boundary to at most ``width`` characters."""
    return textwrap.shorten(" ".join(text.split()), width=width, placeholder=" …")


def _references_table(references: Sequence[Mapping[str, Any]], *, title: str) -> Table:
    """Citations (or the closest passages of an abstention) as rows: n, file, page, section, quote.

    Takes them as dicts, as stored messages hold them (older files' references are free-form).
    """
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("#", justify="right")
    table.add_column("file", style="bold", overflow="fold")
    table.add_column("page", justify="right")
    table.add_column("section", overflow="fold")
    table.add_column("quote", ratio=1)
    for position, ref in enumerate(references, 1):
        source = ref.get("file_name") or ref.get("title") or ref.get("url") or ""
        page = ref.get("page")
        quote = ref.get("quote") or ref.get("snippet") or ""
        table.add_row(
            str(ref.get("n", position)),
            escape(str(source)),
            str(page) if page is not None else "",
            escape(str(ref.get("section") or "")),
            escape(_shorten(str(quote))),
        )
    return table


def _stored_references(references: Sequence[Any] | None) -> list[Mapping[str, Any]]:
    """A message's references as dicts; a free-form one (older files) as its text."""
    return [
        ref if isinstance(ref, Mapping) else {"quote": json.dumps(ref, ensure_ascii=False)}
        for ref in references or []
    ]


def _turn_line(answer: Answer, *, failed: bool = False) -> str:
    """The turn's summary: session, mode, model, abstained, and how it ended if not well."""
    meta = answer.metadata
    parts = [
        f"session: {answer.session_id}",
        f"mode: {meta.get('mode', '?')}",
        f"model: {meta.get('model', '?')}",
        f"abstained: {'yes' if meta.get('abstained') else 'no'}",
    ]
    if meta.get("cancelled"):
        parts.append("stopped")
    if failed:
        parts.append("failed")
    return escape(" · ".join(parts))


def _show_turn(outcome: _TurnOutcome) -> None:
    """After the streamed text: the references (or the closest passages of an abstention), the
    summary line, and how a failed or stopped turn was stored."""
    answer = outcome.answer
    if answer is not None:
        if answer.metadata.get("abstained"):
            console.print(
                "[bold yellow]Abstained:[/bold yellow] your documents do not answer this."
            )
            closest = answer.metadata.get("closest") or []
            if closest:
                _print_table(_references_table(closest, title="Closest passages (not cited)"))
        elif answer.references:
            references = [r.model_dump() for r in answer.references]
            _print_table(_references_table(references, title="References"))
        console.print(_turn_line(answer, failed=outcome.error is not None), style="dim")
    _report_ending(outcome)


def _report_ending(outcome: _TurnOutcome) -> None:
    """On stderr: the error of a failed turn, or that Ctrl-C stopped it, and what was stored."""
    answer = outcome.answer
    if outcome.error is not None:
        _error(outcome.error.message)
        if answer is not None:
            err_console.print(
                f"The question and the failed turn are stored in session {answer.session_id}."
            )
    elif outcome.stopped and answer is not None:
        err_console.print(
            f"[yellow]Stopped:[/yellow] the partial answer is stored in session "
            f"{answer.session_id}."
        )
    elif outcome.stopped:  # a second Ctrl-C cut the turn short
        err_console.print(
            "[yellow]Interrupted:[/yellow] the question is stored; the answer may not be."
        )


@app.command()
def ask(
    question: Annotated[
        str, typer.Argument(help="Your question, in your own words.", show_default=False)
    ],
    session: SessionOption = None,
    mode: ChatModeOption = None,
    model: ModelOption = None,
    collection: AnswerCollectionOption = None,
    document: AnswerDocumentOption = None,
    glob: AnswerGlobOption = None,
    keyword: AnswerKeywordOption = None,
    num_results: NumResultsOption = None,
    language: LanguageOption = None,
    instructions: InstructionsOption = None,
    json_output: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the stored answer as one JSON object (answer, references, metadata, "
            "session_id, user_message_id, assistant_message_id) instead of streaming it.",
        ),
    ] = False,
) -> None:
    """Answer QUESTION from your documents: the answer as it is written, then its references.

    Both messages are stored in the session (a new one unless --session is given); the last line
    names it, for a follow-up with --session.  Long modes print their progress to stderr.

    Ctrl-C stops the answer and stores what was written (exit status 130).  A model failure
    prints the error and exits with 1; the question and the failed turn stay stored.
    """
    request = _TurnRequest(
        mode=mode,
        model=model,
        options=_chat_options(
            collection=collection,
            document=document,
            glob=glob,
            keyword=keyword,
            num_results=num_results,
            language=language,
            instructions=instructions,
        ),
    )
    with _workspace() as workspace:
        outcome = _run_turn(
            workspace, question, session_id=session, request=request, stream=not json_output
        )
    if json_output:
        if outcome.answer is not None:
            typer.echo(json.dumps(outcome.answer.model_dump(mode="json"), ensure_ascii=False))
        _report_ending(outcome)
    else:
        _show_turn(outcome)
    if outcome.error is not None:
        raise typer.Exit(1)
    if outcome.stopped:
        raise typer.Exit(130)


CHAT_HELP = "Ask a question and press Enter. /new starts a new session; /exit or Ctrl-D ends."


@app.command()
def chat(
    session: SessionOption = None,
    mode: ChatModeOption = None,
    model: ModelOption = None,
    collection: AnswerCollectionOption = None,
    document: AnswerDocumentOption = None,
    glob: AnswerGlobOption = None,
    keyword: AnswerKeywordOption = None,
    num_results: NumResultsOption = None,
    language: LanguageOption = None,
    instructions: InstructionsOption = None,
) -> None:
    """Chat with your documents: question after question in one session, answers streamed.

    The session is created with the first question unless --session is given.  Type /new to
    start a new session, /exit (or Ctrl-D) to end.  Ctrl-C stops an answer, keeping what was
    written; at the prompt it ends the chat (exit status 130).
    """
    from rich.prompt import Prompt

    request = _TurnRequest(
        mode=mode,
        model=model,
        options=_chat_options(
            collection=collection,
            document=document,
            glob=glob,
            keyword=keyword,
            num_results=num_results,
            language=language,
            instructions=instructions,
        ),
    )
    with _workspace() as workspace:
        # Checked before the first question rather than failing every one of them.
        if model is not None:
            names = [m.name for m in workspace.models()]
            if model not in names:
                _fail(f"model {model!r} is not one of: {', '.join(names)}")
        session_id = session
        if session_id is not None:
            current = workspace.session(session_id)
            err_console.print(
                f"Session [bold]{escape(current.title)}[/bold] ({escape(current.id)}), "
                f"{current.message_count} messages so far."
            )
        err_console.print(f"[dim]{CHAT_HELP}[/dim]")
        while True:
            try:
                line = Prompt.ask("[bold green]you[/bold green]", console=console)
            except EOFError:
                console.print()
                break
            except KeyboardInterrupt:
                console.print()
                raise typer.Exit(130) from None
            if not sys.stdin.isatty():  # piped questions: show them, as a terminal would
                console.print(line, markup=False, highlight=False)
            text = line.strip()
            if not text:
                continue
            if text in ("/exit", "/quit"):
                break
            if text == "/new":
                session_id = None
                err_console.print("[dim]A new session starts with your next question.[/dim]")
                continue
            try:
                outcome = _run_turn(
                    workspace, text, session_id=session_id, request=request, stream=True
                )
            except DocchatError as exc:  # the question was refused (too long, say): ask again
                _error(exc.message)
                continue
            _show_turn(outcome)
            if outcome.answer is not None:
                session_id = outcome.answer.session_id
            console.print()


# -- sessions ---------------------------------------------------------------------------------


def _when(moment: dt.datetime) -> str:
    """A stored time (aware, UTC) in local time, to the minute."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


@sessions_app.command("list")
def sessions_list(
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, max=1000, help="Most sessions listed.")
    ] = 50,
    json_output: JsonOption = False,
) -> None:
    """List chat sessions, most recently updated first, with their id and message count."""
    with _workspace() as workspace:
        sessions = workspace.sessions.list(limit=limit).items
    if json_output:
        for item in sessions:
            typer.echo(
                json.dumps(item.model_dump(mode="json", exclude={"messages"}), ensure_ascii=False)
            )
        return
    if not sessions:
        err_console.print("No sessions.")
        return
    table = Table(box=box.SIMPLE_HEAD)
    # Ids stay whole, to be copied for `--session` and `sessions show`.
    table.add_column("id", no_wrap=True)
    table.add_column("title", overflow="fold", ratio=1)
    table.add_column("messages", justify="right")
    table.add_column("mode")
    table.add_column("updated", no_wrap=True)
    for item in sessions:
        table.add_row(
            item.id,
            escape(item.title),
            str(item.message_count),
            item.settings.mode,
            _when(item.updated_at),
        )
    _print_table(table)


def _message_heading(message: Message) -> str:
    """Role and time, and for an answer its model and how it ended if not well."""
    meta = message.metadata or {}
    parts = [f"[bold]{message.role}[/bold]", f"[dim]{_when(message.created_at)}[/dim]"]
    if message.role == "assistant":
        if meta.get("model"):
            produced = f"{meta['model']}, {meta.get('mode', '?')}"
            parts.append(f"[dim]{escape(produced)}[/dim]")
        if meta.get("abstained"):
            parts.append("[yellow]abstained[/yellow]")
        if meta.get("cancelled"):
            parts.append("[yellow]stopped[/yellow]")
        error = meta.get("error")
        if isinstance(error, Mapping):
            parts.append(f"[red]failed: {escape(str(error.get('message', '')))}[/red]")
    return " · ".join(parts)


@sessions_app.command("show")
def sessions_show(
    session_id: Annotated[
        str,
        typer.Argument(help="The session's id (see `docchat sessions list`).", show_default=False),
    ],
    json_output: Annotated[
        bool,
        typer.Option("--json", help="Print the session with its messages as one JSON object."),
    ] = False,
) -> None:
    """Show a session's messages in order: role, time, text, and each answer's references."""
    with _workspace() as workspace:
        session = workspace.sessions.get(session_id, include_messages=True)
    if json_output:
        typer.echo(json.dumps(session.model_dump(mode="json"), ensure_ascii=False))
        return
    console.print(f"[bold]{escape(session.title)}[/bold]  [dim]{escape(session.id)}[/dim]")
    console.print(
        f"[dim]created {_when(session.created_at)} · {session.message_count} messages · "
        f"mode {session.settings.mode} · model {escape(session.settings.model or 'default')}"
        "[/dim]"
    )
    for message in session.messages or []:
        console.print()
        console.print(_message_heading(message))
        console.print(message.content, markup=False, highlight=False)
        references = _stored_references(message.references)
        if message.role == "assistant" and references:
            _print_table(_references_table(references, title="References"))


@sessions_app.command("export")
def sessions_export(
    session_id: Annotated[
        str,
        typer.Argument(help="The session's id (see `docchat sessions list`).", show_default=False),
    ],
    export_format: Annotated[
        ExportFormat,
        typer.Option(
            "--format",
            "-f",
            help="json: the classic session file (what `load_from_disk` reads); markdown, docx "
            "(Word) or pdf: a transcript with references and their quoted spans.",
        ),
    ] = "json",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            dir_okay=False,
            help="Write to this file (replaced if it exists). Default: stdout.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Export a session with all its messages, as JSON, Markdown, Word or PDF, to stdout or a
    file."""
    binary = export_format in ("docx", "pdf")
    if binary and output is None and sys.stdout.isatty():
        _fail(f"a {export_format} file is binary: write it with --output FILE or redirect stdout")
    with _workspace() as workspace:
        data = workspace.sessions.export_file(session_id, export_format)
    if not binary and not data.endswith(b"\n"):
        data += b"\n"
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        output.write_bytes(data)
    except OSError as exc:
        _fail(f"cannot write {output}: {exc.strerror or type(exc).__name__}")
    err_console.print(f"Wrote session {escape(session_id)} to {escape(str(output))}")


# -- models -----------------------------------------------------------------------------------


@app.command()
def models(json_output: JsonOption = False) -> None:
    """List the models that can answer: name, provider, model id, context window, availability."""
    with _workspace() as workspace:
        infos = workspace.models()
    if json_output:
        for info in infos:
            typer.echo(json.dumps(asdict(info), ensure_ascii=False))
        return
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("provider")
    table.add_column("model", overflow="fold")
    table.add_column("context", justify="right")
    table.add_column("available", overflow="fold")
    table.add_column("default")
    for info in infos:
        available = "[green]yes[/green]"
        if not info.available:
            available = "[red]no[/red]" + (
                f": {escape(info.unavailable_reason)}" if info.unavailable_reason else ""
            )
        table.add_row(
            escape(info.name),
            info.provider,
            escape(info.model),
            f"{info.context_window:,}" if info.context_window is not None else "",
            available,
            "yes" if info.default else "",
        )
    _print_table(table)
