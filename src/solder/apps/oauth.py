"""OAuth 2.0 for apps declared with ``sdk.OAuth2``: connecting an account, and keeping its
access token fresh.

Connecting (the authorization code grant with PKCE, RFC 6749 and 7636):

1. ``authorization_url`` makes a PKCE verifier and a ``state`` that seals (AES-GCM under the
   server's key ring) the environment, the user, the app, the verifier and an expiry ten
   minutes ahead. Nothing is stored: a state that does not open, or has expired, is refused.
2. The provider sends the user's browser back to ``{public_url}/oauth/callback`` (one
   redirect URI per server) with ``code`` and ``state``; ``connect`` opens the state, trades
   the code (and the verifier) for tokens at the token URL, and stores them as the user's
   credential, encrypted like any other.

Keeping tokens fresh (``usable``): a token that expires within ``REFRESH_AHEAD`` is refreshed
before it is used, by exactly one process: the one whose conditional update takes the
credential's short ``refresh_until`` lease. The others wait for its new token (or, once the
lease lapses, take it over). A refresh the provider refuses (``invalid_grant``) marks the
credential ``needs_reconnect`` and raises ``ReconnectNeeded``; a provider that cannot be
reached leaves the old token in place and raises ``RetryableError``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx2
from sqlalchemy import Connection, select, update

from solder.apps import http
from solder.apps.base import App
from solder.apps.fields import fill_url
from solder.apps.sdk import OAuth2, connect_values
from solder.config import OAuthClientSettings
from solder.errors import (
    BadInput,
    FatalError,
    NotFound,
    ReconnectNeeded,
    RetryableError,
    StepError,
)
from solder.runtime.services import Services
from solder.security.crypto import KeyRingError
from solder.store import installs, outbox, triggers
from solder.store.tables import credentials, workflow_installs
from solder.store.types import iso, utcnow

log = logging.getLogger("solder.oauth")

STATE_TTL = 600.0
REFRESH_AHEAD = timedelta(minutes=5)
REFRESH_LEASE = timedelta(seconds=30)
_STATE_AAD = "oauth-state"


def _oauth(app: App) -> OAuth2:
    if not isinstance(app.auth, OAuth2):
        raise BadInput(f"app: {app.key} does not connect with OAuth", field="app")
    return app.auth


def client_of(services: Services, app: App) -> OAuthClientSettings:
    client = services.settings.oauth_clients.get(app.key)
    if client is None:
        raise BadInput(
            f"app: no OAuth client is configured for {app.key} (SOLDER_OAUTH_CLIENTS)",
            field="app",
        )
    return client


def redirect_uri(services: Services) -> str:
    return f"{services.public_url.rstrip('/')}/oauth/callback"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def authorization_url(
    services: Services, app: App, env: str, user_id: str, given: Mapping[str, Any] | None = None
) -> str:
    """The provider's consent page for this user; its answer comes back to ``callback``.

    ``given``: the values of the app's ``OAuth2.fields`` (Shopify's shop), checked, filled
    into the URLs and sealed in the state for the callback.
    """
    auth = _oauth(app)
    if auth.grant != "authorization_code":
        raise BadInput(f"app: {app.key} connects without a user's consent", field="app")
    client = client_of(services, app)
    values = connect_values(auth, given or {})
    verifier = _b64(secrets.token_bytes(48))
    sealed = {"e": env, "u": user_id, "a": app.key, "v": verifier, "x": time.time() + STATE_TTL,
              "f": values}  # fmt: skip
    kid, blob = services.ring.encrypt_json(sealed, _STATE_AAD)
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": redirect_uri(services),
        "state": f"{kid}.{_b64(blob)}",
        **auth.extra_authorize_params,
    }
    if auth.scopes:
        params["scope"] = auth.scope_separator.join(auth.scopes)
    if auth.pkce:
        params["code_challenge"] = _b64(hashlib.sha256(verifier.encode()).digest())
        params["code_challenge_method"] = "S256"
    base = fill_url(client.authorize_url or auth.authorize_url, auth.fields, values)
    return f"{base}{'&' if '?' in base else '?'}{urlencode(params)}"


def open_state(services: Services, state: str) -> dict[str, Any]:
    """The sealed facts of a ``state``; ``BadInput`` naming ``state`` if forged or expired."""
    kid, _, blob = state.partition(".")
    try:
        raw = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
        facts = services.ring.decrypt_json(kid, raw, _STATE_AAD)
    except (KeyRingError, ValueError, binascii.Error, json.JSONDecodeError):
        raise BadInput("state: not a state this server made", field="state") from None
    if not isinstance(facts, dict) or float(facts.get("x", 0)) < time.time():
        raise BadInput("state: expired; start connecting again", field="state")
    return facts


SLACK_GRANT_REFUSED = frozenset(
    {"invalid_grant", "invalid_code", "code_already_used", "code_expired",
     "invalid_refresh_token", "token_revoked", "token_expired"}
)  # fmt: skip
"""``ok: false`` errors of a token endpoint that mean what RFC 6749's ``invalid_grant`` does."""
SLACK_TRY_AGAIN = frozenset({"ratelimited", "internal_error", "service_unavailable",
                             "request_timeout"})  # fmt: skip


