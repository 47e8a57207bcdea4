"""``/docs``: the API documentation page (Swagger UI), served from the package.

FastAPI's built-in page loads Swagger UI from a CDN and starts it with an inline script, so it is
blank offline and under a ``script-src 'self'`` Content-Security-Policy.  This page loads the
vendored files (``api/static/swagger``, see VENDORED.md there) and starts Swagger UI from a static
file (``api/static/docs.js``); the OpenAPI URL reaches that script as a ``data-`` attribute.

Assets are served under ``/docs/assets/<digest>/<name>``, the digest being of the file's content:
the URL changes whenever the file does, so browsers may keep each one for a year.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from html import escape
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from docchat.errors import NotFound, shown_id

router = APIRouter(include_in_schema=False)

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"

#: What the page loads: name → (file, media type).  Only these are served.
_FILES: dict[str, tuple[Path, str]] = {
    "swagger-ui-bundle.js": (STATIC_DIR / "swagger" / "swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": (STATIC_DIR / "swagger" / "swagger-ui.css", "text/css"),
    "favicon-32x32.png": (STATIC_DIR / "swagger" / "favicon-32x32.png", "image/png"),
    "docs.js": (STATIC_DIR / "docs.js", "text/javascript"),
}

#: A year: the URL holds the content's digest, so a cached copy is never stale.
ASSET_CACHE_CONTROL = "public, max-age=31536000, immutable"

#: The page's own policy.  Swagger UI needs no inline script; its styles are set through the DOM
#: (CSSOM), which ``style-src 'self'`` allows, and its icons are ``data:`` SVGs.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)


@dataclass(frozen=True)
class Asset:
    """One file the docs page loads."""

    name: str
    path: Path
    media_type: str
    digest: str

    @property
    def url_path(self) -> str:
        """Where it is served, below the app's root path."""
        return f"{ASSETS_PATH}/{self.digest}/{self.name}"


@cache
def assets() -> dict[str, Asset]:
    """The page's files with the digests of their content (read once per process)."""
    found: dict[str, Asset] = {}
    for name, (path, media_type) in _FILES.items():
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        charset = "; charset=utf-8" if media_type.startswith("text/") else ""
        found[name] = Asset(name, path, media_type + charset, digest)
    return found


def docs_html(*, title: str, root_path: str, openapi_url: str) -> str:
    """The page: no inline script or style, every URL on this server."""
    files = {name: escape(root_path + a.url_path) for name, a in assets().items()}
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} API</title>
<link rel="icon" type="image/png" href="{files["favicon-32x32.png"]}">
<link rel="stylesheet" href="{files["swagger-ui.css"]}">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{escape(root_path + openapi_url)}"></div>
<script src="{files["swagger-ui-bundle.js"]}"></script>
<script src="{files["docs.js"]}"></script>
</body>
</html>
"""


@router.get(DOCS_PATH)
def docs_page(request: Request) -> HTMLResponse:
    """Swagger UI for this server's OpenAPI document."""
    app = request.app
    html = docs_html(
        title=app.title,
        root_path=request.scope.get("root_path", ""),
        openapi_url=app.openapi_url or "/openapi.json",
    )
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": DOCS_CSP,
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get(ASSETS_PATH + "/{digest}/{name}")
def docs_asset(digest: str, name: str) -> FileResponse:
    """One of the page's files; 404 for any other name or an outdated digest."""
    asset = assets().get(name)
    if asset is None or asset.digest != digest:
        raise NotFound(f"no file {shown_id(name)!r} at this address")
    return FileResponse(
        asset.path,
        media_type=asset.media_type,
        headers={"Cache-Control": ASSET_CACHE_CONTROL, "X-Content-Type-Options": "nosniff"},
    )
