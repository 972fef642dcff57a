"""Short-lived user tokens (JWT, HS256): what the frontend SDK sends as x-alloy-user-token."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt

from solder.errors import Unauthorized
from solder.store.types import utcnow

USER_TOKEN_TTL = timedelta(hours=1)
ISSUER = "solder"
AUDIENCE = "solder-user"


LINK_AUDIENCE = "solder-install-link"


@dataclass(frozen=True)
class UserClaims:
    user_id: str
    environment: str
    link: str | None = None
    """The hosted install link the token was minted for, which its installation uses up."""


@dataclass(frozen=True)
class LinkClaims:
    link: str
    user_id: str
    environment: str
    integration_id: str


def mint_user_token(
    secret: bytes, user_id: str, environment: str, *, link: str | None = None
) -> str:
    now = utcnow()
    claims = {
        "sub": user_id,
        "env": environment,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + USER_TOKEN_TTL,
    }
    if link is not None:
        claims["link"] = link
    return jwt.encode(claims, secret, algorithm="HS256")


def mint_link_token(secret: bytes, link: LinkClaims, expires_at: datetime) -> str:
    claims = {
        "jti": link.link,
        "sub": link.user_id,
        "env": link.environment,
        "integrationId": link.integration_id,
        "iss": ISSUER,
        "aud": LINK_AUDIENCE,
        "iat": utcnow(),
        "exp": expires_at,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def _decode(
    secret: bytes, token: str, audience: str, require: list[str], expired: str, invalid: str
) -> dict[str, Any]:
    """The claims of a token we signed for ``audience``; ``Unauthorized`` with ``expired`` or
    ``invalid`` as the message otherwise."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=audience,
            issuer=ISSUER,
            options={"require": ["exp", "sub", "env", *require]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized(expired) from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized(invalid) from exc
    return claims


def read_link_token(secret: bytes, token: str) -> LinkClaims:
    claims = _decode(
        secret, token, LINK_AUDIENCE, ["jti", "integrationId"],
        "token: this install link has expired; ask for a new one",
        "token: not a valid install link",
    )  # fmt: skip
    return LinkClaims(
        link=str(claims["jti"]),
        user_id=str(claims["sub"]),
        environment=str(claims["env"]),
        integration_id=str(claims["integrationId"]),
    )


def read_user_token(secret: bytes, token: str) -> UserClaims:
    claims = _decode(secret, token, AUDIENCE, [], "user token expired", "invalid user token")
    link = claims.get("link")
    return UserClaims(
        user_id=str(claims["sub"]),
        environment=str(claims["env"]),
        link=str(link) if link is not None else None,
    )


def environment_of(secret: bytes, token: str) -> str | None:
    """The environment of a user token we signed, expired or not; ``None`` for any other.

    Only for choosing which of the environment's settings a page is sent with (say, the
    origins that may frame it): never for access, which ``read_user_token`` decides.
    """
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"verify_exp": False, "require": ["env"]},
        )
    except jwt.PyJWTError:
        return None
    env = claims.get("env")
    return env if isinstance(env, str) else None


DASHBOARD_AUDIENCE = "solder-dashboard"
DASHBOARD_SESSION_TTL = timedelta(hours=12)


@dataclass(frozen=True)
class DashboardClaims:
    environment: str
    key_hash: str | None = None
    """The SHA-256 hash of the API key the session was opened with (never the key)."""
    account_id: str | None = None
    """Or the dashboard account it was opened with (ADR 0014)."""


def mint_dashboard_token(
    secret: bytes, environment: str, key_hash: str | None = None, *, account_id: str | None = None
) -> str:
    """The dashboard session cookie's value: who logged in, for how long (ADR 0013).

    Opened with an API key (``key_hash``) or with a dashboard account (``account_id``).
    """
    if (key_hash is None) == (account_id is None):
        raise ValueError("a dashboard session is opened with a key or an account, one of them")
    now = utcnow()
    claims = {
        "sub": key_hash if account_id is None else account_id,
        "by": "key" if account_id is None else "account",
        "env": environment,
        "iss": ISSUER,
        "aud": DASHBOARD_AUDIENCE,
        "iat": now,
        "exp": now + DASHBOARD_SESSION_TTL,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def read_dashboard_token(secret: bytes, token: str) -> DashboardClaims:
    claims = _decode(
        secret, token, DASHBOARD_AUDIENCE, [],
        "session: expired; log in again",
        "session: not a valid dashboard session; log in again",
    )  # fmt: skip
    env, sub = str(claims["env"]), str(claims["sub"])
    if claims.get("by") == "account":
        return DashboardClaims(environment=env, account_id=sub)
    return DashboardClaims(environment=env, key_hash=sub)
