"""Serves the dashboard: ``/`` is its one HTML page, ``/dashboard/static/...`` its files.

The files are served as they are in the repository and the wheel: plain ES modules, no
build step (ADR 0013). The page's scripts call the JSON API with the session cookie that
``POST /dashboard/session`` sets (``solder.api.sessions``).
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from solder.errors import NotFound

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).parent / "static"
TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html; charset=utf-8"}
NAME = re.compile(r"^(js/)?[a-z][a-z0-9-]*\.(js|css)$")
HEADERS = {
    "Cache-Control": "no-cache",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: http: "
        "https:; connect-src 'self'; form-action 'none'; base-uri 'none'; "
        "frame-ancestors 'none'"
    ),
}


@router.get("/")
def index() -> Response:
    return FileResponse(STATIC / "index.html", media_type=TYPES[".html"], headers=HEADERS)


@router.get("/dashboard/static/{name:path}")
def static_file(name: str) -> Response:
    if not NAME.match(name) or not (STATIC / name).is_file():
        raise NotFound(f"name: no dashboard file {name!r}", field="name")
    path = STATIC / name
    return FileResponse(path, media_type=TYPES[path.suffix], headers=HEADERS)
