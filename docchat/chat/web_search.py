"""Web search as another source of passages (``enable_web_search``, off by default).

A ``WebSearch`` provider returns results (URL, title, text); the first one speaks the JSON API of
a SearXNG instance (``chat.web_search_url``).  Results join a turn's passages after the
documents' and are cited as web references (URL and title).  When search is off, not configured
or unreachable, the answer comes from the documents alone and the metadata says why.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from docchat.chat.types import Citation
from docchat.errors import ProviderError
from docchat.retrieval.hybrid import Hit, Scores, snippet

log = logging.getLogger(__name__)

#: A document id no document has: how a web result travels as a passage.
WEB_PREFIX = "web:"
#: Results taken per question.
MAX_RESULTS = 3
#: Characters of a result's text the model sees.
MAX_TEXT_CHARS = 1500


@dataclass(frozen=True, slots=True)
class WebResult:
    """One search result."""

    url: str
    title: str
    text: str


class WebSearch(Protocol):
    """Finds web pages for a query."""

    def search(self, query: str, *, limit: int) -> list[WebResult]:
        """Results, best first; raises ``ProviderError`` when the service fails."""
        ...


class SearxngSearch:
    """A SearXNG instance's JSON API (``/search?format=json``); the instance must allow JSON."""

    def __init__(self, base_url: str, *, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout_s

    def search(self, query: str, *, limit: int) -> list[WebResult]:
        """Results for ``query``, best first."""
        try:
            response = httpx.get(
                f"{self.base_url}/search",
                params={"q": query, "format": "json"},
                timeout=self._timeout,
            )
            response.raise_for_status()
            data: Any = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderError(
                "the web search service did not answer", kind="unavailable", model="searxng"
            ) from exc
        results = data.get("results") if isinstance(data, dict) else None
        if not isinstance(results, list):
            raise ProviderError(
                "the web search service answered without results", kind="bad_response"
            )
        found = []
        for item in results:
            if not isinstance(item, dict) or not isinstance(item.get("url"), str):
                continue
            url = item["url"]
            if not url.startswith(("http://", "https://")):
                continue  # never cite a javascript: or file: link
            title = str(item.get("title") or url)[:300]
            text = " ".join(str(item.get("content") or "").split())[:MAX_TEXT_CHARS]
            if text:
                found.append(WebResult(url=url[:2000], title=title, text=text))
            if len(found) >= limit:
                break
        return found


def web_passages(
    provider: WebSearch | None, query: str, *, rank_from: int
) -> tuple[list[Hit], dict[str, Any]]:
    """Web results as passages, and what the answer's metadata records about the search."""
    if provider is None:
        return [], {"used": False, "reason": "no web search service is configured"}
    try:
        results = provider.search(query, limit=MAX_RESULTS)
    except ProviderError as exc:
        log.warning("web search failed: %s", exc.message)
        return [], {"used": False, "reason": exc.message}
    hits = [
        Hit(
            rank=rank_from + i,
            document_id=WEB_PREFIX + r.url,
            file_name=r.title,
            collection="web",
            page=None,
            section=None,
            char_start=0,
            char_end=len(r.text),
            text=r.text,
            snippet=snippet(r.text, query),
            chunk_id=-(rank_from + i),
            score=0.0,
            scores=Scores(),
        )
        for i, r in enumerate(results, 1)
    ]
    return hits, {"used": True, "results": len(hits)}


def as_web_citations(citations: Sequence[Citation]) -> list[Citation]:
    """Citations of web passages turned into web references (URL and title, no document)."""
    out = []
    for c in citations:
        if c.document_id and c.document_id.startswith(WEB_PREFIX):
            c = Citation(
                n=c.n,
                kind="web",
                url=c.document_id.removeprefix(WEB_PREFIX),
                title=c.file_name,
                quote=c.quote,
                snippet=c.snippet,
            )
        out.append(c)
    return out
