"""Short-lived user tokens (JWT, HS256): what the frontend SDK sends as x-alloy-user-token."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import jwt

from solder.errors import Unauthorized
from solder.store.types import utcnow

USER_TOKEN_TTL = timedelta(hours=1)
ISSUER = "solder"
AUDIENCE = "solder-user"


@dataclass(frozen=True)
class UserClaims:
    user_id: str
    environment: str


def mint_user_token(secret: bytes, user_id: str, environment: str) -> str:
    now = utcnow()
    claims = {
        "sub": user_id,
        "env": environment,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + USER_TOKEN_TTL,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def read_user_token(secret: bytes, token: str) -> UserClaims:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "sub", "env"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("user token expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("invalid user token") from exc
    return UserClaims(user_id=str(claims["sub"]), environment=str(claims["env"]))
