"""Commands on documents: ingest, reindex, search, and ``documents list/rm/collections``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.markup import escape
from rich.progress import TaskID
from rich.table import Table

from docchat.cli.core import (
    JsonOption,
    Mode,
    app,
    console,
    documents_app,
    err_console,
    fail,
    open_workspace,
    per_second,
    print_error,
    print_table,
    progress_bars,
    warn_missing_vectors,
)
from docchat.errors import DocumentNotFound

if TYPE_CHECKING:
    from docchat.documents.ingest import IngestProgress
    from docchat.retrieval.hybrid import Hit


# -- ingest -----------------------------------------------------------------------------------


@app.command()
def ingest(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Files and folders to ingest. Folders are walked for supported files, "
            "hidden entries skipped, symbolic links out of the folder skipped and listed; a "
            "path that does not exist is reported as a failure.",
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
    follow_symlinks: Annotated[
        bool,
        typer.Option(
            "--follow-symlinks",
            help="Also ingest what symbolic links inside a folder point at outside it "
            "(without it they are skipped and listed).",
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
    with open_workspace() as workspace, progress_bars() as progress:
        files = progress.add_task("files", total=None, detail="scanning…")

        def on_file(state: IngestProgress) -> None:
            seconds = state.seconds
            detail = (
                f"{state.pages} pages, {state.chunks} chunks · "
                f"{per_second(state.files_done, seconds):.1f} files/s, "
                f"{per_second(state.pages, seconds):.1f} pages/s"
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
            rate = per_second(done, time.perf_counter() - started[0])
            progress.update(
                chunks[0], total=total, completed=done, detail=f"chunks · {rate:.0f} chunks/s"
            )

        result = workspace.ingest(
            paths,
            collection=collection,
            prune=prune,
            follow_symlinks=follow_symlinks,
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
        ("skipped", len(result.skipped)),
        ("pages", result.pages),
        ("chunks", result.chunks),
        ("embedded", result.embedded),
    ]:
        summary.add_row(name, str(value), style="red" if name == "failed" and value else None)
    summary.add_row("seconds", f"{seconds:.1f}")
    print_table(summary)
    for title, listed in (("Failures", result.failures), ("Skipped", result.skipped)):
        if listed:
            table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
            table.add_column("file", style="bold")
            table.add_column("reason")
            for failure in listed:
                table.add_row(escape(failure.name), escape(failure.reason))
            print_table(table)


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
    with open_workspace() as workspace, progress_bars() as progress:
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
            fail("cancelled", code=130)
        info = workspace.document(document_id)
    if task.status != "succeeded":
        reasons = "; ".join(str(e.get("message", e)) for e in task.errors if isinstance(e, dict))
        fail(f"re-indexing {info.file_name!r} {task.status}" + (f": {reasons}" if reasons else ""))
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
    with open_workspace() as workspace:
        warn_missing_vectors(workspace, [mode])
        hits = workspace.search(
            query,
            k=k,
            filters=filters,
            manual_keywords=keyword or [],
            enable_reranking=rerank,
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
    print_table(table)


# -- documents --------------------------------------------------------------------------------


@documents_app.command("list")
def documents_list(
    collection: Annotated[
        str | None, typer.Option("--collection", "-c", help="Only documents of this collection.")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """List documents, newest first, with their id, status and size."""
    from docchat.documents.sizes import format_size

    with open_workspace() as workspace:
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
    print_table(table)


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
    with open_workspace() as workspace:
        for document_id in ids:
            try:
                info = workspace.delete_document(document_id)
            except DocumentNotFound as exc:
                print_error(exc.message)
                missing += 1
                continue
            console.print(f"Removed {escape(info.file_name)} ({info.id})")
    if missing:
        raise typer.Exit(1)


@documents_app.command("collections")
def documents_collections(json_output: JsonOption = False) -> None:
    """List collections with their number of documents."""
    with open_workspace() as workspace:
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
    print_table(table)
