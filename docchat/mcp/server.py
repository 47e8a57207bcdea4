"""``build_server(workspace)``: docchat's tools for Model Context Protocol clients.

Four tools over one ``Workspace``, each a call of one of its methods: ``search_passages``
(``search``), ``get_passage`` (``passage``), ``list_documents`` (``documents``) and ``ask``
(``ask``).  A server is built per workspace and holds nothing else, so two servers on two
workspaces never share state.  The faces run it: ``docchat mcp`` over stdin/stdout, the HTTP app
at ``/mcp`` (``docchat.api.mcp``).

Tools are plain functions: the SDK runs them on a worker thread, so the database and the model
never block its event loop.  Library errors reach the client as a tool error with their code and
message (written for the caller); anything else is the SDK's generic "Error executing tool",
with the traceback in the server log only.  Each call is scoped to the owner that ``owner_of``
finds in the transport's request (``docchat.api.mcp`` reads the signed-in user the HTTP app's
authentication found; over stdin/stdout there is no request, and the local user sees all).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field, ValidationError

from docchat._version import __version__
from docchat.chat.types import Citation
from docchat.documents.registry import DocumentView
from docchat.documents.sources import Passage
from docchat.errors import DocchatError
from docchat.options import ChatMode, FilterEntry, SourceFilters
from docchat.workspace import Workspace

INSTRUCTIONS = """\
docchat holds the user's documents. search_passages finds passages by meaning and by words, \
each with its document, page, section and character offsets; get_passage reads any span of a \
document's text by those offsets, with the text around it; list_documents lists the documents; \
ask answers a question from the documents with numbered references, in a chat session that a \
later ask can continue (session_id)."""

MAX_RESULTS = 50
MAX_LISTED = 1000

Query = Annotated[str, Field(min_length=1, max_length=4000, description="What to look for.")]


class PassageHit(BaseModel):
    """A passage search found, with where it is."""

    document_id: str
    file_name: str
    collection: str
    page: int | None = Field(description="1-based page (PDF) or slide (PPTX).")
    section: str | None = Field(description="Heading path or sheet name.")
    char_start: int = Field(description="Offset of the passage in the document's text.")
    char_end: int = Field(description="Offset just past the passage (get_passage reads around).")
    text: str
    score: float = Field(description="Higher is better; comparable within one search only.")


class SearchResult(BaseModel):
    """The passages found, best first."""

    passages: list[PassageHit]


class DocumentList(BaseModel):
    """Documents, newest first."""

    documents: list[DocumentView]


class AskResult(BaseModel):
    """An answer whose ``[n]`` markers number its ``references``."""

    answer: str
    references: list[Citation]
    session_id: str = Field(description="Pass it to ask again for a follow-up question.")
    abstained: bool = Field(description="The documents did not answer the question.")


@contextmanager
def _tool_errors() -> Iterator[None]:
    """Library errors as tool errors the model can read and act on."""
    try:
        yield
    except DocchatError as exc:
        raise ToolError(f"{exc.code}: {exc.message}") from exc
    except ValidationError as exc:
        # Where, not what: the values are the caller's own and may be long.
        fields = sorted({".".join(str(p) for p in e["loc"]) or "value" for e in exc.errors()})
        raise ToolError(f"invalid_input: check {', '.join(fields)}") from exc


#: Finds whose data a tool call may see from the transport's request (None over stdio).
OwnerOf = Callable[[Any], str | None]


def _single_user(_request: Any) -> str | None:
    return None


def build_server(workspace: Workspace, *, owner_of: OwnerOf = _single_user) -> MCPServer:
    """An MCP server whose tools answer from ``workspace``, as ``owner_of`` says whom for."""

    def _of(ctx: Context | None) -> str | None:
        # The SDK injects the context into every call; None only when a test calls directly.
        return owner_of(ctx.request_context.request) if ctx is not None else None

    server: MCPServer = MCPServer(
        name="docchat",
        title="docchat",
        version=__version__,
        instructions=INSTRUCTIONS,
        # The SDK calls logging.basicConfig with this level when the process has not configured
        # logging; WARNING is Python's own default, so building a server changes nothing.
        log_level="WARNING",
    )
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    @server.tool(annotations=read_only, structured_output=True)
    def search_passages(
        query: Query,
        num_results: Annotated[int, Field(ge=1, le=MAX_RESULTS)] = 5,
        collections: Annotated[
            list[FilterEntry] | None, Field(description="Only these collections (names).")
        ] = None,
        documents: Annotated[
            list[FilterEntry] | None, Field(description="Only these documents (ids).")
        ] = None,
        ctx: Context | None = None,
    ) -> SearchResult:
        """Find the passages of the user's documents that best match a query (hybrid search:
        meaning and words)."""
        with _tool_errors():
            filters = SourceFilters(collections=collections or [], documents=documents or [])
            hits = workspace.search(query, k=num_results, filters=filters, owner=_of(ctx))
        return SearchResult(
            passages=[
                PassageHit(
                    document_id=hit.document_id,
                    file_name=hit.file_name,
                    collection=hit.collection,
                    page=hit.page,
                    section=hit.section,
                    char_start=hit.char_start,
                    char_end=hit.char_end,
                    text=hit.text,
                    score=hit.score,
                )
                for hit in hits
            ]
        )

    @server.tool(annotations=read_only, structured_output=True)
    def get_passage(
        document_id: str,
        start: Annotated[int, Field(ge=0, description="Offset in the document's text.")],
        end: Annotated[int, Field(ge=0, description="Offset just past the span.")],
        ctx: Context | None = None,
    ) -> Passage:
        """Read the span [start, end) of a document's text (offsets as search_passages and ask's
        references give them), with the text around it, its page and section."""
        with _tool_errors():
            return workspace.passage(document_id, start, end, owner=_of(ctx))

    @server.tool(annotations=read_only, structured_output=True)
    def list_documents(
        collection: Annotated[str | None, Field(description="Only this collection.")] = None,
        limit: Annotated[int, Field(ge=1, le=MAX_LISTED)] = 100,
        offset: Annotated[int, Field(ge=0)] = 0,
        ctx: Context | None = None,
    ) -> DocumentList:
        """List the user's documents, newest first: id, file name, collection, status, pages."""
        with _tool_errors():
            found = workspace.documents(
                collection=collection, limit=limit, offset=offset, owner=_of(ctx)
            )
        return DocumentList(documents=[document.view() for document in found])

    # Not read-only: the question and the answer are stored in the chat session.
    @server.tool(annotations=ToolAnnotations(read_only_hint=False, open_world_hint=False))
    def ask(
        question: Query,
        mode: Annotated[
            ChatMode | None,
            Field(description="basic (default), extensive, full_reading or deep_reflection."),
        ] = None,
        session_id: Annotated[
            str | None, Field(description="Continue this chat session (from an earlier ask).")
        ] = None,
        ctx: Context | None = None,
    ) -> AskResult:
        """Answer a question from the user's documents, citing them as [n]; references give
        each cited document, page and exact quote."""
        with _tool_errors():
            answer = workspace.ask(question, mode=mode, session_id=session_id, owner=_of(ctx))
        return AskResult(
            answer=answer.answer,
            references=answer.references,
            session_id=answer.session_id,
            abstained=bool(answer.metadata.get("abstained", False)),
        )

    return server
