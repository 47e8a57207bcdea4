"""A Workspace: one docchat deployment's database, sessions, documents, index and tasks.

The one facade the faces call (the HTTP routes, the CLI, the module-level functions): one method per
use case, as ``document``, ``start_ingest``, ``search`` or ``cancel_task``.  Chat sessions have
their own facade, ``sessions`` (a ``SessionStore``).  The parts built here (the database, the
document registry, the ingestor, the indexer, the retriever, the task runner) are private: a
caller that needs something of them gets a method here, so the parts can change behind it.

Open it as a context manager (``with Workspace(settings) as workspace:``), or call ``close``: it
closes everything it opened (tasks, lease, connections, model clients).

The HTTP app, the CLI and the module-level functions each hold one; tests hold several.  Nothing
here is global: two workspaces on two databases never share state.  ``owner`` follows
``docchat.owners``: a user id scopes to that user's rows, None (single-user mode) sees all.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy.exc import SQLAlchemyError

from docchat.accounts import Accounts
from docchat.chat.answer import AnyFlag, ChatEngine, StopFlag
from docchat.chat.memory import Turn
from docchat.chat.types import Answer, AnswerEvent, DoneEvent, ProgressEvent, Question
from docchat.config import Settings
from docchat.db import Database, ping
from docchat.documents.ingest import (
    Ingestor,
    IngestProgress,
    ProgressCallback,
    UploadedFile,
    discard,
)
from docchat.documents.quotas import UploadAllowance, Usage, directory_size, upload_allowance
from docchat.documents.registry import (
    DEFAULT_COLLECTION,
    Collection,
    DocumentInfo,
    Registry,
    ReplacedDocument,
    check_collection_name,
)
from docchat.documents.sources import (
    DEFAULT_CONTEXT_CHARS,
    OriginalFile,
    Passage,
    original_file,
    read_passage,
)
from docchat.documents.storage import open_content_store
from docchat.errors import TooLarge
from docchat.llm.models import ModelCatalog, ModelInfo
from docchat.migrations import schema_state
from docchat.options import ChatMode, ChatOptions, ChatSettings, SourceFilters
from docchat.renders import RenderSlots, give_back_memory
from docchat.retrieval.embedders import Embedder
from docchat.retrieval.hybrid import Hit, Retriever, SearchMode
from docchat.retrieval.indexing import Indexer
from docchat.retrieval.rerank import RemoteReranker, make_reranker
from docchat.retrieval.vectors import EmbedProgress
from docchat.sessions.store import ExportFileFormat, SessionStore
from docchat.sessions.types import ChatSession
from docchat.tasks import jobs
from docchat.tasks.leases import Lease
from docchat.tasks.models import TaskInfo
from docchat.tasks.progress import Progress
from docchat.tasks.runner import Job, TaskRunner
from docchat.tasks.threads import ThreadRunner

if TYPE_CHECKING:
    from types import TracebackType

    from docchat.documents.pages import PageHighlights, PageImage


log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Unready:
    """One reason not to send this workspace requests yet (``Workspace.readiness``)."""

    #: What is not ready: the database, its schema, the task runner.
    check: Literal["database", "schema", "tasks"]
    #: Said to whoever asks (a load balancer, unauthenticated): no revision, host or error text.
    message: str


@dataclass(frozen=True, slots=True)
class UploadStarted:
    """An upload's task, and the documents of the same name it replaces (same ids)."""

    task: TaskInfo
    replaced: list[ReplacedDocument]


