"""``create_app(settings)``: the HTTP application, assembled in one constructor.

Routes, middleware, exception handlers and the lifespan are all given to ``FastAPI(...)`` at once,
so this file shows the whole app.  Nothing is global: two apps with different settings can run side
by side (the tests do).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from docchat._version import __version__
from docchat.api.auth import Authentication
from docchat.api.errors import EXCEPTION_HANDLERS, UnexpectedErrors, error_response
from docchat.api.guard import HeadSizeLimit, InputCheck, SiteGuard
from docchat.api.mcp import route as mcp_route
from docchat.api.mcp import running as mcp_running
from docchat.api.openapi import publish_model_names
from docchat.api.routes import (
    auth,
    chat,
    docs,
    documents,
    health,
    modes,
    openai,
    search,
    sessions,
    tasks,
)
from docchat.api.schemas import error_responses
from docchat.config import Settings
from docchat.llm.models import ModelCatalog
from docchat.web import views as web
from docchat.web.security import SecurityHeaders
from docchat.workspace import Workspace, WorkspaceFactory

#: Path prefixes the JSON body limit leaves alone.  The upload route streams its files to disk and
#: enforces ``settings.documents.max_file_bytes`` on each itself.
BODY_LIMIT_EXEMPT: tuple[str, ...] = (documents.UPLOAD_PATH,)


class BodySizeLimit:
    """Answer 413 to a request whose body is larger than ``max_bytes``.

    A declared Content-Length over the limit is refused before anything is read.  A chunked body is
    counted as it streams in; once over, the 413 goes out and the app sees the client disconnect,
    so it stops reading and whatever it answers is dropped.
    """

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, exempt_prefixes: Sequence[str] = ()
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt_prefixes = tuple(exempt_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (
            self.exempt_prefixes and str(scope["path"]).startswith(self.exempt_prefixes)
        ):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._reject(scope, receive, send)
            return

        received = 0
        started = False  # the app began its response: too late for a 413
        rejected = False  # our 413 went out instead

        async def limited_receive() -> Message:
            nonlocal received, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    if not started:
                        rejected = True
                        await self._reject(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if rejected:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, guarded_send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413, "request_too_large", f"request body is larger than {self.max_bytes} bytes"
        )
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None  # the HTTP server refuses a malformed header before we see it


def create_app(settings: Settings, *, workspace: WorkspaceFactory = Workspace) -> FastAPI:
    """The docchat HTTP app for ``settings``; its workspace opens when the server starts.

    ``workspace`` builds the workspace from the settings (tests pass one that shares an embedder).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Opening runs the migrations, which may wait on another process's lock: off the loop.
        opened = await anyio.to_thread.run_sync(workspace, settings)
        app.state.workspace = opened
        try:
            # Tasks and uploads of dead processes are cleaned up (the periodic clean-up, run
            # now); chunks left without vectors (by a crash, say) are embedded in the background,
            # the embedder loading only then.
            await anyio.to_thread.run_sync(opened.resume)
            # The MCP tools at /mcp answer from this workspace; they stop before it closes.
            async with mcp_running(opened) as mcp_app:
                app.state.mcp = mcp_app
                yield
        finally:
            # Embedding stops at its next batch; ingestion finishes its files.
            await anyio.to_thread.run_sync(opened.close)

    app = FastAPI(
        title="docchat",
        version=__version__,
        summary="Chat with your documents: persistent sessions, cited answers.",
        lifespan=lifespan,
        exception_handlers=dict(EXCEPTION_HANDLERS),
        # Outermost first: errors are caught around everything; a foreign site is refused
        # before its body is read; the JSON check buffers only what the size limit let in.
        middleware=[
            Middleware(UnexpectedErrors),
            Middleware(SecurityHeaders),
            Middleware(
                HeadSizeLimit,
                max_url_bytes=settings.server.max_url_bytes,
                max_header_bytes=settings.server.max_header_bytes,
            ),
            Middleware(
                SiteGuard,
                bind_host=settings.server.host,
                allowed_hosts=settings.server.allowed_hosts,
                allowed_origins=settings.server.allowed_origins,
                form_paths=(documents.UPLOAD_PATH,),
            ),
            # Who is asking, before any body is read (api/auth.py; nothing with auth.mode none).
            Middleware(Authentication, settings=settings.auth),
            Middleware(
                BodySizeLimit,
                max_bytes=settings.server.max_request_bytes,
                exempt_prefixes=BODY_LIMIT_EXEMPT,
            ),
            Middleware(InputCheck),
        ],
        # Any request may meet the Host check and the URL and header limits (api/guard.py).
        responses=error_responses(400, 414, 431, *((401,) if settings.auth.mode != "none" else ())),
        # /docs is our own page (routes/docs.py): FastAPI's loads Swagger UI from a CDN.
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    # The schema names the models this configuration has (a catalog creates none until asked).
    names = ModelCatalog(settings.llm).names()
    publish_model_names(app, names, openai.model_ids(names, settings.llm.default_model))
    routers = [
        module.router
        for module in (
            health,
            auth,
            sessions,
            chat,
            modes,
            documents,
            tasks,
            search,
            openai,
            docs,
        )
    ]
    for router in routers:
        app.include_router(router)
    app.router.routes.append(mcp_route)  # MCP over streamable HTTP (api/mcp.py)
    # The web app: its page at / (docchat/web/views.py) and its files.
    app.include_router(web.router)
    app.mount(web.STATIC_PATH, web.static_files(), name="static")
    # What a 405 lists in Allow: the methods of every route at a path (api/errors.py).
    app.state.route_methods = [
        (route.path_regex, route.methods)
        for route in [*app.routes, *(r for router in routers for r in router.routes)]
        if isinstance(route, Route) and route.methods
    ]
    return app
