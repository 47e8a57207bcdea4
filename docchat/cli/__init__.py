"""The ``docchat`` command line, a second face of the library.

Each command reads the settings once (``load_settings()``), calls the library (a ``Workspace``'s
methods) and prints with Rich.  Heavy imports (FastAPI, uvicorn, SQLAlchemy, the retrieval stack,
the parsers) happen inside the command that needs them, so ``docchat --help`` stays quick
(tests/test_imports.py).  Results go to stdout; progress bars, warnings and errors
to stderr, so ``--json`` output can be piped.  A library error (``DocchatError``) prints its
message and exits with status 1; usage errors exit with 2; a turn stopped with Ctrl-C, 130.

``core`` holds the Typer app and what the commands share; each other module is a family of
commands: ``server`` (serve, mcp, migrate), ``documents`` (ingest, reindex, search, documents),
``evaluation`` (eval), ``chat`` (ask, chat, models; a turn's display is in ``turns``),
``sessions`` and ``users`` (accounts and API tokens).
"""

from __future__ import annotations

from docchat.cli.core import app

# Importing a family registers its commands with ``app``, and --help lists them in this order.
# isort: off
from docchat.cli import server, documents, evaluation, chat, sessions, users  # noqa: F401
# isort: on

__all__ = ["app"]
