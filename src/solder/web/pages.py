"""The install modal's pages and the frontend SDK's files.

``GET /forge-install`` and ``GET /authenticate-app`` take Alloy's query parameters (the token
rides in the query, as with Alloy, so the pages send ``Referrer-Policy: no-referrer``). The
HTML is built here, with the plan (``solder.web.plan``) embedded as JSON; ``modal.js`` walks
the steps. A token that is expired, forged, or of a user who no longer exists gets the same
page with a message saying what to do: never a blank frame, even when the SDK keeps the modal
hidden (the page asks to be shown).

``GET /sdk/solder.js`` (a classic script defining ``window.Alloy``) and ``/sdk/solder.mjs``
(the ES module) are served from ``sdk/``, the npm package folder, as they are: no build step.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from solder.api.auth import ServicesDep
from solder.errors import BadInput, NotFound, SolderError, Unauthorized
from solder.security.tokens import read_user_token
from solder.web import framing, plan

router = APIRouter(include_in_schema=False)
HERE = Path(__file__).parent
SDK_FILES = {"solder.js": "text/javascript", "solder.mjs": "text/javascript"}
STATIC_FILES = {"modal.js": "text/javascript", "modal.css": "text/css"}
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: http: "
        "https:; connect-src 'self'; form-action 'none'; base-uri 'none'"
    ),
}
Q = Annotated[str | None, Query()]

EXPIRED = (
    "This link has expired",
    "For your security, this window only works for a short time. Close it and open it again "
    "from the app you came from.",
)
FOREIGN = (
    "This link is not valid",
    "This window was opened with a token this server did not issue, or for an account that no "
    "longer exists. Close it and open it again from the app you came from.",
)


def _page(
    title: str, body: str, data: dict[str, Any], frame: str, status: int = 200
) -> HTMLResponse:
    blob = json.dumps(data).replace("<", "\\u003c")
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><link rel="stylesheet" href="/modal/modal.css"></head>
<body><main class="modal" aria-labelledby="title">
<header class="top"><h1 id="title" tabindex="-1">{html.escape(title)}</h1>
<button type="button" id="close" class="close" aria-label="Close">&times;</button></header>
<p id="stepper" class="stepper"></p>
<div id="alert" class="alert" role="alert" aria-live="assertive"></div>
<div id="status" class="status" role="status" aria-live="polite"></div>
<section id="step" class="step">{body}</section>
</main>
<script id="plan" type="application/json">{blob}</script>
<script src="/modal/modal.js"></script></body></html>"""
    policy = f"{HEADERS['Content-Security-Policy']}; {frame}"
    headers = HEADERS | {"Content-Security-Policy": policy}
    return HTMLResponse(page, status_code=status, headers=headers)


def _refusal(exc: SolderError, origin: str | None, frame: str) -> HTMLResponse:
    if isinstance(exc, Unauthorized):
        heading, text = EXPIRED if "expired" in exc.message else FOREIGN
    elif isinstance(exc, NotFound) and exc.field == "userId":
        heading, text = FOREIGN
    elif exc.field in ("app", "category"):
        heading, text = "This account cannot be connected", exc.message
    else:
        heading, text = "This cannot be installed", exc.message
    body = f'<p class="message">{html.escape(text)}</p>'
    data = {"error": heading, "message": text, "parentOrigin": origin}
    return _page(heading, body, data, frame, status=exc.status if exc.status < 500 else 400)


def _render(services: Any, req: plan.Request, origin: str | None, frame: str) -> Response:
    try:
        claims = read_user_token(services.token_secret, req.token)
        with services.reader.connect() as conn:
            data = plan.build(conn, services, claims, req)
    except SolderError as exc:
        return _refusal(exc, origin, frame)
    verb = {"install": "Install", "edit": "Edit", "update": "Update"}[req.operation]
    if data["mode"] == "authenticate":
        names = [a["name"] for a in data["apps"]]
        title = req.title or (f"Connect {names[0]}" if len(names) == 1 else "Connect an account")
    else:
        title = req.title or f"{verb} {data['integrationName']}"
    data |= {
        "token": req.token,
        "parentOrigin": origin,
        "title": title,
        "hide": req.hide,
        "alwaysShowAuthentication": req.always_show_auth or data["mode"] == "authenticate",
        "operation": req.operation,
        "preFilledValues": req.pre_filled,
    }
    body = '<p class="message">Loading…</p><noscript>This window needs JavaScript.</noscript>'
    return _page(title, body, data, frame)


@router.get("/forge-install")
def forge_install(
    request: Request,
    services: ServicesDep,
    token: Q = None,
    integration_id: Annotated[str | None, Query(alias="integrationId")] = None,
    ids: Annotated[list[str] | None, Query(alias="id")] = None,
    version_ids: Annotated[list[str] | None, Query(alias="versionId")] = None,
    pre_filled: Annotated[str | None, Query(alias="preFilledValues")] = None,
    output_override: Annotated[str | None, Query(alias="outputOverride")] = None,
    hide: Q = None,
    always: Annotated[str | None, Query(alias="alwaysShowAuthentication")] = None,
    operation: Q = None,
    title: Q = None,
    origin: Q = None,
) -> Response:
    """``versionId`` repeats: with ``id=`` one per workflow, in order; with ``integrationId``
    version ids of its workflows. ``forgeMode`` is accepted and means nothing here."""
    where = plan.parent_origin(origin, request.headers.get("referer"))
    frame = framing.for_token(services, token)
    if not token:
        return _refusal(Unauthorized("token: missing"), where, frame)
    try:
        req = plan.Request(
            token=token,
            integration_id=integration_id,
            workflow_ids=ids or [],
            version_ids=version_ids or [],
            pre_filled=plan.parse_json_object(pre_filled, "preFilledValues"),
            output_override=output_override,
            hide=plan.flag(hide),
            always_show_auth=plan.flag(always),
            operation=operation or "install",
            title=title,
        )
    except SolderError as exc:
        return _refusal(exc, where, frame)
    return _render(services, req, where, frame)


@router.get("/authenticate-app")
def authenticate_app(
    request: Request,
    services: ServicesDep,
    token: Q = None,
    app: Q = None,
    category: Q = None,
    origin: Q = None,
    title: Q = None,
) -> Response:
    """``app`` connects that app; ``category`` lets the user pick one of its apps first."""
    where = plan.parent_origin(origin, request.headers.get("referer"))
    frame = framing.for_token(services, token)
    if not token:
        return _refusal(Unauthorized("token: missing"), where, frame)
    if not app and not category:
        return _refusal(BadInput("app: required (or category)", field="app"), where, frame)
    req = plan.Request(token=token, app=app or None, category=category or None, title=title)
    return _render(services, req, where, frame)


@router.get("/sdk/{name}")
def sdk_file(name: str) -> Response:
    if name not in SDK_FILES:
        raise NotFound(f"name: no SDK file {name!r}", field="name")
    return FileResponse(HERE / "sdk" / name, media_type=SDK_FILES[name])


@router.get("/modal/{name}")
def modal_file(name: str) -> Response:
    if name not in STATIC_FILES:
        raise NotFound(f"name: no file {name!r}", field="name")
    return FileResponse(HERE / "static" / name, media_type=STATIC_FILES[name])
