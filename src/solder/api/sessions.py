"""/dashboard/session: log in to the dashboard with an API key, one cookie per environment.

The key is sent once, checked, and never stored in the browser: the cookie holds a signed
token naming the environment and the key's hash (``security/tokens.py``), HttpOnly,
``SameSite=Strict``, ``Secure`` over https. Calls made with it must also carry
``x-solder-dashboard: <environment>`` (``api/auth.py``); ADR 0013 says why.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import Field

from solder.api.auth import ENVIRONMENTS, ServicesDep, key_environment, session_cookie
from solder.api.schemas import Body
from solder.errors import Unauthorized
from solder.security import keys
from solder.security.tokens import (
    DASHBOARD_SESSION_TTL,
    mint_dashboard_token,
    read_dashboard_token,
)

router = APIRouter(prefix="/dashboard", tags=["dashboard"])


class Login(Body):
    key: str = Field(min_length=1, max_length=256, description="an API key; sent once")


def _secure(request: Request, public_url: str) -> bool:
    return request.url.scheme == "https" or public_url.startswith("https://")


@router.post("/session")
def log_in(body: Login, request: Request, response: Response, services: ServicesDep) -> Any:
    digest = keys.hash_key(body.key)
    env = key_environment(services, digest)
    if env is None:
        raise Unauthorized("key: unknown or revoked API key", field="key")
    response.set_cookie(
        session_cookie(env),
        mint_dashboard_token(services.token_secret, env, digest),
        max_age=int(DASHBOARD_SESSION_TTL.total_seconds()),
        path="/",
        httponly=True,
        secure=_secure(request, services.public_url),
        samesite="strict",
    )
    return {"environment": env, "keyPrefix": keys.display_prefix(body.key)}


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
        if claims.environment == env and key_environment(services, claims.key_hash) == env:
            out.append({"environment": env})
    return {"data": out}


@router.delete("/session")
def log_out(
    response: Response,
    environment: Literal["development", "production"] = Query(),
) -> dict[str, bool]:
    response.delete_cookie(session_cookie(environment), path="/", samesite="strict")
    return {"success": True}