def _refusal(
    response: httpx2.Response, what: str, refused_codes: tuple[str, ...] = ("invalid_grant",)
) -> StepError | None:
    """The error a token endpoint's refusal means, or ``None`` when it did not refuse.

    Two shapes: RFC 6749 5.2's 400 (or 401) ``{"error", "error_description"}``, and Slack's
    HTTP 200 ``{"ok": false, "error"}``. A refused grant (the code or refresh token is no
    good) is ``ReconnectNeeded``; any other refusal is ``FatalError``. ``refused_codes``: the
    app's codes for a refused grant (``OAuth2.refused_grant_errors``), read from ``error`` or,
    as HubSpot puts it, ``status``.
    """
    try:
        body = response.json()
    except ValueError:
        body = None
    body = body if isinstance(body, dict) else {}
    if response.status_code in (400, 401):
        error = str(body.get("error") or body.get("status") or "")
        grant_refused = error in refused_codes
    elif response.status_code == 200 and body.get("ok") is False:
        error = str(body.get("error", "")) or "ok: false"
        if error in SLACK_TRY_AGAIN:
            return RetryableError(f"{what}: {error}")
        grant_refused = error in SLACK_GRANT_REFUSED
    else:
        return None
    detail = str(body.get("error_description") or body.get("message") or "")
    message = f"{what}: {error or f'HTTP {response.status_code}'}"
    message += f": {detail}" if detail else ""
    return ReconnectNeeded(message) if grant_refused else FatalError(message)


def _token_request(
    services: Services, app: App, form: dict[str, str], values: Mapping[str, Any]
) -> dict[str, Any]:
    """``values``: those of the app's ``OAuth2.fields``, filled into the token URL."""
    auth = _oauth(app)
    client = client_of(services, app)
    secret = client.client_secret.get_secret_value()
    headers = {"Accept": "application/json"}
    if auth.client_auth == "basic":
        pair = f"{client.client_id}:{secret}".encode()
        headers["Authorization"] = f"Basic {base64.b64encode(pair).decode()}"
    else:
        form = {**form, "client_id": client.client_id, "client_secret": secret}
    try:
        url = fill_url(client.token_url or auth.token_url, auth.fields, values)
    except BadInput as exc:  # a stored value that no longer passes: connect again
        raise ReconnectNeeded(f"{app.key}: {exc.message}") from exc
    what = f"{app.key} token endpoint"
    try:
        response = services.egress.post(url, data=form, headers=headers)
    except httpx2.TransportError as exc:
        raise RetryableError(f"{what}: {type(exc).__name__}: {exc}") from exc
    refused = _refusal(response, what, auth.refused_grant_errors)
    if refused is not None:
        raise refused
    tokens = http.json_body(http.check(response, what), what)
    if not isinstance(tokens, dict) or not tokens.get("access_token"):
        raise FatalError(f"{what}: the answer has no access_token")
    return tokens


