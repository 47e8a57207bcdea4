"""Documents and collections: upload (indexed by a background task), list, get, delete, re-index;
and what citations point at: passages of the text, the original file, PDF pages with a span
highlighted."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from docchat.api.deps import DocumentId, OwnerDep, UserDep, WorkspaceDep
from docchat.api.downloads import file_headers, read_blocks
from docchat.api.schemas import (
    Collection,
    CollectionList,
    DocumentList,
    TaskAccepted,
    UploadAccepted,
    error_responses,
)
from docchat.api.uploads import MAX_FILES, receive_upload
from docchat.documents.pages import PageHighlights
from docchat.documents.parsers import FORMATS
from docchat.documents.registry import DEFAULT_COLLECTION, DocumentView
from docchat.documents.sources import DEFAULT_CONTEXT_CHARS, MAX_CONTEXT_CHARS, Passage
from docchat.errors import InvalidInput, UserNotFound
from docchat.validation import INT64_MAX
from docchat.workspace import Workspace

#: The one path that takes a large body; the app exempts it from the JSON body limit.
UPLOAD_PATH = "/api/documents"

router = APIRouter(prefix="/api", tags=["documents"])

# The body is parsed by hand as it streams in, so FastAPI cannot describe it: we do.
_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "One or more files (one `files` part each).",
                        },
                        "collection": {
                            "type": "string",
                            "default": DEFAULT_COLLECTION,
                            "description": "The collection to add them to (created if new).",
                        },
                    },
                }
            }
        },
    }
}


@router.post(
    "/documents",
    status_code=202,
    operation_id="upload_documents",
    summary="Upload documents to index",
    responses=error_responses(403, 413, 422),
    openapi_extra=_UPLOAD_BODY,
)
async def upload_documents(
    request: Request,
    response: Response,
    workspace: WorkspaceDep,
    owner: OwnerDep,
) -> UploadAccepted:
    """Receive files and start a task that indexes them; poll `status_url` for its progress.

    A file is named by the relative path the client sends (`folder/sub/file.txt`, as a browser's
    folder upload does); a name holding invisible or control characters (U+202E, U+200B, C0/C1
    controls) is refused (422) naming them.  A file with the same name in the collection is
    replaced, and `replaced` lists those documents (they keep their ids); a name sent twice in one
    request is an error on the second.  Each file may be at most `documents.max_file_bytes`, the
    request at most `documents.max_upload_bytes`; the data dir and owner quotas
    (`max_data_dir_bytes`, `max_documents_per_owner`, `max_bytes_per_owner`) refuse with 413
    `quota_exceeded`.  A file that cannot be read, or whose name and first bytes show a type
    docchat does not read (not stored then), is reported in the task's `errors` and listed with
    status `failed`; the others are indexed regardless.
    """
    settings = workspace.settings
    allowance = await anyio.to_thread.run_sync(
        partial(workspace.upload_allowance, owner=owner, max_files=MAX_FILES)
    )
    form = await receive_upload(
        request,
        workspace.upload_dir,
        max_file_bytes=settings.documents.max_file_bytes,
        allowance=allowance,
        file_field="files",
        text_fields=("collection",),
    )
    started = await anyio.to_thread.run_sync(
        partial(
            workspace.start_upload,
            form.files,
            collection=form.fields.get("collection", DEFAULT_COLLECTION),
            owner=owner,
        )
    )
    status_url = f"/api/tasks/{started.task.id}"
    response.headers["Location"] = status_url
    return UploadAccepted(task_id=started.task.id, status_url=status_url, replaced=started.replaced)


@router.get(
    "/documents",
    operation_id="list_documents",
    summary="List documents, newest first",
    responses=error_responses(422),
)
def list_documents(
    workspace: WorkspaceDep,
    owner: OwnerDep,
    collection: Annotated[str | None, Query(description="Only this collection.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Documents per page.")] = 100,
    offset: Annotated[int, Query(ge=0, le=INT64_MAX, description="Documents to skip.")] = 0,
) -> DocumentList:
    """Documents with their status: `indexing`, `indexed` or `failed` (with `error`)."""
    items = workspace.documents(owner=owner, collection=collection, limit=limit, offset=offset)
    # Views: the library's DocumentInfo also carries the source, a path on the server.
    return DocumentList(items=[info.view() for info in items])


@router.get(
    "/documents/{document_id}",
    operation_id="get_document",
    summary="Get a document",
    responses=error_responses(404, 422),
)
def get_document(document_id: DocumentId, workspace: WorkspaceDep, owner: OwnerDep) -> DocumentView:
    """The document's name, collection, size, status and dates."""
    return workspace.document(document_id, owner=owner).view()


