"""The ``docchat`` command line, a second face of the library.

Each command reads the settings once (``_settings()``), calls library functions and prints with
Rich.  Heavy imports (FastAPI, uvicorn) happen inside the command that needs them, so
``docchat --help`` stays quick.
"""

from __future__ import annotations

from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from docchat.config import Settings

app = typer.Typer(
    name="docchat",
    help="Chat with your documents: persistent sessions, cited answers, offline by default.",
    no_args_is_help=True,
    add_completion=False,
    # Locals can hold database passwords and API keys; a traceback must not print them.
    pretty_exceptions_show_locals=False,
)
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def _fail(message: str, code: int = 1) -> NoReturn:
    """Print ``message`` as an error and end the command with exit status ``code``."""
    err_console.print(f"[bold red]error:[/bold red] {escape(message)}")
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
        # The driver's own words ("connection refused", "password authentication failed") help
        # the operator; the statement and its parameters do not.
        driver_error = getattr(exc, "orig", None)
        lines = str(driver_error or "").strip().splitlines()
        _fail(f"cannot migrate {label}: {lines[0] if lines else type(exc).__name__}")
    finally:
        engine.dispose()
    console.print(f"Database: [bold]{escape(label)}[/bold]")
    console.print(f"Revision: [green]{escape(revision or 'none')}[/green]")
