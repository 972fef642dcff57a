"""Hosted install links: ``GET /install/{integrationId}?token=...``.

``install-url`` gives the ISV a link it can send by mail or show anywhere, with no page of
its own: it opens the install modal's steps full-page for the user it was made for. The link
token is signed, names its user, environment and integration, and lasts 7 days by default
(``install_link_days``, or ``expiresInDays`` when asked for). Opening it checks all of that and
that the link was not used, then sends the browser on to ``/forge-install`` with a fresh
one-hour user token bound to the link; the installation completed with that token uses the
link up (``completeInstallation`` marks it), and opening it again only says so. Problems are
pages with a clear sentence and the right status, never a blank one.
"""

from __future__ import annotations

import html
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from solder.api.auth import ServicesDep
from solder.errors import SolderError, Unauthorized
from solder.security.tokens import mint_user_token, read_link_token
from solder.store import links

router = APIRouter(tags=["install links"])


def _page(title: str, text: str, status: int) -> HTMLResponse:
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport"
content="width=device-width, initial-scale=1"><title>{html.escape(title)}</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}}
</style></head>
<body><main><h1>{html.escape(title)}</h1><p role="alert">{html.escape(text)}</p></main></body>
</html>"""
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


@router.get("/install/{integration_id}", include_in_schema=False)
def open_link(
    integration_id: str,
    services: ServicesDep,
    token: Annotated[str | None, Query()] = None,
) -> Response:
    try:
        if not token:
            raise Unauthorized("token: this install link is incomplete; ask for a new one")
        claims = read_link_token(services.token_secret, token)
    except SolderError as exc:
        expired = "expired" in exc.message
        return _page("This link does not work", exc.message.removeprefix("token: ").capitalize(),
                     410 if expired else 401)  # fmt: skip
    with services.reader.connect() as conn:
        row = links.get(conn, claims.link)
    if row is None:  # its user or integration was deleted
        return _page("This link does not work", "What this link installs is gone.", 404)
    if row.integration_id != integration_id:
        return _page("This link does not work", "This link is for another integration.", 404)
    if row.used_at is not None:
        return _page("Already installed", "This install link was used already: the "
                     "integration is installed. Ask for a new link to change it.", 410)  # fmt: skip
    user_token = mint_user_token(
        services.token_secret, claims.user_id, claims.environment, link=claims.link
    )
    query = urlencode({"integrationId": integration_id, "token": user_token})
    return RedirectResponse(f"/forge-install?{query}", status_code=303,
                            headers={"Cache-Control": "no-store"})  # fmt: skip