@router.delete(
    "/documents/{document_id}",
    status_code=204,
    response_class=Response,
    operation_id="delete_document",
    summary="Delete a document and its index entries",
    responses=error_responses(403, 404, 415, 422),
)
def delete_document(document_id: DocumentId, workspace: WorkspaceDep, owner: OwnerDep) -> None:
    """Delete the document; search stops finding it at once."""
    workspace.delete_document(document_id, owner=owner)


@router.post(
    "/documents/{document_id}/reindex",
    status_code=202,
    operation_id="reindex_document",
    summary="Re-index a document from its stored original",
    responses=error_responses(403, 404, 409, 415, 422, 502),
)
def reindex_document(
    document_id: DocumentId, response: Response, workspace: WorkspaceDep, owner: OwnerDep
) -> TaskAccepted:
    """Start a task that parses the stored original again with the current settings (parser,
    chunk size), replaces its passages and computes their vectors; poll `status_url`.

    Every document with the same bytes shares the passages, so all of them are re-indexed and show
    `indexing` until done.  A `failed` document can be re-indexed when its original is stored;
    409 when it is not.  A file that cannot be parsed now fails the task and changes nothing.
    """
    task = workspace.reindex(document_id, owner=owner)
    status_url = f"/api/tasks/{task.id}"
    response.headers["Location"] = status_url
    return TaskAccepted(task_id=task.id, status_url=status_url)


@router.get(
    "/collections",
    operation_id="list_collections",
    summary="List collections with their document counts",
)
def list_collections(workspace: WorkspaceDep, owner: OwnerDep) -> CollectionList:
    """The collections, by name."""
    items = [Collection(**c.model_dump()) for c in workspace.collections(owner=owner)]
    return CollectionList(items=items)


class Shares(BaseModel):
    """Whom a collection is shared with, read-only."""

    model_config = ConfigDict(extra="forbid", strict=True)

    usernames: list[Annotated[str, Field(max_length=255)]] = Field(
        default_factory=list, max_length=1000, description="These users may read it."
    )
    everyone: bool = Field(False, description="Every user may read it.")


CollectionName = Annotated[str, Path(description="The collection's name.", max_length=200)]


def _shares_view(workspace: Workspace, shares: list[str | None]) -> Shares:
    names = {user.id: user.username for user in workspace.accounts.users()}
    return Shares(
        usernames=sorted(names[s] for s in shares if s is not None and s in names),
        everyone=None in shares,
    )


@router.get(
    "/collections/{name}/shares",
    operation_id="get_collection_shares",
    summary="Whom one of your collections is shared with",
    responses=error_responses(401, 404, 409, 422),
)
def get_collection_shares(name: CollectionName, workspace: WorkspaceDep, user: UserDep) -> Shares:
    """Only the collection's owner sees its shares."""
    return _shares_view(workspace, workspace.collection_shares(name, owner=user.owner))


@router.put(
    "/collections/{name}/shares",
    operation_id="share_collection",
    summary="Share one of your collections read-only (replaces its shares)",
    responses=error_responses(401, 403, 404, 409, 413, 415, 422),
)
def share_collection(
    name: CollectionName, body: Shares, workspace: WorkspaceDep, user: UserDep
) -> Shares:
    """Those users' chats, searches and the OpenAI and MCP faces then read its documents;
    only you change or delete them, and your chats stay yours.  Send no users and
    `everyone: false` to stop sharing."""
    user_ids = []
    for username in body.usernames:
        try:
            user_ids.append(workspace.accounts.user(username).id)
        except UserNotFound:
            raise InvalidInput(f"no user {username[:80]!r}", field="usernames") from None
    shares = workspace.share_collection(
        name, owner=user.owner, user_ids=user_ids, everyone=body.everyone
    )
    return _shares_view(workspace, shares)


# -- what citations point at: passages, original files, PDF pages ---------------------------------

#: Query parameters naming a span of a document's text, as citations give them.
SpanStart = Annotated[
    int, Query(ge=0, le=INT64_MAX, description="Start offset in the document's text.")
]
SpanEnd = Annotated[int, Query(ge=0, le=INT64_MAX, description="End offset (exclusive).")]
OptionalStart = Annotated[
    int | None,
    Query(ge=0, le=INT64_MAX, description="Start of the span to highlight (with `end`)."),
]
OptionalEnd = Annotated[
    int | None, Query(ge=0, le=INT64_MAX, description="End of the span to highlight (exclusive).")
]
PageNumber = Annotated[int, Path(ge=1, le=INT64_MAX, description="1-based page number.")]
_BINARY = {"schema": {"type": "string", "format": "binary"}}


