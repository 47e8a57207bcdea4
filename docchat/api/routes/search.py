"""Search: passages of the documents (hybrid retrieval), and the content of chat messages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from docchat.api.deps import OwnerDep, StoreDep, WorkspaceDep
from docchat.api.schemas import (
    DocumentSearch,
    DocumentSearchResults,
    SearchResults,
    error_responses,
)

router = APIRouter(prefix="/api/search", tags=["search"])


@router.post(
    "",
    operation_id="search_documents",
    summary="Search the documents for passages",
    responses=error_responses(403, 413, 415, 422),
)
def search_documents(
    body: DocumentSearch, workspace: WorkspaceDep, owner: OwnerDep
) -> DocumentSearchResults:
    """The best passages for `query`, each with its document, page, section and character span."""
    hits = workspace.search(
        body.query,
        k=body.num_results,
        owner=owner,
        filters=body.source_filters,
        manual_keywords=body.manual_keywords,
        enable_reranking=body.enable_reranking,
        mode=body.mode,
    )
    return DocumentSearchResults(hits=hits)


@router.get(
    "/messages",
    operation_id="search_messages",
    summary="Search the content of chat messages",
    responses=error_responses(422),
)
def search_messages(
    store: StoreDep,
    owner: OwnerDep,
    q: Annotated[
        str, Query(min_length=1, max_length=1000, description="Words that must all appear.")
    ],
    limit: Annotated[int, Query(ge=1, le=200, description="At most this many hits.")] = 20,
) -> SearchResults:
    """Messages containing every word of `q`, best first, with a highlighted snippet."""
    return SearchResults(items=store.search(q, owner=owner, limit=limit))