class Workspace:
    """Everything one deployment holds, opened from ``Settings`` (migrations applied)."""

    def __init__(
        self,
        settings: Settings,
        *,
        database: Database | None = None,
        embedder: Embedder | None = None,
        run_jobs: bool = True,
    ) -> None:
        """``run_jobs=False``: on PostgreSQL, this process only queues background jobs, for the
        workers of others (a web-only node, ``docchat serve --no-worker``; ``docchat worker``
        runs its own with ``work``).  With SQLite docchat is one process and runs its own."""
        self.settings = settings
        self._run_jobs = run_jobs
        self._db = database or Database.from_settings(settings)
        self.sessions = SessionStore(self._db, settings)
        #: Users, logins and API tokens (used when ``settings.auth.mode`` is not "none").
        self.accounts = Accounts(self._db, settings.auth)
        self._registry = Registry(self._db, open_content_store(settings))
        self._ingestor = Ingestor(self._registry, settings)
        # Exports to Word and PDF and page images share a few slots (docchat.renders).
        self._renders = RenderSlots(settings.renders)
        self._lazy_lock = threading.RLock()
        self._index = Indexer(
            self._db,
            self._registry,
            settings.retrieval,
            cache_dir=settings.data_dir / "cache" / "vectors",
            embedder=embedder,
        )
        self._retriever = Retriever(
            self._db,
            self._registry,
            self._index.vectors,
            settings.retrieval,
            embedder=self.embedder,
            reranker=make_reranker(settings.retrieval) or self._index.late_interaction,
        )
        self._lease: Lease | None = None
        self._task_runner: TaskRunner | None = None
        # Set as the workspace closes: embedding stops at its next batch (the next start-up
        # resumes it); ingestion finishes its files, which exist only until then; a background
        # turn stops at its next step.
        self._stopping = threading.Event()
        #: Background turns running now: stopped (``interrupted``) when the workspace closes.
        self._turns: set[Progress] = set()
        self._models: ModelCatalog | None = None
        self._engine: ChatEngine | None = None
        self._closed = False

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def embedder(self) -> Embedder:
        """The configured embedder, loaded on first use."""
        return self._index.embedder()

    def database_answers(self) -> bool:
        """Whether the database answers a trivial query (SQLAlchemyError when it cannot be
        reached at all)."""
        return ping(self._db.engine)

    def readiness(self) -> list[Unready]:
        """What keeps this workspace from serving, or nothing: the database does not answer, its
        schema is not this docchat's newest, or the task runner is not running (not started by
        ``resume`` yet, or stopping)."""
        problems: list[Unready] = []
        runner = self._task_runner
        if self._stopping.is_set() or runner is None or not runner.running:
            problems.append(Unready("tasks", "the task runner is not running"))
        try:
            # Reads alembic_version: on SQLite a trivial query would answer without the file.
            state = schema_state(self._db.engine)
        except SQLAlchemyError:
            # A load balancer polls this: a warning per failure, the error in the log only.
            log.warning("readiness: the database does not answer", exc_info=True)
            return [Unready("database", "the database does not answer"), *problems]
        if state == "behind":
            # Another server may be migrating it now; `docchat migrate` brings it up to date.
            problems.insert(
                0, Unready("schema", "the database schema is older than this docchat's")
            )
        elif state == "ahead":
            problems.insert(
                0, Unready("schema", "the database schema is newer than this docchat's")
            )
        return problems

    @property
    def has_reranker(self) -> bool:
        """Whether searches can be reranked (``enable_reranking=True``): a reranking server is
        configured, or the offline late-interaction reranker is on."""
        return self._retriever.reranker is not None

    @property
    def _runner(self) -> TaskRunner:
        """The background task runner (started on first use)."""
        if self._task_runner is None:
            with self._lazy_lock:
                if self._task_runner is None:
                    self._task_runner = self._make_runner()
        return self._task_runner

    def _make_runner(self) -> TaskRunner:
        # The one place that knows the database kind: PostgreSQL has a job queue any process's
        # workers take from; SQLite is one process, whose thread pool runs its jobs.
        lease = self._take_lease()
        # A streamed answer of a turn whose process died keeps its text.
        after_recover = self.sessions.interrupt_answers
        # The periodic clean-up prunes expired logins and tokens too.
        housekeeping = self.accounts.prune
        interval = self.settings.tasks.cleanup_interval_s
        if self._db.engine.dialect.name == "postgresql":
            from docchat.tasks.queue import QueueRunner

            return QueueRunner(
                self._db,
                lease,
                jobs=self._job_parts(),
                after_recover=after_recover,
                housekeeping=housekeeping,
                concurrency=2 if self._run_jobs else 0,
                cleanup_interval_s=interval,
                shutdown_grace_s=self.settings.tasks.shutdown_grace_s,
            )
        return ThreadRunner(
            self._db,
            lease,
            after_recover=after_recover,
            jobs=self._job_parts(),
            housekeeping=housekeeping,
            cleanup_interval_s=interval,
        )

    def _job_parts(self) -> jobs.JobParts:
        """What this process's background jobs work with (``docchat.tasks.jobs``)."""
        return jobs.JobParts(
            ingestor=self._ingestor,
            index=self._index,
            data_dir=self.settings.data_dir,
            stop=self._stopping,
            chat_turn=self._background_turn,
        )

    @property
    def upload_dir(self) -> Path:
        """Where this process keeps files it received until its tasks have read them.

        The folder belongs to this process's lease: it is deleted when the workspace closes, or,
        if the process dies, when the next one starts (``resume``).
        """
        return self._take_lease().spool

    def _take_lease(self) -> Lease:
        # Taken on first need, so a workspace that never receives files or runs tasks (most CLI
        # commands) leaves nothing in the data dir.
        with self._lazy_lock:
            if self._lease is None:
                self._lease = Lease(self.settings.data_dir)
            return self._lease

    # -- documents ---------------------------------------------------------------------------

    def ingest(
        self,
        paths: Iterable[str | Path],
        *,
        collection: str = DEFAULT_COLLECTION,
        owner: str | None = None,
        prune: bool = False,
        follow_symlinks: bool = False,
        progress: ProgressCallback | None = None,
        embed: bool = True,
        embed_progress: EmbedProgress | None = None,
    ) -> IngestProgress:
        """Ingest files and folders (full-text searchable at once), then embed new chunks;
        returns the totals (``embedded`` included).  Symbolic links out of a folder are
        skipped (``skipped``) unless ``follow_symlinks``."""
        return jobs.ingest_then_embed(
            self._ingestor,
            self._index,
            paths=paths,
            collection=collection,
            owner=owner,
            prune=prune,
            follow_symlinks=follow_symlinks,
            embed=embed,
            progress=progress,
            embed_progress=embed_progress,
        )

    def start_ingest(
        self,
        files: Sequence[UploadedFile],
        *,
        collection: str = DEFAULT_COLLECTION,
        owner: str | None = None,
    ) -> TaskInfo:
        """Queue a task that ingests received ``files`` into ``collection``, then embeds them.

        The files are the task's from here: deleted as it reads them, when it is cancelled before
        it starts, or at once if it cannot be queued (say, a bad collection name).
        """
        files = list(files)
        try:
            collection = check_collection_name(collection)
            job = jobs.ingest_job(
                files, data_dir=self.settings.data_dir, collection=collection, owner=owner
            )
            return self._runner.submit("ingest", job, owner=owner, total=len(files))
        except BaseException:
            discard(files)
            raise

    def upload_allowance(self, *, owner: str | None = None, max_files: int) -> UploadAllowance:
        """How much an upload request by ``owner`` may bring in: the tightest of the request,
        data dir and owner caps (``docchat.documents.quotas``), measured now."""
        limits = self.settings.documents
        data_dir = None
        if limits.max_data_dir_bytes is not None:
            data_dir = directory_size(self.settings.data_dir)
        usage = None
        if limits.max_documents_per_owner is not None or limits.max_bytes_per_owner is not None:
            usage = Usage(*self._registry.usage(owner))
        return upload_allowance(limits, max_files=max_files, data_dir_bytes=data_dir, usage=usage)

    def start_upload(
        self,
        files: Sequence[UploadedFile],
        *,
        collection: str = DEFAULT_COLLECTION,
        owner: str | None = None,
    ) -> UploadStarted:
        """``start_ingest`` for files received over HTTP, saying which documents of the same
        name the upload replaces (replacing is never silent)."""
        files = list(files)
        try:
            collection = check_collection_name(collection)
            replaced = self._ingestor.replaced_by(
                [f.file_name for f in files], collection=collection, owner=owner
            )
        except BaseException:
            discard(files)
            raise
        task = self.start_ingest(files, collection=collection, owner=owner)
        return UploadStarted(task=task, replaced=replaced)

    def reindex(self, document_id: str, *, owner: str | None = None) -> TaskInfo:
        """Queue a task that parses the document's stored original again with the current
        settings (parser, chunk size), replaces its content's chunks, then embeds them.

        Content is shared by every document with the same bytes: all of them are re-indexed and
        show ``indexing`` until their vectors exist.  A document that failed can be re-indexed
        when its original is stored.  DocumentNotFound when unknown or another owner's;
        Conflict when its original is not stored.  A parse that fails now fails the task; an
        indexed document keeps its chunks, a failed one records the new reason.  Cancelled while
        it embeds, the new chunks are searchable by full text and the documents stay
        ``indexing`` until a later embedding run (the next start-up).
        """
        info, _ = self._ingestor.original(document_id, owner=owner)
        job = jobs.reindex_job(info.id, file_name=info.file_name, owner=owner)
        return self._runner.submit("reindex", job, owner=owner, total=1)

    def document(self, document_id: str, *, owner: str | None = None) -> DocumentInfo:
        """One document; DocumentNotFound when unknown or another owner's."""
        return self._registry.get(document_id, owner=owner)

    def documents(
        self,
        *,
        owner: str | None = None,
        collection: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[DocumentInfo]:
        """Documents, newest first, optionally of one collection and a page of them."""
        return self._registry.list(owner=owner, collection=collection, limit=limit, offset=offset)

    def delete_document(self, document_id: str, *, owner: str | None = None) -> DocumentInfo:
        """Delete a document with its chunks, vectors and stored file (when no longer shared);
        returns what it was.  DocumentNotFound when unknown or another owner's."""
        info = self._registry.get(document_id, owner=owner, writable=True)
        self._registry.delete(document_id, owner=owner)
        return info

    def collections(self, *, owner: str | None = None) -> list[Collection]:
        """The collections ``owner`` holds or has been shared, by name, with document counts."""
        return self._registry.collections(owner=owner)

    def share_collection(
        self, name: str, *, owner: str, user_ids: Sequence[str] = (), everyone: bool = False
    ) -> list[str | None]:
        """Share ``owner``'s collection read-only with exactly these users (user ids; and
        everyone), replacing earlier shares; ``[]`` unshares.  Their chats can then search,
        cite and open its documents; only ``owner`` changes them.  Returns the shares (None:
        everyone)."""
        return self._registry.share(name, owner=owner, user_ids=user_ids, everyone=everyone)

    def collection_shares(self, name: str, *, owner: str) -> list[str | None]:
        """Whom ``owner``'s collection is shared with (user ids; None: everyone)."""
        return self._registry.shares(name, owner=owner)

    # -- sources: what citations point at ---------------------------------------------------

    def passage(
        self,
        document_id: str,
        start: int,
        end: int,
        *,
        owner: str | None = None,
        context: int = DEFAULT_CONTEXT_CHARS,
    ) -> Passage:
        """The document's text [start:end] (a citation's offsets) with up to ``context``
        characters each side, its page and section.  InvalidInput for a bad range."""
        return read_passage(self._registry, document_id, start, end, owner=owner, context=context)

    def original_file(self, document_id: str, *, owner: str | None = None) -> OriginalFile:
        """Where the document's original file is kept, its media type and name;
        OriginalNotStored when it is not kept."""
        return original_file(self._registry, document_id, owner=owner)

    def page_highlights(
        self,
        document_id: str,
        page: int,
        *,
        start: int | None = None,
        end: int | None = None,
        owner: str | None = None,
    ) -> PageHighlights:
        """Boxes over [start, end) of the text on page ``page`` of a PDF, in points;
        PageNotFound for a document that is not a PDF or a page it lacks."""
        from docchat.documents.pages import page_highlights  # PDFium, loaded on first use

        return page_highlights(self._registry, document_id, page, start=start, end=end, owner=owner)

    def page_image(
        self,
        document_id: str,
        page: int,
        *,
        start: int | None = None,
        end: int | None = None,
        scale: float = 1.5,
        owner: str | None = None,
    ) -> PageImage:
        """Page ``page`` of a PDF as a PNG with [start, end) of the text highlighted, drawn in
        one of the render slots (Busy when none frees in time), at most
        ``renders.max_page_pixels`` pixels (``scale`` says at what scale it was drawn)."""
        from docchat.documents.pages import page_image

        try:
            with self._renders.slot(f"page {page}'s image"):
                return page_image(
                    self._registry,
                    document_id,
                    page,
                    start=start,
                    end=end,
                    scale=scale,
                    owner=owner,
                    max_pixels=self.settings.renders.max_page_pixels,
                )
        finally:
            give_back_memory()

    def chunks_without_vectors(self) -> int:
        """How many chunks dense search cannot find yet (``embed_pending`` computes them)."""
        return self._index.pending()

    def embed_pending(
        self, *, progress: EmbedProgress | None = None, stop: threading.Event | None = None
    ) -> int:
        """Compute the vectors that are missing; returns how many."""
        return self._index.embed_pending(progress=progress, stop=stop)

    def mark_indexed(self) -> int:
        """Documents still ``indexing`` whose vectors all exist become ``indexed``; how many."""
        return self._index.mark_indexed()

    def embedding_outdated(self) -> bool:
        """Whether chunks lack vectors or the vectors belong to another model than configured.

        Cheap: the embedder object is made (its name is configuration) but its model is not loaded.
        """
        return self._index.outdated()

    # -- search ------------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        k: int | None = None,
        owner: str | None = None,
        filters: SourceFilters | None = None,
        manual_keywords: Sequence[str] = (),
        enable_reranking: bool | None = None,
        mode: SearchMode = "hybrid",
    ) -> list[Hit]:
        """The best passages for ``query``."""
        return self._retriever.search(
            query,
            owner=owner,
            k=k,
            filters=filters,
            manual_keywords=manual_keywords,
            enable_reranking=enable_reranking,
            mode=mode,
        )

    # -- tasks -------------------------------------------------------------------------------

    def task(self, task_id: str, *, owner: str | None = None) -> TaskInfo:
        """A background task's progress and outcome; TaskNotFound when unknown or someone else's."""
        return self._runner.get(task_id, owner=owner)

    def tasks(self, *, owner: str | None = None, limit: int = 50) -> list[TaskInfo]:
        """The most recent background tasks, newest first."""
        return self._runner.list(owner=owner, limit=limit)

    def cancel_task(self, task_id: str, *, owner: str | None = None) -> TaskInfo:
        """Cancel a task: a queued one ends ``cancelled`` at once and never runs, a running one at
        its next step.  TaskNotFound when unknown or someone else's; Conflict once finished."""
        return self._runner.cancel(task_id, owner=owner)

    def wait_for_task(
        self, task_id: str, *, owner: str | None = None, timeout: float = 60.0
    ) -> TaskInfo:
        """The task once it has finished, or as it is after ``timeout`` seconds."""
        return self._runner.wait(task_id, owner=owner, timeout=timeout)

    @property
    def jobs_are_shared(self) -> bool:
        """Whether background jobs go through a queue that other processes' workers take from
        (PostgreSQL), so that ``work`` can run them; SQLite is one process."""
        return self._runner.shared

    def work(self, *, concurrency: int = 2) -> None:
        """Run queued background jobs in the foreground, ``concurrency`` at once, until SIGINT or
        SIGTERM (``docchat worker``); InvalidInput unless ``jobs_are_shared``."""
        self._runner.work(concurrency=concurrency)

    def resume(self) -> TaskInfo | None:
        """At start-up: run the periodic clean-up now (the tasks of processes that died end,
        their uploads go, expired logins are pruned), and embed the chunks left without vectors,
        or all of them after a change of embedding model, as a task (None: nothing to embed).

        Several server processes on one database may each start this; a live process's uploads
        and tasks are never touched (docchat.tasks.leases), and the index ignores a vector that is
        already there, so the cost is duplicate work, never duplicate rows.
        """
        self._runner.cleanup()
        self._runner.start()
        if not self.embedding_outdated():
            # Nothing to embed, yet an older docchat left documents whose vectors exist
            # `indexing`.  (After a change of model the embed job re-marks everything.)
            self.mark_indexed()
            return None
        return self._runner.submit(
            "embed", jobs.embed_job(), owner=None, total=self._index.pending()
        )

    # -- chat --------------------------------------------------------------------------------

    def session(self, session_id: str, *, owner: str | None = None) -> ChatSession:
        """A chat session (without its messages); SessionNotFound when unknown."""
        return self.sessions.get(session_id, owner=owner)

    def create_session(
        self,
        *,
        owner: str | None = None,
        title: str | None = None,
        settings: ChatSettings | dict[str, Any] | None = None,
        session_id: str | None = None,
    ) -> ChatSession:
        """A new chat session (``SessionStore.create``); an unknown ``settings.model`` is
        InvalidInput naming the known ones."""
        self._check_model(settings, field="settings.model")
        return self.sessions.create(
            owner=owner, title=title, settings=settings, session_id=session_id
        )

    def update_session_settings(
        self,
        session_id: str,
        settings: ChatSettings | dict[str, Any],
        *,
        owner: str | None = None,
    ) -> ChatSession:
        """Replace the settings keys given (``SessionStore.update_settings``); an unknown model is
        InvalidInput naming the known ones."""
        self._check_model(settings, field="model")
        return self.sessions.update_settings(session_id, settings, owner=owner)

    def _check_model(self, settings: ChatSettings | dict[str, Any] | None, *, field: str) -> None:
        # The store keeps any name (it knows no models); stored, an unknown one made every later
        # turn of the session fail, far from where it was written.  A model removed from the
        # configuration later still fails at the turn, naming the known ones.
        model = settings.model if isinstance(settings, ChatSettings) else None
        if isinstance(settings, dict):
            model = settings.get("model")
        if isinstance(model, str):
            self._catalog().resolve(model, field=field)

    def export_file(
        self, session_id: str, format: ExportFileFormat = "json", *, owner: str | None = None
    ) -> bytes:
        """The whole session as a file (``SessionStore.export_file``).  Word and PDF are written
        by a child process in one of the render slots (Busy when none frees in time); a session
        of more than ``renders.max_export_chars`` characters is refused (TooLarge) in those
        formats, whose writers take a core for seconds per million characters."""
        if format not in ("docx", "pdf"):
            return self.sessions.export_file(session_id, format, owner=owner)
        from docchat.sessions.export_process import export_in_child

        limits = self.settings.renders
        session = self.sessions.get(session_id, owner=owner, include_messages=True)
        chars = sum(len(m.content) for m in session.messages or ())
        if chars > limits.max_export_chars:
            raise TooLarge(
                f"session {session_id!r} holds {chars:,} characters, more than the "
                f"{limits.max_export_chars:,} a {'PDF' if format == 'pdf' else 'Word'} export "
                "may hold; export it as JSON or Markdown",
                field="format",
            )
        with self._renders.slot(f"the {format} export"):
            return export_in_child(
                session,
                format,
                data_dir=self.settings.data_dir,
                timeout_s=limits.export_timeout_s,
            )

    def document_text(self, document_id: str, *, owner: str | None = None) -> str:
        """A document's extracted text: what citations' offsets index into."""
        return self._registry.text(document_id, owner=owner)

    def models(self) -> list[ModelInfo]:
        """The models that can answer: extractive, the built-in local one, the configured ones."""
        return self._catalog().describe()

    def ask(
        self,
        question: str | Question,
        *,
        session_id: str | None = None,
        owner: str | None = None,
        mode: ChatMode | None = None,
        model: str | None = None,
        options: ChatOptions | None = None,
        cancel: StopFlag | None = None,
        history: Sequence[Turn] | None = None,
    ) -> Answer:
        """Answer a question (in a new session when ``session_id`` is None); both messages are
        stored when it returns.  The turn is a task while it runs (kind ``chat``), so it can be
        cancelled and shows as interrupted if the process dies.

        ``question`` is its text, or a whole ``Question`` (what the faces build from their input;
        then the keywords other than ``cancel`` stay unset: TypeError otherwise)."""
        asked = _asked(
            question,
            session_id=session_id,
            owner=owner,
            mode=mode,
            model=model,
            options=options,
            history=history,
        )
        with self._runner.track("chat", owner=asked.owner) as progress:
            answer = self._chat().ask(
                asked,
                cancel=AnyFlag(progress.cancel_flag, cancel),
                turn_id=progress.id,
                on_event=partial(_report, progress),
            )
            progress.result = _turn_result(answer)
            return answer

    def ask_stream(
        self,
        question: str | Question,
        *,
        session_id: str | None = None,
        owner: str | None = None,
        mode: ChatMode | None = None,
        model: str | None = None,
        options: ChatOptions | None = None,
        cancel: StopFlag | None = None,
        history: Sequence[Turn] | None = None,
    ) -> Iterator[AnswerEvent]:
        """``ask`` as events: retrieval, tokens, progress, then done (or error).  Closing the
        iterator stops the turn; what it produced is stored, marked cancelled."""
        asked = _asked(
            question,
            session_id=session_id,
            owner=owner,
            mode=mode,
            model=model,
            options=options,
            history=history,
        )
        with self._runner.track("chat", owner=asked.owner) as progress:
            cancel_turn = AnyFlag(progress.cancel_flag, cancel)
            for event in self._chat().stream(asked, cancel=cancel_turn, turn_id=progress.id):
                _report(progress, event)
                if isinstance(event, DoneEvent):
                    progress.result = _turn_result(event.answer)
                yield event

    def start_ask(
        self,
        question: str | Question,
        *,
        session_id: str | None = None,
        owner: str | None = None,
        mode: ChatMode | None = None,
        model: str | None = None,
        options: ChatOptions | None = None,
    ) -> TaskInfo:
        """``ask`` as a background task (long modes): poll it, cancel it; its result is the answer.

        The question is validated now (an unknown session fails here, not in the task)."""
        asked = _asked(
            question, session_id=session_id, owner=owner, mode=mode, model=model, options=options
        )
        if asked.session_id is not None:
            self.sessions.get(asked.session_id, owner=asked.owner)
        # Not retried if its worker dies: it ends interrupted, its partial answer kept.
        job = Job(jobs.CHAT, {"question": _question_json(asked)}, retry=False)
        return self._runner.submit("chat", job, owner=asked.owner)

    def _background_turn(self, question: dict[str, Any], progress: Progress) -> dict[str, Any]:
        """Run a ``start_ask`` turn (in whichever process runs the job)."""
        asked = _question_from_json(question)
        chat = self._chat()
        # A turn stops when the workspace closes (at most one model call away) instead of
        # holding the server's shutdown for minutes of a long mode.
        with self._lazy_lock:
            self._turns.add(progress)
        if self._stopping.is_set():
            progress.request_interrupt()
        try:
            answer = chat.ask(
                asked,
                cancel=progress.cancel_flag,
                turn_id=progress.id,
                on_event=partial(_report, progress),
            )
        finally:
            with self._lazy_lock:
                self._turns.discard(progress)
        progress.check_cancelled()  # a stopped turn stored its partial answer; say so
        return answer.model_dump(mode="json")

    def _chat(self) -> ChatEngine:
        if self._engine is None:
            with self._lazy_lock:
                if self._engine is None:
                    self._engine = ChatEngine(
                        settings=self.settings,
                        store=self.sessions,
                        retriever=self._retriever,
                        embedder=self.embedder,
                        models=self._catalog().get,
                    )
        return self._engine

    def _catalog(self) -> ModelCatalog:
        if self._models is None:
            with self._lazy_lock:
                if self._models is None:
                    self._models = ModelCatalog(self.settings.llm, data_dir=self.settings.data_dir)
        return self._models

    def close(self) -> None:
        """Finish running tasks (on PostgreSQL the worker in this process hands its jobs back to
        the queue; with SQLite embedding stops at its next batch; a background turn stops at its
        next step, storing its partial answer, and ends ``interrupted``), end this process's lease
        (its upload folder goes with it), close the model and reranker clients it opened and the
        database connections.  Closing again does nothing."""
        if self._closed:
            return
        self._closed = True
        if self._task_runner is not None:
            # Before the stop flag: a queue's job stopped by it (embedding, at its next batch)
            # would end as if done; handed back first, another worker finishes it.
            self._task_runner.hand_back()
        self._stopping.set()
        with self._lazy_lock:
            turns = list(self._turns)
        for progress in turns:
            progress.request_interrupt()
        if self._task_runner is not None:
            self._task_runner.shutdown()
        if self._lease is not None:
            self._lease.release()
        if self._models is not None:
            self._models.close()
        self._retriever.close()
        if isinstance(self._retriever.reranker, RemoteReranker):
            self._retriever.reranker.close()
        self._index.close()
        self.accounts.close()
        self._db.dispose()