def _credential(
    tokens: dict[str, Any], previous: dict[str, Any] | None = None, auth: OAuth2 | None = None
) -> dict[str, Any]:
    """What is stored: the tokens, a refresh token kept when the provider sends no new one,
    and the facts the app keeps (``OAuth2.keep``), the previous ones when the answer has none."""
    expires = tokens.get("expires_in")
    data: dict[str, Any] = {
        "accessToken": str(tokens["access_token"]),
        "tokenType": str(tokens.get("token_type", "bearer")),
        "scope": str(tokens.get("scope", "")),
        "expiresAt": (
            (utcnow() + timedelta(seconds=float(expires))).isoformat()
            if isinstance(expires, int | float | str) and str(expires).strip()
            else None
        ),
    }
    refresh = tokens.get("refresh_token") or (previous or {}).get("refreshToken")
    if refresh:
        data["refreshToken"] = str(refresh)
    for spec in auth.fields if auth is not None else ():
        if spec.name in (previous or {}):  # what the user gave at connect (Shopify's shop)
            data[spec.name] = (previous or {})[spec.name]
    for name, path in (auth.keep if auth is not None else {}).items():
        found: Any = tokens
        for part in path.split("."):
            found = found.get(part) if isinstance(found, dict) else None
        if found is None:
            found = (previous or {}).get(name)
        if isinstance(found, str | int | float | bool):
            data[name] = found
    return data


def _expiry(data: dict[str, Any]) -> datetime | None:
    raw = data.get("expiresAt")
    return datetime.fromisoformat(raw) if isinstance(raw, str) else None


def connect(
    services: Services, state: str, code: str, query: Mapping[str, str] | None = None
) -> tuple[str, str]:
    """Trade ``code`` for tokens and store them for the user the state names.

    ``query``: the whole callback query, for an app that checks it (``verify_callback``).
    Returns ``(credential id, app key)``.
    """
    facts = open_state(services, state)
    app = services.apps.get(str(facts["a"]))
    if app is None:
        raise NotFound(f"app: no app {facts['a']!r}", field="app")
    auth = _oauth(app)
    values = {str(k): str(v) for k, v in dict(facts.get("f") or {}).items()}
    if auth.verify_callback is not None:
        secret = client_of(services, app).client_secret.get_secret_value()
        auth.verify_callback(query or {}, secret, values)
    form = {"grant_type": "authorization_code", "code": code,
            "redirect_uri": redirect_uri(services)}  # fmt: skip
    if auth.pkce:
        form["code_verifier"] = str(facts["v"])
    data = _credential(_token_request(services, app, form, values), values, auth)
    env, user_id = str(facts["e"]), str(facts["u"])
    with services.engine.begin() as conn:
        lapsed = conn.execute(
            select(credentials.c.id).where(
                credentials.c.environment == env,
                credentials.c.user_id == user_id,
                credentials.c.app == app.key,
                credentials.c.status == "needs_reconnect",
            )
        ).first()
        if lapsed is not None:  # reconnecting: same credential, so its installations resume
            cid = str(lapsed.id)
            _store(conn, services, cid, data)
            _resume(conn, user_id, cid)
        else:
            cid = installs.add_credential(conn, services.ring, env, user_id, app.key, data)
            conn.execute(
                update(credentials).where(credentials.c.id == cid).values(expires_at=_expiry(data))
            )
    return cid, app.key


def _resume(conn: Connection, user_id: str, cid: str) -> None:
    """The stopped polls of the user's active copies that use this credential start again."""
    rows = conn.execute(
        select(workflow_installs.c.id, workflow_installs.c.credential_ids).where(
            workflow_installs.c.user_id == user_id, workflow_installs.c.active
        )
    )
    using = [str(r.id) for r in rows if cid in (r.credential_ids or [])]
    triggers.resume_polls(conn, using, utcnow())


# ---- keeping a token fresh --------------------------------------------------------------------


def _store(conn: Connection, services: Services, cid: str, data: dict[str, Any]) -> None:
    kid, blob = services.ring.encrypt_json(data, installs.credential_aad(cid))
    conn.execute(
        update(credentials)
        .where(credentials.c.id == cid)
        .values(key_id=kid, ciphertext=blob, expires_at=_expiry(data), updated_at=utcnow(),
                refresh_until=None, status="connected")
    )  # fmt: skip


def _take_lease(services: Services, cid: str) -> bool:
    now = utcnow()
    with services.engine.begin() as conn:
        taken = conn.execute(
            update(credentials)
            .where(credentials.c.id == cid)
            .where((credentials.c.refresh_until.is_(None)) | (credentials.c.refresh_until < now))
            .values(refresh_until=now + REFRESH_LEASE)
        )
    return taken.rowcount == 1


