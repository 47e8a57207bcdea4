"""Commands on chat sessions: ``sessions list``, ``sessions show``, ``sessions export``."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from docchat.cli.core import (
    ExportFormat,
    JsonOption,
    console,
    err_console,
    fail,
    open_workspace,
    print_table,
    sessions_app,
)
from docchat.cli.turns import references_table

if TYPE_CHECKING:
    import datetime as dt

    from docchat.sessions.types import Message


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
    with open_workspace() as workspace:
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
    print_table(table)


def _stored_references(references: Sequence[Any] | None) -> list[Mapping[str, Any]]:
    """A message's references as dicts; a free-form one (older files) as its text."""
    return [
        ref if isinstance(ref, Mapping) else {"quote": json.dumps(ref, ensure_ascii=False)}
        for ref in references or []
    ]


#: How an answer stored as it streamed, and never finished, is labelled.
_UNFINISHED = {"interrupted": "interrupted", "streaming": "still being written"}


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
        unfinished = _UNFINISHED.get(str(meta.get("status")))  # stored as it streamed
        if unfinished:
            parts.append(f"[yellow]{unfinished}[/yellow]")
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
    with open_workspace() as workspace:
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
            print_table(references_table(references, title="References"))


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
        fail(f"a {export_format} file is binary: write it with --output FILE or redirect stdout")
    with open_workspace() as workspace:
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
        fail(f"cannot write {output}: {exc.strerror or type(exc).__name__}")
    err_console.print(f"Wrote session {escape(session_id)} to {escape(str(output))}")