def _asked(
    question: str | Question,
    *,
    session_id: str | None,
    owner: str | None,
    mode: ChatMode | None,
    model: str | None,
    options: ChatOptions | None,
    history: Sequence[Turn] | None = None,
) -> Question:
    """The turn's request: ``question`` itself, or one built from its text and the keywords."""
    if not isinstance(question, Question):
        return Question(
            text=question,
            session_id=session_id,
            owner=owner,
            mode=mode,
            model=model,
            options=options,
            history=history,
        )
    given = {
        "session_id": session_id,
        "owner": owner,
        "mode": mode,
        "model": model,
        "options": options,
        "history": history,
    }
    # A Question already says all of these; a second value beside it would be dropped unseen.
    twice = [name for name, value in given.items() if value is not None]
    if twice:
        raise TypeError(f"a Question carries its own {', '.join(twice)}")
    return question


def _question_json(asked: Question) -> dict[str, Any]:
    """A question as a background job's JSON argument."""
    return {
        "text": asked.text,
        "session_id": asked.session_id,
        "owner": asked.owner,
        "mode": asked.mode,
        "model": asked.model,
        "options": None if asked.options is None else asked.options.model_dump(mode="json"),
        "history": None if asked.history is None else [asdict(t) for t in asked.history],
    }


def _question_from_json(data: dict[str, Any]) -> Question:
    """The question ``_question_json`` wrote."""
    options, history = data.get("options"), data.get("history")
    return Question(
        text=data["text"],
        session_id=data.get("session_id"),
        owner=data.get("owner"),
        mode=data.get("mode"),
        model=data.get("model"),
        options=None if options is None else ChatOptions.model_validate(options),
        history=None if history is None else [Turn(**t) for t in history],
    )


def _report(progress: Progress, event: AnswerEvent) -> None:
    """A long mode's status line, on its task."""
    if isinstance(event, ProgressEvent):
        progress.update(processed=event.done, total=event.total, current=event.status)


def _turn_result(answer: Answer) -> dict[str, Any]:
    return {
        "session_id": answer.session_id,
        "user_message_id": answer.user_message_id,
        "assistant_message_id": answer.assistant_message_id,
    }


WorkspaceFactory = Callable[[Settings], Workspace]