def _reload(services: Services, cid: str) -> Any:
    with services.engine.connect() as conn:
        return conn.execute(select(credentials).where(credentials.c.id == cid)).one()


def refresh(services: Services, app: App, row: Any) -> dict[str, Any]:
    """The credential's data with a new access token, refreshed by one process at a time.

    Whoever takes the lease refreshes, unless the stored token changed since ``row`` was read
    (another process refreshed meanwhile: its token is used). The others wait for the new
    token, or take the lease over once it lapses.
    """
    cid, seen = row.id, row.updated_at
    deadline = time.monotonic() + REFRESH_LEASE.total_seconds() + 5
    while True:
        if _take_lease(services, cid):
            current = _reload(services, cid)
            if current.updated_at != seen:
                _mark(services, cid, None)
                return _data_of(services, app, current)
            return _refresh_now(services, app, cid, installs.credential_data(services.ring, row))
        time.sleep(0.05)
        current = _reload(services, cid)
        if current.updated_at != seen:
            return _data_of(services, app, current)
        if time.monotonic() > deadline:
            raise RetryableError(f"{app.key}: waited too long for a token refresh")


def _data_of(services: Services, app: App, row: Any) -> dict[str, Any]:
    if row.status == "needs_reconnect":
        raise ReconnectNeeded(f"{app.key}: the account must be connected again")
    return installs.credential_data(services.ring, row)


def _refresh_now(services: Services, app: App, cid: str, data: dict[str, Any]) -> dict[str, Any]:
    auth = _oauth(app)
    if auth.grant == "client_credentials":
        form = {"grant_type": "client_credentials"}
        if auth.scopes:
            form["scope"] = auth.scope_separator.join(auth.scopes)
    elif data.get("refreshToken"):
        form = {"grant_type": "refresh_token", "refresh_token": str(data["refreshToken"])}
    else:
        message = f"{app.key}: the token expired and there is no refresh token"
        _lapse(services, app, cid, message)
        raise ReconnectNeeded(message)
    try:
        tokens = _token_request(services, app, form, data)
    except ReconnectNeeded as exc:
        _lapse(services, app, cid, exc.message)
        raise
    except Exception:
        _mark(services, cid, None)  # give the lease back; the old token stays
        raise
    fresh = _credential(tokens, data, auth)
    with services.engine.begin() as conn:
        _store(conn, services, cid, fresh)
    return fresh


def _lapse(services: Services, app: App, cid: str, reason: str) -> None:
    """The credential needs reconnecting: mark it and tell the ISV (the error stream)."""
    with services.engine.begin() as conn:
        row = conn.execute(
            update(credentials)
            .where(credentials.c.id == cid, credentials.c.status != "needs_reconnect")
            .values(status="needs_reconnect", refresh_until=None, updated_at=utcnow())
            .returning(credentials.c.environment, credentials.c.user_id)
        ).first()
        if row is None:  # already marked (and notified) by another process
            return
        outbox.add(
            conn, env=row.environment, kind="credential", run_id=None, user_id=row.user_id,
            payload={
                "type": "credential.needs_reconnect",
                "userId": row.user_id,
                "credentialId": cid,
                "app": app.key,
                "message": f"{reason}; the user must connect {app.name} again",
                "errorOccurredAt": iso(utcnow()),
            },
        )  # fmt: skip
    log.warning("credential %s of %s needs reconnecting: %s", cid, app.key, reason)


def _mark(services: Services, cid: str, status: str | None) -> None:
    values: dict[str, Any] = {"refresh_until": None}
    if status is not None:
        values |= {"status": status, "updated_at": utcnow()}
    with services.engine.begin() as conn:
        conn.execute(update(credentials).where(credentials.c.id == cid).values(**values))


def usable(services: Services, app: App, row: Any) -> dict[str, Any]:
    """The credential's data, its OAuth2 access token refreshed first if about to expire."""
    if not isinstance(app.auth, OAuth2):
        return installs.credential_data(services.ring, row)
    expires = row.expires_at
    due = expires is not None and expires - utcnow() < REFRESH_AHEAD
    if due and row.status != "needs_reconnect":
        return refresh(services, app, row)
    return _data_of(services, app, row)
