"""POST /passthrough: a raw request to an app's API with a user's stored credential.

Who may call: the ISV's API key (any credential of the key's environment) or a user token
(only that user's credentials; another's is a 404, as if it did not exist). What is checked
and what comes back: ``solder.apps.passthrough``. The credential is decrypted only to build the
request; it is never logged and is masked out of the provider's answer.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from solder.api.auth import AnyCaller, ServicesDep
from solder.api.schemas import PassthroughRequest
from solder.apps import passthrough
from solder.errors import NotAllowed, ReconnectNeeded
from solder.store import installs

router = APIRouter(tags=["passthrough"])
log = logging.getLogger("solder.api")


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
    ctx = services.app_context(app, installs.credential_data(services.ring, row))
    try:
        out = passthrough.prepare(
            app, ctx, body.method, body.path, body.body, body.query, body.extra_headers
        )
    except ReconnectNeeded as exc:  # a stored credential missing a field the app needs
        raise NotAllowed(
            f"credentialId: {exc.message}; reconnect the account", "credentialId"
        ) from None
    response = passthrough.send(services.egress, app, out)
    status, answer = passthrough.answer(response, passthrough.secrets_of(app, ctx.credential))
    log.info("passthrough %s to %s with credential %s: HTTP %s", out.method, app.key, row.id,
             status)  # fmt: skip
    if answer is None:
        return Response(status_code=status)
    return JSONResponse(answer, status_code=status)
