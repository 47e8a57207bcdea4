"""``/mcp``: the MCP tools (``docchat.mcp``) over streamable HTTP, inside the HTTP app.

A plain route rather than a mounted sub-app, so every request passes the app's middleware first:
the Host allowlist and the cross-site Origin check (``api/guard.py``), the body size limit and
the strict JSON check.  The SDK's own Host/Origin check is turned off: it knows only localhost
names, where ``SiteGuard`` follows the server's settings (``DOCCHAT_SERVER__ALLOWED_HOSTS`` and
``__ALLOWED_ORIGINS``).

The MCP server needs the workspace, which the app's lifespan opens, so it is built there
(``running``) and the route finds it on ``app.state``.  Stateless: each request stands alone,
so several server processes can share the path behind one load balancer and nothing is held
per client between requests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp.server.transport_security import TransportSecuritySettings
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from docchat.api.auth import PRINCIPAL
from docchat.errors import NotAuthenticated
from docchat.mcp import build_server
from docchat.workspace import Workspace

MCP_PATH = "/mcp"


def _owner(request: Any) -> str | None:
    """The owner of a tool call: the user ``Authentication`` found for its HTTP request (None
    with accounts off, when it finds nobody and everything is single-user)."""
    if request is None:  # not over HTTP: never so at /mcp
        raise NotAuthenticated("an MCP call over HTTP came without its request")
    principal = request.scope.get("state", {}).get(PRINCIPAL)
    if principal is not None:
        return str(principal.owner)
    if request.scope["app"].state.settings.auth.mode != "none":  # a second wall, as in deps
        raise NotAuthenticated("sign in first: send an API token")
    return None


@asynccontextmanager
async def running(workspace: Workspace) -> AsyncIterator[ASGIApp]:
    """The MCP server of ``workspace`` as an ASGI app, its session manager running until exit."""
    server = build_server(workspace, owner_of=_owner)
    server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    manager = server.session_manager
    async with manager.run():
        yield manager.handle_request


class _Endpoint:
    """Hands the request to the running MCP server of the app it reached.

    A class, not a function: Starlette passes an ASGI app raw ``scope, receive, send``, where it
    would wrap a function as a request handler.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler: ASGIApp = scope["app"].state.mcp
        await handler(scope, receive, send)


#: The route to add to the app.  POST only: a stateless server has no session to DELETE, and
#: nothing to push on a GET stream, which the SDK would hold open for nothing, and a GET is the
#: one method SiteGuard's Origin check lets through.  Both answer 405, as the protocol allows.
route = Route(MCP_PATH, _Endpoint(), methods=["POST"])
