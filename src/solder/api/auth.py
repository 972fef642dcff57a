"""Who is calling: an ISV's API key (server side) or an end user's token (browser side)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy import Connection

from solder.errors import Forbidden, NotFound, Unauthorized
from solder.runtime.services import Services
from solder.security import keys
from solder.security.tokens import DashboardClaims, read_dashboard_token, read_user_token
from solder.store import accounts, dashboard_accounts, users

ENVIRONMENTS = keys.ENVIRONMENTS
_CACHE_SECONDS = 30.0
_cache: dict[str, tuple[str, float]] = {}
DASHBOARD_HEADER = "x-solder-dashboard"
"""Names the environment of a dashboard call; a cross-origin page cannot send it (ADR 0013)."""


def session_cookie(environment: str) -> str:
    return f"solder_dash_{environment}"


def forget_key(key_hash: str) -> None:
    """Drop a revoked key from this process's cache (other processes see it within 30 s)."""
    _cache.pop(key_hash, None)


@dataclass(frozen=True)
class Caller:
    env: str
    user_id: str | None = None  # set when the caller is an end user holding a token
    link: str | None = None  # the hosted install link the user's token came from
    key_hash: str | None = (
        None  # the API key's hash (a key, or a dashboard session opened with one)
    )

    def own_user(self, user_id: str) -> None:
        """A user token may only act on its own user."""
        if self.user_id is not None and user_id != self.user_id:
            raise NotFound(f"userId: no user {user_id!r}", field="userId")


def scoped_user(conn: Connection, who: Caller, user_ref: str | None) -> str | None:
    """The user a call is about: ``userId`` (an id or a username) or the token's own user.

    ``None`` when neither is given (an API-key call about no user in particular). A user
    token naming another user gets a 404, as if that user did not exist.
    """
    ref = user_ref or who.user_id
    if ref is None:
        return None
    user = users.get(conn, who.env, ref)
    who.own_user(user.id)
    return str(user.id)


UserQuery = Annotated[str | None, Query(alias="userId")]


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def key_environment(services: Services, digest: str) -> str | None:
    """The environment of the unrevoked key with this SHA-256 hash, cached for 30 seconds."""
    hit = _cache.get(digest)
    now = time.monotonic()
    if hit is not None and hit[1] > now:
        return hit[0]
    with services.reader.connect() as conn:
        env = accounts.environment_of_hash(conn, digest)
    if env is not None:
        _cache[digest] = (env, now + _CACHE_SECONDS)
    return env


def caller(request: Request) -> Caller:
    services = services_of(request)
    header = request.headers.get("authorization")
    if header:
        scheme, _, key = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Unauthorized("Authorization: expected 'Bearer <API key>'")
        digest = keys.hash_key(key.strip())
        env = key_environment(services, digest)
        if env is None:
            raise Unauthorized("Authorization: unknown API key")
        return Caller(env=env, key_hash=digest)
    token = request.headers.get("x-alloy-user-token")
    if token:
        claims = read_user_token(services.token_secret, token)
        return Caller(env=claims.environment, user_id=claims.user_id, link=claims.link)
    dashboard_env = request.headers.get(DASHBOARD_HEADER)
    if dashboard_env:
        return _dashboard_caller(services, request, dashboard_env.strip())
    raise Unauthorized("Authorization: missing API key (send 'Authorization: Bearer <key>')")


def session_environment(services: Services, claims: DashboardClaims) -> str | None:
    """The environment a session's cookie still opens: its key's, if the key is not revoked;
    its account's, if the account still exists and may still see it (read on every call, so
    deleting an account or taking an environment from it ends its sessions at once)."""
    if claims.key_hash is not None:
        env = key_environment(services, claims.key_hash)
        return env if env == claims.environment else None
    if claims.account_id is None:
        return None
    with services.reader.connect() as conn:
        row = dashboard_accounts.by_id(conn, claims.account_id)
    if row is None or claims.environment not in dashboard_accounts.environments_of(row):
        return None
    return claims.environment


def _dashboard_caller(services: Services, request: Request, env: str) -> Caller:
    """A call from the dashboard: the session cookie of the environment its header names."""
    if env not in ENVIRONMENTS:
        raise Unauthorized(f"{DASHBOARD_HEADER}: expected one of {list(ENVIRONMENTS)}")
    cookie = request.cookies.get(session_cookie(env))
    if not cookie:
        raise Unauthorized(f"session: not logged in to {env}; log in with an API key or account")
    claims = read_dashboard_token(services.token_secret, cookie)
    if claims.environment != env or session_environment(services, claims) != env:
        raise Unauthorized(
            "session: the key or account it was opened with is revoked; log in again"
        )
    return Caller(env=env, key_hash=claims.key_hash)


def server_caller(who: Annotated[Caller, Depends(caller)]) -> Caller:
    if who.user_id is not None:
        raise Forbidden("this call needs the API key, not a user token")
    return who


AnyCaller = Annotated[Caller, Depends(caller)]
ServerCaller = Annotated[Caller, Depends(server_caller)]
ServicesDep = Annotated[Services, Depends(services_of)]
