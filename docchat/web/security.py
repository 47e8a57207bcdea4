"""Response headers that keep the web app's pages to themselves.

The page's policy (``PAGE_POLICY``) allows script and style from this server only: no inline
script, no inline ``style`` attributes in markup, no plugins, no framing, no ``<base>``, and
images from here, ``data:`` and ``blob:`` only.  Markdown from documents and models is sanitised
before it reaches the page (``static/js/markdown.js``); the policy is the second wall, so a
sanitiser bug still cannot run script or load anything from another host.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The Content-Security-Policy of the app's HTML.
PAGE_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

#: Sent with every response.
COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class SecurityHeaders:
    """Add ``COMMON_HEADERS`` to every response that does not set them itself.

    The Content-Security-Policy is set by the views that serve the app's HTML, not here: other
    HTML (the API docs at /docs) brings its own needs.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in COMMON_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
