"""Ingested corpora, built once per test run and copied into each test's own database.

Ingesting and embedding the test handbook takes 5-15 s on a 2-core machine, and a dozen test
files need it on both backends; even migrating a new database takes 0.3-1 s.  A copy takes
milliseconds: a SQLite file copy, or PostgreSQL's ``CREATE DATABASE ... TEMPLATE``, plus the data
dir's stored files and vector snapshots.  Each test gets its own copy, so a test that writes
changes nothing another test sees; no test opens a template itself.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from docchat.config import Settings
from docchat.db import Database
from docchat.documents.registry import DEFAULT_COLLECTION
from docchat.retrieval.embedders import Embedder
from docchat.workspace import Workspace

#: Retrieval settings that only a search reads, never ingestion: a corpus ingested under one value
#: serves them all (tests/retrieval/test_late_interaction.py's rerank weight of 1 built a second
#: handbook per backend).  A setting not named here keeps its own corpora, the safe side.
_SEARCH_ONLY = {
    "num_results",
    "candidates",
    "fusion",
    "dense_weight",
    "rrf_k",
    "fulltext_postings_budget",
    "rerank_url",
    "rerank_model",
    "rerank_api_key",
    "enable_reranking",
    "rerank_candidates",
    "rerank_weight",
}


@dataclass(frozen=True)
class _Template:
    """A corpus ingested once: its database (a SQLite file or a PostgreSQL database name) and its
    data dir."""

    database: str
    data_dir: Path


class Corpora:
    """Copies of ingested corpora: ``copy_into(settings, paths)`` leaves the database and data dir
    that ``settings`` name as ``Workspace(settings).ingest(paths)`` would, in milliseconds after the
    first time.

    The target database must be new: a SQLite file not yet created, or a PostgreSQL database no
    one has connected to (it is replaced by a copy of the template).
    """

    def __init__(
        self, root: Path, embedder: Callable[[], Embedder], pg_admin_url: Callable[[], str]
    ) -> None:
        self._root = root
        self._embedder = embedder
        self._pg_admin_url = pg_admin_url
        self._templates: dict[str, _Template] = {}

    def copy_into(
        self,
        settings: Settings,
        paths: Sequence[Path],
        *,
        collection: str = DEFAULT_COLLECTION,
    ) -> None:
        """Give ``settings``' database and data dir the corpus of ``paths`` in ``collection``;
        with no paths, a migrated database holding nothing."""
        url = make_url(settings.effective_database_url.get_secret_value())
        # The settings ingestion and embedding read: servers with other limits, models, chat
        # defaults or search settings share a corpus.
        retrieval = set(type(settings.retrieval).model_fields) - _SEARCH_ONLY
        shape = settings.model_dump_json(
            include={"database": True, "documents": True, "retrieval": retrieval}
        )
        key = "\n".join([url.get_backend_name(), collection, *map(str, paths), shape])
        template = self._templates.get(key)
        if template is None:
            template = self._templates[key] = self._build(settings, paths, collection)
        if url.get_backend_name() == "sqlite":
            target = Path(str(url.database))
            assert not target.exists(), f"{target} exists: copy a corpus into a new database"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(template.database, target)
        else:
            self._admin(
                f'DROP DATABASE IF EXISTS "{url.database}"',
                f'CREATE DATABASE "{url.database}" TEMPLATE "{template.database}"',
            )
        shutil.copytree(template.data_dir, settings.data_dir, dirs_exist_ok=True)

    def _build(self, settings: Settings, paths: Sequence[Path], collection: str) -> _Template:
        folder = self._root / f"corpus-{len(self._templates)}"
        url = make_url(settings.effective_database_url.get_secret_value())
        if url.get_backend_name() == "sqlite":
            database = str(folder / "docchat.db")
            template_url = f"sqlite:///{database}"
        else:
            database = f"docchat_corpus_{uuid.uuid4().hex[:12]}"
            self._admin(f'CREATE DATABASE "{database}"')
            template_url = url.set(database=database).render_as_string(hide_password=False)
        data_dir = folder / "data"
        built = settings.model_copy(
            update={"data_dir": data_dir, "database_url": SecretStr(template_url)}
        )
        if paths:
            with Workspace(built, embedder=self._embedder()) as workspace:
                workspace.ingest(paths, collection=collection)
        else:
            Database.from_settings(built).dispose()
        data_dir.mkdir(parents=True, exist_ok=True)
        return _Template(database=database, data_dir=data_dir)

    def _admin(self, *statements: str) -> None:
        engine = create_engine(self._pg_admin_url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                for statement in statements:
                    conn.execute(text(statement))
        finally:
            engine.dispose()
