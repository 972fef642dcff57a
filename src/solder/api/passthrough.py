"""POST /passthrough: a raw request to an app's API with a user's stored credential.

Who may call: the ISV's API key (any credential of the key's environment) or a user token
(only that user's credentials; another's is a 404, as if it did not exist). What is checked
and what comes back: ``solder.apps.passthrough``. The credential is decrypted only to build the
request; it is never logged and is masked out of the provider's answer. An OAuth2 token about
to expire is refreshed first; one the provider refuses (401) is refreshed once and the request
sent again, as app actions do.

Rate limits are shared with the runs: while the app's 429 pause on this credential lasts, or
when its turn under the app's declared rate is more than a moment away, the answer is 429 with
``Retry-After`` and nothing is sent; a 429 from the provider with ``Retry-After``, or an answer
whose declared quota headers say nothing is left, pauses the credential's runs too.
"""

from __future__ import annotations

import logging
import math
from typing import Annotated, Any

import httpx2
from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from solder.api.auth import AnyCaller, ServicesDep
from solder.api.schemas import PassthroughRequest
from solder.apps import oauth, passthrough
from solder.apps.base import App
from solder.apps.http import retry_after_seconds
from solder.engine import ratelimit
from solder.engine.lifecycle import pause_credential_id, wait_turn
from solder.errors import Conflict, NotAllowed, RateLimited, ReconnectNeeded
from solder.runtime.services import Services
from solder.store import installs

router = APIRouter(tags=["passthrough"])
log = logging.getLogger("solder.api")


def _credential(services: Services, app: App, row: Any, *, refresh: bool) -> dict[str, Any]:
    try:
        if refresh:
            return oauth.refresh(services, app, row)
        return oauth.usable(services, app, row)
    except ReconnectNeeded as exc:
        raise Conflict(f"credentialId: {exc.message}", "credentialId") from None


def _send(
    services: Services, app: App, credential: dict[str, Any], body: PassthroughRequest
) -> tuple[str, httpx2.Response]:
    ctx = services.app_context(app, credential)
    try:
        out = passthrough.prepare(
            app, ctx, body.method, body.path, body.body, body.query, body.extra_headers
        )
    except ReconnectNeeded as exc:  # a stored credential missing a field the app needs
        raise Conflict(
            f"credentialId: {exc.message}; connect the account again", "credentialId"
        ) from None
    return out.method, passthrough.send(services.egress, app, out)


@router.post("/passthrough")
def passthrough_request(
    body: PassthroughRequest,
    who: AnyCaller,
    services: ServicesDep,
    credential_id: Annotated[str, Query(alias="credentialId", min_length=1)],
) -> Response:
    """The provider's status code with ``{statusCode, headers, data}`` (no body for 204/304)."""
    with services.reader.connect() as conn:
        row = installs.find_credential(conn, who.env, credential_id, who.user_id)
    app = services.apps.get(row.app)
    if app is None or app.auth_headers is None:
        raise NotAllowed(
            f"credentialId: passthrough is not available for {row.app!r} credentials",
            "credentialId",
        )
    try:
        wait_turn(services, app, row)
    except RateLimited as exc:
        wait = math.ceil(exc.retry_after or 1)
        return JSONResponse(
            {"message": f"credentialId: {exc.message}; try again in {wait} s"},
            status_code=429,
            headers={"Retry-After": str(wait)},
        )
    credential = _credential(services, app, row, refresh=False)
    secrets = passthrough.secrets_of(app, credential)
    method, response = _send(services, app, credential, body)
    if response.status_code == 401 and app.is_oauth:
        # a token that looked fresh was refused (revoked, or expired early): refresh once
        credential = _credential(services, app, row, refresh=True)
        secrets += passthrough.secrets_of(app, credential)
        method, response = _send(services, app, credential, body)
    pause = retry_after_seconds(response.headers.get("retry-after"))
    if response.status_code != 429 or not pause:
        pause = ratelimit.quota_spent(app, response.headers)  # the app's quota headers
    if pause:
        pause_credential_id(services, row.id, pause)
    status, answer = passthrough.answer(response, sorted(set(secrets), key=len, reverse=True))
    log.info("passthrough %s to %s with credential %s: HTTP %s", method, app.key, row.id, status)
    if answer is None:
        return Response(status_code=status)
    return JSONResponse(answer, status_code=status)
