"""Middleware that refuses requests before any route sees them.

``SiteGuard`` keeps other web sites out.  A page the user visits can make their browser send
requests to a docchat on 127.0.0.1: "simple" cross-site posts (form-encoded, multipart or text
bodies, no preflight) and, through DNS rebinding, requests whose ``Host`` is the attacker's name.
So: a ``Host`` must be one of ours; a state-changing request whose ``Origin`` (or ``Referer``) is
another site's is refused; and a body must be JSON where JSON is expected, which no simple
cross-site request can send.  Requests without ``Origin`` or ``Referer`` (the CLI, curl, SDKs)
are not cross-site requests and pass.

``InputCheck`` parses every JSON body strictly before a route does (``parse_json_body``): a
lone surrogate, NUL, ``NaN``, a 5,000-digit number or a 10,000-deep array anywhere in it is a 422
naming where, never a driver error inside a transaction.  So is NUL anywhere in the URL.

``HeadSizeLimit`` refuses a URL longer than ``server.max_url_bytes`` (414) and headers larger than
``server.max_header_bytes`` (431); heads too long for uvicorn's parser to finish are answered
alike by ``docchat.api.server``.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Collection, Sequence
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from docchat.api.errors import error_response
from docchat.errors import InvalidInput
from docchat.validation import parse_json_body

#: An error response's status, code and message.
Refusal = tuple[int, str, str]

#: Methods that change state; the others must not, so they need no origin check.
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Names of this machine that DNS rebinding cannot borrow.
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
#: Bind addresses meaning "every interface": not a name a client sends.
_WILDCARDS = frozenset({"", "0.0.0.0", "::"})


def host_name(host: str) -> str:
    """The name part of a ``Host`` header or URL netloc, lower-case: no port, no brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _origin_of(url: str) -> str | None:
    """``scheme://netloc`` of a URL, lower-case; None when it has none (``null``, garbage)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class SiteGuard:
    """Refuse foreign ``Host`` headers (400), cross-site state changes (403) and non-JSON bodies
    sent to JSON endpoints (415).

    ``allowed_hosts`` adds names to the local ones, IP literals and the configured bind host
    (``*`` allows any: only behind a proxy that checks ``Host`` itself).  ``allowed_origins`` lists
    other sites (``https://portal.example``) whose pages may change state.  ``form_paths`` take
    ``multipart/form-data`` instead of JSON.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        bind_host: str,
        allowed_hosts: Collection[str] = (),
        allowed_origins: Collection[str] = (),
        form_paths: Sequence[str] = (),
    ) -> None:
        self.app = app
        hosts = {host_name(h) for h in allowed_hosts} | LOCAL_HOSTS
        if host_name(bind_host) not in _WILDCARDS:
            hosts.add(host_name(bind_host))
        self.any_host = "*" in allowed_hosts
        self.hosts = frozenset(hosts)
        self.origins = frozenset(o for o in map(_origin_of, allowed_origins) if o)
        self.form_paths = tuple(form_paths)

    def host_allowed(self, host: str) -> bool:
        """Whether a request with this ``Host`` header is for us."""
        name = host_name(host)
        return self.any_host or name in self.hosts or _is_ip(name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if not self.host_allowed(host):
            response = error_response(
                400,
                "invalid_host",
                "this server does not answer to that host name; add it to "
                "DOCCHAT_SERVER__ALLOWED_HOSTS if it is yours",
            )
            await response(scope, receive, send)
            return
        if scope["method"] in UNSAFE_METHODS:
            refusal = self._refusal(scope, headers, host)
            if refusal is not None:
                status, code, message = refusal
                await error_response(status, code, message)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope, headers: Headers, host: str) -> tuple[int, str, str] | None:
        claimed = headers.get("origin")
        if claimed is None and "referer" in headers:
            claimed = headers["referer"]
        if claimed is not None:
            origin = _origin_of(claimed)
            same_site = origin is not None and urlsplit(origin).netloc == host.strip().lower()
            if not same_site and origin not in self.origins:
                return (
                    403,
                    "cross_site_request",
                    "requests from another web site may not change anything here; add its "
                    "origin to DOCCHAT_SERVER__ALLOWED_ORIGINS if you trust it",
                )
        content_type = headers.get("content-type")
        if content_type is None:
            return None  # no body, or one FastAPI will refuse as not JSON
        if str(scope["path"]).startswith(self.form_paths):
            return None  # the upload route checks for multipart itself
        if not _is_json(content_type):
            return (
                415,
                "unsupported_media_type",
                "send the request body as JSON with 'Content-Type: application/json'",
            )
        return None


def url_too_long(max_bytes: int) -> Refusal:
    """The 414 for a request target (path and query string) over ``max_bytes``."""
    return (
        414,
        "uri_too_long",
        f"the URL is longer than {max_bytes:,} bytes (DOCCHAT_SERVER__MAX_URL_BYTES); send "
        "long values in a JSON body",
    )


def headers_too_large(max_bytes: int) -> Refusal:
    """The 431 for request headers over ``max_bytes`` in all."""
    return (
        431,
        "request_header_fields_too_large",
        f"the request headers are larger than {max_bytes:,} bytes in all "
        "(DOCCHAT_SERVER__MAX_HEADER_BYTES)",
    )


class HeadSizeLimit:
    """Refuse a URL over ``max_url_bytes`` (414) and headers over ``max_header_bytes`` (431)."""

    def __init__(self, app: ASGIApp, *, max_url_bytes: int, max_header_bytes: int) -> None:
        self.app = app
        self.max_url_bytes = max_url_bytes
        self.max_header_bytes = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        status, code, message = refusal
        await error_response(status, code, message)(scope, receive, send)

    def _refusal(self, scope: Scope) -> Refusal | None:
        path = scope.get("raw_path") or str(scope["path"]).encode()
        query = scope.get("query_string", b"")
        if len(path) + (len(query) + 1 if query else 0) > self.max_url_bytes:
            return url_too_long(self.max_url_bytes)
        # Each header line as sent: name, ": ", value, CRLF.
        if sum(len(k) + len(v) + 4 for k, v in scope["headers"]) > self.max_header_bytes:
            return headers_too_large(self.max_header_bytes)
        return None


class InputCheck:
    """Refuse what no store can hold before a route sees it: NUL in the URL (a percent-decoded
    ``%00`` in a path or query parameter), and JSON bodies ``parse_json_body`` refuses.

    JSON bodies are parsed strictly and the route gets the same bytes.  Sits inside the body
    size limit, so the body it buffers is bounded.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or b"%00" in scope["query_string"]:
            response = error_response(
                422, "invalid_input", "the URL contains a NUL character (%00)", field="url"
            )
            await response(scope, receive, send)
            return
        content_type = Headers(scope=scope).get("content-type")
        if content_type is None or not _is_json(content_type):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left (or the size limit answered): nothing to do
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body:
            try:
                parse_json_body(body)
            except json.JSONDecodeError:
                pass  # the route reports malformed JSON in its usual shape
            except InvalidInput as exc:
                response = error_response(422, exc.code, exc.message, field=exc.field)
                await response(scope, receive, send)
                return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
