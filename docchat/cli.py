"""The ``docchat`` command line, a second face of the library.

Each command reads the settings once (``_settings()``), calls library functions and prints with
Rich.  Heavy imports (FastAPI, uvicorn, the retrieval stack) happen inside the command that needs
them, so ``docchat --help`` stays quick.  Results go to stdout; progress bars, warnings and errors
to stderr, so ``--json`` output can be piped.  A library error (``DocchatError``) prints its
message and exits with status 1; usage errors exit with 2.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, NoReturn, cast

import typer
from pydantic import ValidationError
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
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from docchat.config import Settings
from docchat.errors import DocchatError, DocumentNotFound

if TYPE_CHECKING:
    from docchat.documents.ingest import IngestProgress
    from docchat.retrieval.evaluate import EvaluationReport
    from docchat.retrieval.hybrid import Hit
    from docchat.workspace import Workspace

# Spelled out here rather than imported, so that --help does not load the retrieval stack.
Mode = Literal["hybrid", "fulltext", "dense"]
EvalMode = Literal["all", "hybrid", "fulltext", "dense"]

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
    return make_url(settings.effective_database_url).render_as_string(hide_password=True)


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


def _warn_missing_vectors(workspace: Workspace, modes: Sequence[Mode]) -> None:
    """Say so when chunks lack vectors: dense search cannot find them yet."""
    if "hybrid" not in modes and "dense" not in modes:
        return
    pending = workspace.vectors.pending()
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
def migrate() -> None:
    """Bring the database schema up to date and print its revision."""
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

        result = workspace.ingest(
            paths, collection=collection, prune=prune, progress=on_file, embed=False
        )
        embedded = 0
        if embed:
            # The bar appears with the first batch: often there is nothing to embed.
            chunks: list[TaskID] = []
            started = time.perf_counter()

            def on_embed(done: int, total: int) -> None:
                if not chunks:
                    chunks.append(progress.add_task("embedding", total=total, detail=""))
                rate = _rate(done, time.perf_counter() - started)
                progress.update(
                    chunks[0], total=total, completed=done, detail=f"chunks · {rate:.0f} chunks/s"
                )

            embedded = workspace.embed_pending(progress=on_embed)
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
        ("embedded", embedded),
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
    from docchat.sessions.types import SourceFilters

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
                info = workspace.registry.get(document_id, owner=None)
                workspace.registry.delete(document_id, owner=None)
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
        collections = workspace.registry.collections(owner=None)
    if json_output:
        for c in collections:
            typer.echo(json.dumps({"name": c["name"], "documents": c["documents"]}))
        return
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("collection", style="bold")
    table.add_column("documents", justify="right")
    for c in collections:
        table.add_row(escape(c["name"]), str(c["documents"]))
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


@app.command("eval")
def eval_command(
    qa_file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            help="JSON Lines: one question a line with its expected sources (see README).",
            show_default=False,
        ),
    ],
    k: Annotated[
        int,
        typer.Option(
            "--k", "-k", min=1, max=200, help="Passages retrieved per question (recall@k, MRR@k)."
        ),
    ] = 10,
    mode: Annotated[
        EvalMode, typer.Option(help="Search mode to evaluate, or all three side by side.")
    ] = "all",
    collection: Annotated[
        list[str] | None,
        typer.Option("--collection", "-c", help="Search only this collection (repeatable)."),
    ] = None,
    json_output: Annotated[
        bool,
        typer.Option(
            "--json", help="Print the report, each question's rank included, as one JSON object."
        ),
    ] = False,
) -> None:
    """Measure retrieval on questions with known answers: recall@1/3/5/k, MRR@k and latency."""
    from docchat.retrieval.evaluate import SEARCH_MODES, evaluate, load_qa
    from docchat.retrieval.hybrid import SearchMode
    from docchat.sessions.types import SourceFilters

    with _reported():
        questions = load_qa(qa_file)
    modes: tuple[SearchMode, ...] = SEARCH_MODES if mode == "all" else (mode,)
    filters = SourceFilters(collections=collection or [])
    with _workspace() as workspace, _progress(transient=True) as progress:
        _warn_missing_vectors(workspace, modes)
        task = progress.add_task("searches", total=len(questions) * len(modes), detail="")

        def search_within(
            query: str, *, k: int | None = None, mode: SearchMode = "hybrid"
        ) -> list[Hit]:
            return workspace.search(query, k=k, mode=mode, filters=filters)

        def on_search(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        report = evaluate(search_within, questions, k=k, modes=modes, progress=on_search)
    if json_output:
        typer.echo(report.model_dump_json())
        return
    console.print(f"{report.questions} questions, top {report.k} passages per search")
    _print_table(_eval_table(report))
    if len(modes) > 1:
        console.print(
            "[bold green]Bold green[/bold green]: the best mode for that metric and type."
        )
