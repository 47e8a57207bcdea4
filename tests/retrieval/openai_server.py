"""A real OpenAI-compatible server for tests, standing in for llama.cpp, TEI or a paid API.

``POST /v1/embeddings`` embeds with the real MiniLM embedder.  ``POST /v1/rerank`` (llama.cpp,
vLLM, Jina and Cohere shape) and ``POST /rerank`` (TEI's native shape) score documents by the cosine
similarity of their MiniLM vectors to the query's: deterministic, and right about meaning.

Under ``/bad/{kind}/`` the same endpoints misbehave in one way each (see ``BAD_EMBEDDINGS`` and
``BAD_RERANK``), and under ``/slow/`` they answer after a second, so the clients' error handling
meets real HTTP.  ``serve`` runs an app with uvicorn
in a thread on a free port, as httpx's own test suite does.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import uvicorn
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel

from docchat.retrieval.embedders import Embedder

#: Ways /bad/{kind}/v1/embeddings misbehaves.
BAD_EMBEDDINGS = [
    "not-json",
    "no-data",
    "too-few",
    "not-numbers",
    "ragged",
    "zero-vector",
    "wrong-dimension",
    "duplicate-index",
    "http-500",
]
#: Ways /bad/{kind}/v1/rerank misbehaves.
BAD_RERANK = [
    "not-json",
    "no-results",
    "missing-document",
    "index-out-of-range",
    "score-not-number",
    "score-nan",
    "duplicate-index",
    "http-500",
]


class EmbeddingsRequest(BaseModel):
    input: str | list[str]
    model: str
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None
    user: str | None = None


class RerankRequest(BaseModel):
    query: str
    documents: list[str]
    model: str | None = None
    top_n: int | None = None


class TEIRerankRequest(BaseModel):
    query: str
    texts: list[str]
    truncate: bool = False
    raw_scores: bool = False
    return_text: bool = False


@dataclass
class Seen:
    """What the server was asked, for tests to inspect."""

    embedding_batches: list[list[str]] = field(default_factory=list)
    rerank_bodies: list[dict[str, Any]] = field(default_factory=list)
    authorization: list[str | None] = field(default_factory=list)

    def clear(self) -> None:
        """Forget everything seen so far."""
        self.embedding_batches.clear()
        self.rerank_bodies.clear()
        self.authorization.clear()


def create_app(embedder: Embedder) -> FastAPI:
    """The server's app; its ``state.seen`` records the requests."""
    app = FastAPI()
    seen = Seen()
    app.state.seen = seen

    def embedding_list(texts: list[str], model: str, encoding: str) -> dict[str, Any]:
        vectors = embedder.embed(texts)
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": (
                    base64.b64encode(v.astype("<f4").tobytes()).decode()
                    if encoding == "base64"
                    else v.tolist()
                ),
            }
            for i, v in enumerate(vectors)
        ]
        tokens = sum(len(t.split()) for t in texts)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return {"object": "list", "data": data, "model": model, "usage": usage}

    def similarity(query: str, documents: list[str]) -> list[float]:
        vectors = embedder.embed([query, *documents])
        return [float(s) for s in vectors[1:] @ vectors[0]]

    @app.post("/v1/embeddings")
    def embeddings(body: EmbeddingsRequest, request: Request) -> dict[str, Any]:
        texts = [body.input] if isinstance(body.input, str) else body.input
        seen.embedding_batches.append(texts)
        seen.authorization.append(request.headers.get("authorization"))
        return embedding_list(texts, body.model, body.encoding_format)

    @app.post("/v1/rerank")
    def rerank(body: RerankRequest, request: Request) -> dict[str, Any]:
        seen.rerank_bodies.append(body.model_dump())
        seen.authorization.append(request.headers.get("authorization"))
        scores = similarity(body.query, body.documents)
        ranked = sorted(range(len(scores)), key=lambda i: scores[i], reverse=True)
        top = ranked[: body.top_n] if body.top_n is not None else ranked
        return {
            "model": body.model or "minilm-cosine",
            "results": [{"index": i, "relevance_score": scores[i]} for i in top],
        }

    @app.post("/rerank")
    def tei_rerank(body: TEIRerankRequest) -> list[dict[str, Any]]:
        seen.rerank_bodies.append(body.model_dump())
        scores = similarity(body.query, body.texts)
        ranked = sorted(range(len(scores)), key=lambda i: scores[i], reverse=True)
        return [{"index": i, "score": scores[i]} for i in ranked]

    # Under /slow/ answers come after a second, for clients' timeouts.
    @app.post("/slow/v1/rerank")
    async def slow_rerank() -> dict[str, Any]:
        await asyncio.sleep(1.0)
        return {"results": []}

    @app.post("/slow/v1/embeddings")
    async def slow_embeddings() -> dict[str, Any]:
        await asyncio.sleep(1.0)
        return {"object": "list", "data": []}

    @app.post("/bad/{kind}/v1/embeddings")
    def bad_embeddings(kind: str, body: EmbeddingsRequest) -> Response:
        texts = [body.input] if isinstance(body.input, str) else body.input
        good = embedding_list(texts, body.model, "float")
        data = good["data"]
        if kind == "not-json":
            return PlainTextResponse("<html>502 Bad Gateway</html>")
        if kind == "no-data":
            return JSONResponse({"object": "list", "model": body.model})
        if kind == "too-few":
            good["data"] = data[:-1]
        elif kind == "not-numbers":
            data[0]["embedding"] = "oops"
        elif kind == "ragged":
            data[-1]["embedding"] = data[-1]["embedding"][:-1]
        elif kind == "zero-vector":
            data[0]["embedding"] = [0.0] * len(data[0]["embedding"])
        elif kind == "wrong-dimension":
            for item in data:
                item["embedding"] = item["embedding"][:100]
        elif kind == "duplicate-index":
            data[-1]["index"] = 0
        elif kind == "http-500":
            return JSONResponse({"error": {"message": "secret internals"}}, status_code=500)
        else:
            raise HTTPException(404)
        return JSONResponse(good)

    @app.post("/bad/{kind}/v1/rerank")
    def bad_rerank(kind: str, body: RerankRequest) -> Response:
        scores = similarity(body.query, body.documents)
        results: list[dict[str, Any]] = [
            {"index": i, "relevance_score": s} for i, s in enumerate(scores)
        ]
        if kind == "not-json":
            return PlainTextResponse("<html>502 Bad Gateway</html>")
        if kind == "no-results":
            return JSONResponse({"data": results})
        if kind == "missing-document":
            results = results[1:]
        elif kind == "index-out-of-range":
            results[0]["index"] = len(results)
        elif kind == "score-not-number":
            results[0]["relevance_score"] = "high"
        elif kind == "score-nan":
            # Python's json writes NaN, which many servers emit and strict parsers reject.
            return Response(
                '{"results": [{"index": 0, "relevance_score": NaN}]}',
                media_type="application/json",
            )
        elif kind == "duplicate-index":
            results[-1]["index"] = 0
        elif kind == "http-500":
            return JSONResponse({"error": "secret internals"}, status_code=500)
        else:
            raise HTTPException(404)
        return JSONResponse({"results": results})

    return app


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the moment of asking)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run ``app`` on a free local port in a thread; yields its base URL, e.g. http://127.0.0.1:N."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", lifespan="off", ws="none", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    # Binding first and handing uvicorn the socket avoids a race for the port.
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the test server did not start")
            threading.Event().wait(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
