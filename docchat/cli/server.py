"""Commands that run docchat for others and keep its database: serve, worker, mcp, migrate."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from docchat.cli.core import (
    app,
    console,
    database_label,
    driver_message,
    err_console,
    fail,
    load_settings,
    open_workspace,
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
    proxy_headers: Annotated[
        bool | None,
        typer.Option(
            "--proxy-headers/--no-proxy-headers",
            help="Behind a reverse proxy: client address and scheme from X-Forwarded-For/-Proto "
            "(trusted from DOCCHAT_SERVER__FORWARDED_ALLOW_IPS). Default: "
            "DOCCHAT_SERVER__PROXY_HEADERS or off.",
        ),
    ] = None,
    insecure_no_auth: Annotated[
        bool,
        typer.Option(
            "--insecure-no-auth",
            help="Serve on a non-loopback address with accounts off: anyone who can reach it "
            "may read and delete everything.",
        ),
    ] = False,
    worker: Annotated[
        bool,
        typer.Option(
            "--worker/--no-worker",
            help="Run background jobs (ingestion, embedding, long chat turns) in this process too. "
            "--no-worker, on PostgreSQL: a web-only node that queues them for `docchat worker` "
            "processes. SQLite is one process, which always runs its own.",
        ),
    ] = True,
) -> None:
    """Run the HTTP API server (applies database migrations at start-up)."""
    from functools import partial

    import uvicorn

    from docchat.api.app import create_app
    from docchat.api.server import is_loopback, server_options
    from docchat.workspace import Workspace

    settings = load_settings()
    bind = host if host is not None else settings.server.host
    if settings.auth.mode == "none" and not is_loopback(bind) and not insecure_no_auth:
        fail(
            f"refusing to serve on {bind} without accounts: anyone who can reach it could read "
            "and delete everything.  Create an admin (docchat users create NAME --admin) and "
            "set DOCCHAT_AUTH__MODE=accounts, or pass --insecure-no-auth.",
            code=2,
        )
    # The bind address is what SiteGuard trusts as a Host name: the one actually used.
    server: dict[str, object] = {"host": bind}
    if proxy_headers is not None:
        server["proxy_headers"] = proxy_headers
    settings = settings.model_copy(update={"server": settings.server.model_copy(update=server)})
    uvicorn.run(
        create_app(settings, workspace=partial(Workspace, run_jobs=worker)),
        host=bind,
        port=port if port is not None else settings.server.port,
        **server_options(settings.server),
    )


@app.command()
def worker(
    concurrency: Annotated[
        int, typer.Option(min=1, help="How many background jobs to run at once.")
    ] = 2,
) -> None:
    """Run background jobs (ingestion, embedding, re-index, long chat turns) from the PostgreSQL
    queue, and the periodic clean-up, until Ctrl-C or SIGTERM: then it takes no more jobs, hands
    the running ones back to the queue for another worker (a chat turn ends interrupted) and
    exits.  Start as many as you like, on any machine that mounts the data dir."""
    with open_workspace(run_jobs=False) as workspace:
        if not workspace.jobs_are_shared:
            fail(
                "SQLite is one process: `docchat serve` runs its own background jobs; a worker "
                "needs PostgreSQL (DOCCHAT_DATABASE_URL)",
                code=2,
            )
        label = database_label(workspace.settings)
        # On stderr: a log line for whoever watches the process, not output.
        err_console.print(f"docchat worker: {concurrency} job(s) at once from {escape(label)}")
        workspace.work(concurrency=concurrency)


@app.command()
def mcp() -> None:
    """Serve docchat's tools to an AI assistant over MCP on stdin/stdout (for a desktop client
    to start; `serve` has them at /mcp over HTTP)."""
    from docchat.mcp import build_server

    with open_workspace() as workspace:
        # stdout carries the protocol: everything else this prints goes to stderr.
        build_server(workspace).run("stdio")


@app.command()
def migrate() -> None:
    """Bring the database schema up to date and print its revision."""
    from sqlalchemy.exc import SQLAlchemyError

    from docchat.db import make_engine
    from docchat.migrations import current_revision, upgrade

    settings = load_settings()
    label = database_label(settings)
    engine = make_engine(settings)
    try:
        upgrade(engine)
        revision = current_revision(engine)
    except SQLAlchemyError as exc:
        fail(f"cannot migrate {label}: {driver_message(exc)}")
    finally:
        engine.dispose()
    console.print(f"Database: [bold]{escape(label)}[/bold]")
    console.print(f"Revision: [green]{escape(revision or 'none')}[/green]")
