"""Reranking: a second opinion on retrieved passages from a remote cross-encoder.

No package ships cross-encoder weights that run offline, so docchat has no built-in reranker:
``make_reranker`` returns None unless ``retrieval.rerank_url`` names a server.  ``RemoteReranker``
speaks the ``/v1/rerank`` dialect of llama.cpp (``--reranking``), vLLM, Jina and Cohere, and the
native ``/rerank`` of text-embeddings-inference (TEI).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol

import httpx

from docchat.config import RetrievalSettings
from docchat.errors import ProviderError

__all__ = ["RemoteReranker", "Reranker", "make_reranker"]


class Reranker(Protocol):
    """Scores documents against a query; higher means more relevant."""

    def rerank(self, query: str, documents: Sequence[str]) -> list[float]:
        """One score per document, in the documents' order."""
        ...


def make_reranker(settings: RetrievalSettings) -> Reranker | None:
    """The reranker the settings name, or None when there is none."""
    if not settings.rerank_url:
        return None
    key = settings.rerank_api_key
    return RemoteReranker(
        url=settings.rerank_url,
        model=settings.rerank_model,
        api_key=key.get_secret_value() if key is not None else None,
    )


class RemoteReranker:
    """Asks a rerank endpoint to score documents; every failure becomes a ``ProviderError``.

    ``url`` is the endpoint itself, e.g. ``http://127.0.0.1:8080/v1/rerank``.  Call ``close()`` (or
    use ``with``) to release its connections.
    """

    def __init__(
        self,
        *,
        url: str,
        model: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self.url = url
        self.model = model
        self.timeout_s = timeout_s
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(headers=headers, timeout=timeout_s)
        self._tei = False

    def rerank(self, query: str, documents: Sequence[str]) -> list[float]:
        """One score per document, in the documents' order (higher is more relevant)."""
        if isinstance(documents, str):
            raise TypeError("rerank() takes a sequence of documents, not a single string")
        if not documents:
            return []
        docs = list(documents)
        response = self._post(self._body(query, docs, tei=self._tei))
        if response.status_code == 422 and not self._tei:
            # TEI's native endpoint wants "texts" where the others want "documents", and rejects a
            # body without it as unprocessable.  Sending both names instead would trip servers
            # that refuse unknown fields, so retry once in TEI's shape and remember it if it works.
            retry = self._post(self._body(query, docs, tei=True))
            if retry.is_success:
                self._tei = True
                response = retry
        if not response.is_success:
            raise ProviderError(f"reranker at {self.url} answered HTTP {response.status_code}")
        return self._scores(response, len(docs))

    def close(self) -> None:
        """Release the HTTP connections."""
        self._client.close()

    def __enter__(self) -> RemoteReranker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _body(self, query: str, documents: list[str], *, tei: bool) -> dict[str, Any]:
        if tei:
            return {"query": query, "texts": documents}
        body: dict[str, Any] = {"query": query, "documents": documents, "top_n": len(documents)}
        if self.model:
            body["model"] = self.model
        return body

    def _post(self, body: dict[str, Any]) -> httpx.Response:
        # httpx's messages carry socket errors and internals; ours name the server.
        try:
            return self._client.post(self.url, json=body)
        except httpx.TimeoutException as exc:
            raise ProviderError(
                f"reranker at {self.url} did not answer within {self.timeout_s:g} s"
            ) from exc
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise ProviderError(
                f"retrieval.rerank_url {self.url!r} is not a valid http(s) URL"
            ) from exc
        except httpx.HTTPError as exc:
            raise ProviderError(f"reranker at {self.url} could not be reached") from exc

    def _scores(self, response: httpx.Response, n: int) -> list[float]:
        def bad(why: str) -> ProviderError:
            return ProviderError(f"reranker at {self.url} sent an unusable answer: {why}")

        try:
            payload: object = response.json()
        except ValueError:
            raise bad("not JSON") from None
        # {"results": [...]} from llama.cpp, vLLM, Jina and Cohere; a bare list from TEI.
        items = payload.get("results") if isinstance(payload, dict) else payload
        if not isinstance(items, list):
            raise bad("no list of results")
        scores: list[float | None] = [None] * n
        for item in items:
            if not isinstance(item, dict):
                raise bad("a result that is not an object")
            index = item.get("index")
            score = item.get("relevance_score", item.get("score"))
            if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < n:
                raise bad("a result index out of range")
            if scores[index] is not None:
                raise bad("two results for one document")
            if not isinstance(score, int | float) or isinstance(score, bool):
                raise bad("a score that is not a number")
            if not math.isfinite(score):
                raise bad("a score that is not finite")
            scores[index] = float(score)
        complete = [s for s in scores if s is not None]
        if len(complete) != n:
            raise bad(f"scores for {len(complete)} of {n} documents")
        return complete