@router.get(
    "/documents/{document_id}/passage",
    operation_id="get_passage",
    summary="Get a passage of a document's text, with context",
    responses=error_responses(404, 422),
)
def get_passage(
    document_id: DocumentId,
    workspace: WorkspaceDep,
    owner: OwnerDep,
    start: SpanStart,
    end: SpanEnd,
    context: Annotated[
        int,
        Query(ge=0, le=MAX_CONTEXT_CHARS, description="Characters of context on each side."),
    ] = DEFAULT_CONTEXT_CHARS,
) -> Passage:
    """The document's text `[start:end]` (a citation's `char_start`/`char_end` or
    `span_start`/`span_end`), the text around it cut at whitespace, and its page and section.
    At most 20,000 characters; `end` may not pass the end of the text."""
    return workspace.passage(document_id, start, end, owner=owner, context=context)


@router.get(
    "/documents/{document_id}/file",
    response_class=StreamingResponse,
    operation_id="download_document",
    summary="Download a document's original file",
    responses={
        200: {
            "description": "The original file.",
            "content": {fmt.mime_type: _BINARY for fmt in FORMATS},
        },
        **error_responses(404, 422, 502),
    },
)
def download_document(
    document_id: DocumentId,
    workspace: WorkspaceDep,
    owner: OwnerDep,
    inline: Annotated[
        bool,
        Query(description="Ask to show it in the browser: honoured for PDF and plain text only."),
    ] = False,
) -> StreamingResponse:
    """The file as it was uploaded or ingested, as an attachment; with `inline=true` a PDF or
    plain text file is shown in the browser instead.  Other types (HTML above all) are always
    attachments, so no stored page runs on this origin."""
    original = workspace.original_file(document_id, owner=owner)
    media_type = original.media_type
    if original.charset:
        media_type += f"; charset={original.charset}"
    # Opened here, so a file gone meanwhile is a 404 rather than a response cut short; read in
    # blocks from the data dir or the bucket, never whole into memory.
    stream = original.open()
    headers = file_headers(original.media_type, original.file_name, inline=inline)
    return StreamingResponse(
        read_blocks(stream),
        media_type=media_type,
        headers={**headers, "Content-Length": str(original.size)},
    )


@router.get(
    "/documents/{document_id}/pages/{page}/image",
    response_class=Response,
    operation_id="get_page_image",
    summary="Render a PDF page as PNG, a span highlighted",
    responses={
        200: {
            "description": "The page as a PNG image.",
            "content": {"image/png": _BINARY},
            "headers": {
                "X-Docchat-Scale": {
                    "description": "Pixels per point the page was drawn at: less than `scale` "
                    "when the page would pass `renders.max_page_pixels`.",
                    "schema": {"type": "string"},
                }
            },
        },
        **error_responses(404, 422, 502, 503),
    },
)
def get_page_image(
    document_id: DocumentId,
    page: PageNumber,
    workspace: WorkspaceDep,
    owner: OwnerDep,
    start: OptionalStart = None,
    end: OptionalEnd = None,
    scale: Annotated[
        float, Query(ge=0.5, le=3.0, description="Pixels per point (72 per inch).")
    ] = 1.5,
) -> Response:
    """Page `page` of a PDF with the characters of `[start, end)` of the document's text that lie
    on it under a translucent highlight.  404 for a document that is not a PDF or a page past its
    last.  A very large page is drawn at a smaller scale than asked (at most
    `renders.max_page_pixels`, 16 million by default); `X-Docchat-Scale` says which.  503 with
    Retry-After while as many renders as allowed run and wait."""
    image = workspace.page_image(document_id, page, start=start, end=end, scale=scale, owner=owner)
    headers = {"X-Content-Type-Options": "nosniff", "X-Docchat-Scale": f"{image.scale:.4g}"}
    return Response(image.png, media_type="image/png", headers=headers)


@router.get(
    "/documents/{document_id}/pages/{page}/highlights",
    operation_id="get_page_highlights",
    summary="Where a span of the text lies on a PDF page",
    responses=error_responses(404, 422),
)
def get_page_highlights(
    document_id: DocumentId,
    page: PageNumber,
    workspace: WorkspaceDep,
    owner: OwnerDep,
    start: OptionalStart = None,
    end: OptionalEnd = None,
) -> PageHighlights:
    """The page's size in points and boxes (points from its top-left corner) over the characters
    of `[start, end)` on it, for a client that draws its own highlights."""
    return workspace.page_highlights(document_id, page, start=start, end=end, owner=owner)
