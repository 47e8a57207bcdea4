"""The Typer app and what every command shares: consoles, errors, settings, the workspace.

Nothing heavy at import time: this module is loaded by ``docchat --help``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Literal, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from docchat.errors import DocchatError

if TYPE_CHECKING:
    from sqlalchemy.exc import SQLAlchemyError

    from docchat.config import Settings
    from docchat.workspace import Workspace

# Spelled out here rather than imported, so that --help does not load the retrieval stack.
Mode = Literal["hybrid", "fulltext", "dense"]
#: A chat mode's name (``ChatModeChoice`` checks it against the registered modes).
ChatMode = str
#: "all", a search mode or a chat mode.
EvalMode = str
ExportFormat = Literal["json", "markdown", "docx", "pdf"]


def chat_mode_parser(*first: str) -> Callable[[str], str]:
    """A ``--mode`` parser accepting ``first`` and the registered chat modes, as they are when
    the command runs (a mode registered after this module was imported is accepted too).  The
    names come from ``docchat.options``, which loads no retrieval stack."""

    def parse(value: str) -> str:
        from docchat.options import mode_names

        choices = (*first, *mode_names())
        if value not in choices:
            # Worded as Typer words a Literal's error, which the option was until modes registered.
            raise ValueError(f"{value!r} is not one of {', '.join(map(repr, choices))}.")
        return value

    return parse


def chat_mode_metavar(*first: str) -> str:
    """The choices as ``--help`` shows them (the modes registered when the CLI is loaded)."""
    from docchat.options import mode_names

    return "<" + "|".join((*first, *mode_names())) + ">"


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
users_app = typer.Typer(
    name="users",
    help="Accounts (DOCCHAT_AUTH__MODE=accounts): create, list, disable users; their API tokens.",
    no_args_is_help=True,
)
app.add_typer(users_app)
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON object per line instead of a table.")
]


def print_error(message: str) -> None:
    """Print ``message`` as an error."""
    err_console.print(f"[bold red]error:[/bold red] {escape(message)}")


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``message`` as an error and end the command with exit status ``code``."""
    print_error(message)
    raise typer.Exit(code)


def load_settings() -> Settings:
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
        fail(f"invalid configuration: {problems}", code=2)


def database_label(settings: Settings) -> str:
    """The database URL with its password masked, for printing."""
    from sqlalchemy.engine import make_url

    url = settings.effective_database_url.get_secret_value()
    return make_url(url).render_as_string(hide_password=True)


def driver_message(exc: SQLAlchemyError) -> str:
    """The first line of the database driver's own message, without statement or parameters."""
    # The driver's words ("connection refused", "password authentication failed") help the
    # operator; the statement and its parameters do not.
    lines = str(getattr(exc, "orig", None) or "").strip().splitlines()
    return lines[0] if lines else type(exc).__name__


@contextmanager
def reported() -> Iterator[None]:
    """Library errors end the command with their message and exit status 1, not a traceback."""
    try:
        yield
    except DocchatError as exc:
        fail(exc.message)


@contextmanager
def open_workspace(*, run_jobs: bool = True) -> Iterator[Workspace]:
    """The workspace of the configured database (migrated), closed when the command ends;
    ``run_jobs`` as for ``Workspace``."""
    from sqlalchemy.exc import SQLAlchemyError

    from docchat.workspace import Workspace

    settings = load_settings()
    label = database_label(settings)
    try:
        with reported():
            workspace = Workspace(settings, run_jobs=run_jobs)
    except SQLAlchemyError as exc:
        fail(f"cannot open {label}: {driver_message(exc)}")
    try:
        with reported():
            yield workspace
    except SQLAlchemyError as exc:
        fail(f"database error on {label}: {driver_message(exc)}")
    finally:
        workspace.close()


def progress_bars(*, transient: bool = False) -> Progress:
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


def print_table(table: Table) -> None:
    """Print a table on stdout, fitted to the terminal (soft wrap would stop its cells wrapping)."""
    console.print(table, soft_wrap=False)


def per_second(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else 0.0


def warn_missing_vectors(workspace: Workspace, modes: Sequence[str]) -> None:
    """Say so when chunks lack vectors: dense search cannot find them yet."""
    if "hybrid" not in modes and "dense" not in modes:
        return
    pending = workspace.chunks_without_vectors()
    if pending:
        err_console.print(
            f"[yellow]warning:[/yellow] {pending} chunks have no vector yet, so dense search "
            "misses them; `docchat ingest` without --no-embed computes them"
        )
