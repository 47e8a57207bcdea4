"""The web app's page and static files.

``/`` is the app: one HTML file whose ES modules talk to the JSON API like any other client
(``static/js/api.js``); routing between chats and documents happens in the page (``#/…``), so
the server has one HTML route.  Static files live in ``static/`` inside the package, so the wheel
carries them and ``make run`` needs no build step.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from docchat.web.security import PAGE_POLICY

STATIC_DIR = Path(__file__).parent / "static"
#: Where ``static/`` is mounted.
STATIC_PATH = "/static"

router = APIRouter(include_in_schema=False)


@cache
def _page() -> bytes:
    return (STATIC_DIR / "index.html").read_bytes()


@cache
def _login_page() -> bytes:
    return (STATIC_DIR / "login.html").read_bytes()


#: Headers of the app's HTML pages.
_PAGE_HEADERS = {
    "Content-Security-Policy": PAGE_POLICY,
    # A new version of the app must not pair a cached page with new modules.
    "Cache-Control": "no-cache",
}


@router.api_route("/", methods=["GET", "HEAD"])
def index() -> HTMLResponse:
    """The web app (with accounts on, ``api/auth.py`` sends a stranger to ``/login`` first)."""
    return HTMLResponse(_page(), headers=_PAGE_HEADERS)


@router.api_route("/login", methods=["GET", "HEAD"])
def login_page() -> HTMLResponse:
    """The sign-in form; it posts to ``/auth/login`` and goes on to the app."""
    return HTMLResponse(_login_page(), headers=_PAGE_HEADERS)


def static_files() -> StaticFiles:
    """The app's scripts, styles and vendored libraries."""
    return StaticFiles(directory=STATIC_DIR)
