"""Serving the app with uvicorn: the options ``docchat serve`` runs it with, in one place.

uvicorn answers what its HTTP parser refuses (a malformed request line, a head longer than h11's
buffer) itself, in ``text/plain``; a 1 MB query string got "Invalid HTTP request received." where
every other error is docchat's JSON.  ``JsonErrorsH11Protocol`` answers those in docchat's shape
instead, and h11's buffer is sized from ``server.max_url_bytes`` and ``server.max_header_bytes``,
which ``guard.HeadSizeLimit`` enforces on heads that fit it (h11 checks only a head that arrives
in several reads).
"""

from __future__ import annotations

import ipaddress
import json
from http import HTTPStatus
from typing import Any, ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from docchat.api.errors import error_body
from docchat.api.guard import Refusal, headers_too_large, url_too_long
from docchat.config import ServerSettings
from docchat.web.security import COMMON_HEADERS

#: Room in h11's buffer for the method, the HTTP version and line ends around the URL and headers.
_HEAD_SLACK = 1024


class JsonErrorsH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, answering a request its parser refuses in docchat's JSON shape:
    414 or 431 for a head past the limits (``limits``), 400 for anything else malformed."""

    limits: ClassVar[ServerSettings] = ServerSettings()

    def send_400_response(self, msg: str) -> None:  # noqa: ARG002  # uvicorn's generic text
        status, code, message = self._refusal()
        body = json.dumps(error_body(code, message), separators=(",", ":")).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *((name.lower().encode(), value.encode()) for name, value in COMMON_HEADERS.items()),
            (b"connection", b"close"),
        ]
        reason = HTTPStatus(status).phrase.encode()
        start = h11.Response(status_code=status, headers=headers, reason=reason)
        for event in (start, h11.Data(data=body)):
            self.transport.write(self.conn.send(event) or b"")
        self.transport.write(self.conn.send(h11.EndOfMessage()) or b"")
        self.transport.close()

    def _refusal(self) -> Refusal:
        buffered, _closed = self.conn.trailing_data
        if len(buffered) > head_buffer_bytes(self.limits):
            # h11 ran out of room before the head ended: in the request line (the URL), or after.
            if b"\r\n" not in buffered:
                return url_too_long(self.limits.max_url_bytes)
            return headers_too_large(self.limits.max_header_bytes)
        return 400, "invalid_http_request", "the request is not valid HTTP/1.1"


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server to this machine (``localhost``, 127.0.0.0/8,
    ``::1``); "" and ``0.0.0.0`` mean every interface."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def head_buffer_bytes(limits: ServerSettings) -> int:
    """The size of h11's buffer for an unfinished request head."""
    return limits.max_url_bytes + limits.max_header_bytes + _HEAD_SLACK


def server_options(limits: ServerSettings) -> dict[str, Any]:
    """uvicorn's options for docchat's HTTP protocol and head limits, for ``uvicorn.run`` or
    ``uvicorn.Config`` besides the host, port and logging."""

    class Protocol(JsonErrorsH11Protocol):
        pass

    Protocol.limits = limits
    return {
        "http": Protocol,
        "h11_max_incomplete_event_size": head_buffer_bytes(limits),
        "proxy_headers": limits.proxy_headers,
        "forwarded_allow_ips": limits.forwarded_allow_ips,
    }
