"""Connecting an OAuth2 app: the consent URL for a user, and the page the provider returns to.

``GET /headless/oauthUrl?app&userId`` answers ``{data: {oauthUrl}}``: the provider's consent
page, opened by the install modal in a popup (or by the ISV's own page). The provider sends the
browser back to ``GET /oauth/callback`` with ``code`` and ``state``; Solder stores the tokens as
the user's credential and answers a small page that tells its opener, by ``postMessage`` to
this server's own origin only, ``{type: "solder:oauth", app, credentialId}`` or
``{type: "solder:oauth", error}``, then closes itself.
"""

from __future__ import annotations

import html
import json
import logging
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from solder.api.auth import AnyCaller, ServicesDep, UserQuery, scoped_user
from solder.apps import oauth
from solder.errors import BadInput, NotFound, SolderError

router = APIRouter(tags=["credentials"])
log = logging.getLogger("solder.api")


@router.get("/headless/oauthUrl")
def oauth_url(
    who: AnyCaller,
    services: ServicesDep,
    request: Request,
    app: Annotated[str, Query()],
    user_ref: UserQuery = None,
) -> dict[str, Any]:
    """An app whose OAuth URLs depend on the user's account (Shopify's shop) takes the values
    of its ``OAuth2.fields`` as further query parameters: ``&shop=acme.myshopify.com``."""
    found = services.apps.get(app.lower())
    if found is None:
        raise NotFound(f"app: no app {app!r}", field="app")
    with services.engine.connect() as conn:
        user_id = scoped_user(conn, who, user_ref)
    if user_id is None:
        raise BadInput("userId: required with an API key", field="userId")
    given = dict(request.query_params)
    url = oauth.authorization_url(services, found, who.env, user_id, given)
    return {"data": {"oauthUrl": url}}


def _page(services: Any, title: str, text: str, message: dict[str, Any], status: int) -> Any:
    parts = urlsplit(services.public_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    payload = json.dumps({"type": "solder:oauth", **message}).replace("</", "<\\/")
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>{html.escape(title)}</h1><p role="status">{html.escape(text)}</p></main>
<script>
if (window.opener) {{
  window.opener.postMessage({payload}, {json.dumps(origin)});
  window.close();
}}
</script></body></html>"""
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


@router.get("/oauth/callback", include_in_schema=False)
def callback(
    services: ServicesDep,
    request: Request,
    state: Annotated[str | None, Query()] = None,
    code: Annotated[str | None, Query()] = None,
    error: Annotated[str | None, Query()] = None,
    error_description: Annotated[str | None, Query()] = None,
) -> Any:
    if error:
        text = f"The app answered: {error}" + (
            f" ({error_description})" if error_description else ""
        )
        return _page(services, "Not connected", text, {"error": text}, 400)
    try:
        if not state:
            raise BadInput("state: missing", field="state")
        if not code:
            raise BadInput("code: missing", field="code")
        query = dict(request.query_params)
        credential_id, app = oauth.connect(services, state, code, query)
    except SolderError as exc:
        log.info("oauth callback refused: %s", exc.message)
        return _page(services, "Not connected", exc.message, {"error": exc.message}, 400)
    text = "Your account is connected. You can close this window."
    return _page(services, "Connected", text, {"app": app, "credentialId": credential_id}, 200)
