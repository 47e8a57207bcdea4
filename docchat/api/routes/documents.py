"""Documents and collections: upload (indexed by a background task), list, get, delete."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Query, Request, Response

from docchat.api.deps import DocumentId, OwnerDep, WorkspaceDep
from docchat.api.schemas import (
    Collection,
    CollectionList,
    DocumentList,
    UploadAccepted,
    error_responses,
)
from docchat.api.uploads import receive_upload
from docchat.documents.registry import DEFAULT_COLLECTION, DocumentView
from docchat.validation import INT64_MAX

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
    folder upload does).  A file with the same name in the collection is replaced; a name sent
    twice in one request is an error on the second.  Each file may be at most
    `documents.max_file_bytes`.  A file that cannot be read is reported in the task's `errors`
    and listed with status `failed`; the others are indexed regardless.
    """
    settings = workspace.settings
    form = await receive_upload(
        request,
        workspace.upload_dir,
        max_file_bytes=settings.documents.max_file_bytes,
        file_field="files",
        text_fields=("collection",),
    )
    task = await anyio.to_thread.run_sync(
        partial(
            workspace.start_ingest,
            form.files,
            collection=form.fields.get("collection", DEFAULT_COLLECTION),
            owner=owner,
        )
    )
    status_url = f"/api/tasks/{task.id}"
    response.headers["Location"] = status_url
    return UploadAccepted(task_id=task.id, status_url=status_url)


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


@router.get(
    "/collections",
    operation_id="list_collections",
    summary="List collections with their document counts",
)
def list_collections(workspace: WorkspaceDep, owner: OwnerDep) -> CollectionList:
    """The collections, by name."""
    items = [Collection(**c.model_dump()) for c in workspace.collections(owner=owner)]
    return CollectionList(items=items)
