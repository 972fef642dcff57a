"""/dashboard/session: log in to the dashboard with an API key, one cookie per environment;
/dashboard/login: with a dashboard account (email and password), a cookie for each
environment the account may see.

The key is sent once, checked, and never stored in the browser: the cookie holds a signed
token naming the environment and the key's hash, or the account's id (``security/tokens.py``),
HttpOnly, ``SameSite=Strict``, ``Secure`` over https. Calls made with it must also carry
``x-solder-dashboard: <environment>`` (``api/auth.py``); ADR 0013 says why, ADR 0014 how
accounts' passwords are kept and failed logins limited.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import Field

from solder.api.auth import (
    ENVIRONMENTS,
    ServicesDep,
    key_environment,
    session_cookie,
    session_environment,
)
from solder.api.limits import FailureLimit
from solder.api.schemas import Body
from solder.config import LoginSettings
from solder.errors import Throttled, Unauthorized
from solder.runtime.services import Services
from solder.security import keys, passwords
from solder.security.tokens import (
    DASHBOARD_SESSION_TTL,
    mint_dashboard_token,
    read_dashboard_token,
)
from solder.store import dashboard_accounts

router = APIRouter(prefix="/dashboard", tags=["dashboard"])


class Login(Body):
    key: str = Field(min_length=1, max_length=256, description="an API key; sent once")


class AccountLogin(Body):
    email: str = Field(min_length=1, max_length=254, description="the account's email")
    password: str = Field(min_length=1, max_length=1024, description="sent once, never kept")


class LoginLimits:
    """Failed account logins, counted per email (whether or not it has an account, so the
    answer tells nothing) and per client address."""

    def __init__(self, settings: LoginSettings) -> None:
        self.account = FailureLimit(settings.failures_per_account, settings.window_seconds)
        self.address = FailureLimit(settings.failures_per_address, settings.window_seconds)


def _secure(request: Request, public_url: str) -> bool:
    return request.url.scheme == "https" or public_url.startswith("https://")


def _set_session(
    request: Request, response: Response, services: Services, env: str, token: str
) -> None:
    response.set_cookie(
        session_cookie(env),
        token,
        max_age=int(DASHBOARD_SESSION_TTL.total_seconds()),
        path="/",
        httponly=True,
        secure=_secure(request, services.public_url),
        samesite="strict",
    )


@router.post("/session")
def log_in(body: Login, request: Request, response: Response, services: ServicesDep) -> Any:
    digest = keys.hash_key(body.key)
    env = key_environment(services, digest)
    if env is None:
        raise Unauthorized("key: unknown or revoked API key", field="key")
    _set_session(request, response, services, env,
                 mint_dashboard_token(services.token_secret, env, digest))  # fmt: skip
    return {"environment": env, "keyPrefix": keys.display_prefix(body.key)}


@router.post("/login")
def log_in_with_account(
    body: AccountLogin, request: Request, response: Response, services: ServicesDep
) -> Any:
    """Open a session in every environment the account may see; one answer for a wrong
    password and for an email without an account, after the same work."""
    limits: LoginLimits = request.app.state.login_limits
    email = body.email.strip().lower()
    address = request.client.host if request.client is not None else "unknown"
    wait = max(limits.account.wait(email) or 0.0, limits.address.wait(address) or 0.0)
    if wait > 0:
        raise Throttled(
            f"login: too many failed attempts; try again in {int(wait) + 1} s", retry_after=wait
        )
    with services.reader.connect() as conn:
        row = dashboard_accounts.by_email(conn, email)
    if not passwords.verify(row.password_hash if row is not None else None, body.password):
        limits.account.failed(email)
        limits.address.failed(address)
        raise Unauthorized("login: wrong email or password")
    limits.account.clear(email)
    with services.engine.begin() as conn:
        dashboard_accounts.logged_in(
            conn, row.id, passwords.upgraded(row.password_hash, body.password)
        )
    envs = dashboard_accounts.environments_of(row)
    for env in envs:
        token = mint_dashboard_token(services.token_secret, env, account_id=row.id)
        _set_session(request, response, services, env, token)
    return {"email": row.email, "environments": envs}


@router.get("/session")
def sessions(request: Request, services: ServicesDep) -> dict[str, Any]:
    """The environments this browser is logged in to (a revoked key's session is not)."""
    out = []
    for env in ENVIRONMENTS:
        cookie = request.cookies.get(session_cookie(env))
        if not cookie:
            continue
        try:
            claims = read_dashboard_token(services.token_secret, cookie)
        except Unauthorized:
            continue
        if claims.environment == env and session_environment(services, claims) == env:
            out.append({"environment": env})
    return {"data": out}


@router.delete("/session")
def log_out(
    response: Response,
    environment: Literal["development", "production"] = Query(),
) -> dict[str, bool]:
    response.delete_cookie(session_cookie(environment), path="/", samesite="strict")
    return {"success": True}
