"""Authorization codes, tokens and control endpoints shared by the sandboxes that speak OAuth.

A :class:`TokenBook` keeps the codes and tokens of one sandbox in memory: codes are single-use
and expire; access tokens expire after ``lifetime`` seconds (``None``: never); refresh tokens
live until revoked, or until used once when ``rotate_refresh`` is on. It counts what it issues,
so tests can prove "one refresh per expiry". :func:`control_routes` exposes it, without auth::

    GET  /_sandbox/tokens    counters and settings
    POST /_sandbox/tokens    {"lifetime": 2.5, "deny": true, "rotate_refresh": false}
    POST /_sandbox/expire    every access token issued so far expires now
    POST /_sandbox/revoke    {"token": "..."} revokes one token; {} revokes every token
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

Json = dict[str, Any]


@dataclass(frozen=True)
class Grant:
    """What the user approved at the authorize step; redeemed once for tokens."""

    client_id: str
    scope: str
    redirect_uri: str | None
    expires_at: float
    code_challenge: str | None = None
    challenge_method: str | None = None


@dataclass
class AccessToken:
    value: str
    client_id: str
    scope: str
    issued_at: float
    expires_at: float | None
    code: str | None = None


@dataclass
class RefreshToken:
    value: str
    client_id: str
    scope: str
    code: str | None = None


@dataclass
class Counters:
    codes_issued: int = 0
    codes_redeemed: int = 0
    tokens_issued: int = 0
    refreshes: int = 0
    denied: int = 0


@dataclass
class TokenBook:
    """One sandbox's codes and tokens; ``clock`` is wall time unless a test passes its own."""

    lifetime: float | None = 1800.0
    code_lifetime: float = 60.0
    rotate_refresh: bool = False
    deny: bool = False
    prefix: str = ""
    clock: Callable[[], float] = time.time
    counters: Counters = field(default_factory=Counters)
    codes: dict[str, Grant] = field(default_factory=dict)
    used_codes: set[str] = field(default_factory=set)
    access: dict[str, AccessToken] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)

    def new_code(self, grant: Grant) -> str:
        code = secrets.token_urlsafe(24)
        self.codes[code] = grant
        self.counters.codes_issued += 1
        return code

    def grant(self, client_id: str, scope: str, redirect_uri: str | None, **pkce: Any) -> Grant:
        expires_at = self.clock() + self.code_lifetime
        return Grant(client_id, scope, redirect_uri, expires_at, **pkce)

    def take_code(self, code: str) -> Grant | None:
        """The code's grant, once: ``None`` when unknown, expired or already redeemed."""
        grant = self.codes.pop(code, None)
        if grant is None:
            return None
        self.used_codes.add(code)
        if grant.expires_at <= self.clock():
            return None
        self.counters.codes_redeemed += 1
        return grant

    def issue(
        self, client_id: str, scope: str, *, refresh: bool, code: str | None = None
    ) -> tuple[AccessToken, RefreshToken | None]:
        now = self.clock()
        expires = None if self.lifetime is None else now + self.lifetime
        token = AccessToken(self._secret(), client_id, scope, now, expires, code)
        self.access[token.value] = token
        self.counters.tokens_issued += 1
        renewal = RefreshToken(self._secret(), client_id, scope, code) if refresh else None
        if renewal is not None:
            self.refresh_tokens[renewal.value] = renewal
        return token, renewal

    def refresh(self, value: str, client_id: str) -> tuple[AccessToken, RefreshToken] | None:
        """A new access token for a live refresh token of ``client_id``; rotates it if set to."""
        old = self.refresh_tokens.get(value)
        if old is None or old.client_id != client_id:
            return None
        self.counters.refreshes += 1
        if not self.rotate_refresh:
            token, _ = self.issue(client_id, old.scope, refresh=False, code=old.code)
            return token, old
        del self.refresh_tokens[value]
        token, renewal = self.issue(client_id, old.scope, refresh=True, code=old.code)
        assert renewal is not None
        return token, renewal

    def lookup(self, value: str) -> AccessToken | None:
        """The access token, expired or not; ``None`` when never issued or revoked."""
        return self.access.get(value)

    def expired(self, token: AccessToken) -> bool:
        return token.expires_at is not None and token.expires_at <= self.clock()

    def expire_all(self) -> int:
        now = self.clock()
        live = [t for t in self.access.values() if not self.expired(t)]
        for token in live:
            token.expires_at = now
        return len(live)

    def revoke(self, value: str | None = None) -> int:
        """Revoke one token (access or refresh) by value, or every token when ``value`` is None."""
        if value is None:
            count = len(self.access) + len(self.refresh_tokens)
            self.access.clear()
            self.refresh_tokens.clear()
            return count
        return int(self.access.pop(value, None) is not None) + int(
            self.refresh_tokens.pop(value, None) is not None
        )

    def revoke_from_code(self, code: str) -> None:
        """RFC 6749 4.1.2: a code used twice takes down the tokens issued from it."""
        for table in (self.access, self.refresh_tokens):
            for value in [v for v, t in table.items() if t.code == code]:
                del table[value]

    def snapshot(self) -> Json:
        return {
            "codes_issued": self.counters.codes_issued,
            "codes_redeemed": self.counters.codes_redeemed,
            "tokens_issued": self.counters.tokens_issued,
            "refreshes": self.counters.refreshes,
            "denied": self.counters.denied,
            "live_access_tokens": sum(not self.expired(t) for t in self.access.values()),
            "refresh_tokens": len(self.refresh_tokens),
            "lifetime": self.lifetime,
            "deny": self.deny,
            "rotate_refresh": self.rotate_refresh,
        }

    def reset(self) -> None:
        """Forget every code and token and zero the counters (settings stay)."""
        self.codes.clear()
        self.used_codes.clear()
        self.access.clear()
        self.refresh_tokens.clear()
        self.counters = Counters()

    def _secret(self) -> str:
        return self.prefix + secrets.token_urlsafe(32)


def s256(verifier: str) -> str:
    """The RFC 7636 S256 code challenge of ``verifier``."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def redirect(uri: str, params: dict[str, str]) -> Response:
    """A 302 to ``uri`` with ``params`` added to any query it already has."""
    parts = urlsplit(uri)
    query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), *params.items()])
    return RedirectResponse(urlunsplit(parts._replace(query=query)), status_code=302)


async def form_or_json(request: Request) -> dict[str, str]:
    """A token request's fields: a form (the OAuth way) or a JSON object (Shopify takes both)."""
    body = await request.body()
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            parsed = json.loads(body)
        except ValueError:
            return {}
        return {k: str(v) for k, v in parsed.items()} if isinstance(parsed, dict) else {}
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return (value.strip() or None) if scheme.lower() == "bearer" else None


def control_routes(book: TokenBook) -> list[Route]:
    """The ``/_sandbox`` endpoints that read and steer ``book`` (see the module docstring)."""

    async def read(request: Request) -> Response:
        return JSONResponse(book.snapshot())

    async def configure(request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return JSONResponse({"error": "body must be a JSON object"}, 400)
        lifetime = body.get("lifetime", book.lifetime)
        if lifetime is not None and (
            isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or lifetime <= 0
        ):
            return JSONResponse({"error": "lifetime must be a positive number or null"}, 400)
        flags = {name: body.get(name, getattr(book, name)) for name in ("deny", "rotate_refresh")}
        if not all(isinstance(v, bool) for v in flags.values()):
            return JSONResponse({"error": "deny and rotate_refresh must be booleans"}, 400)
        book.lifetime = lifetime
        book.deny, book.rotate_refresh = flags["deny"], flags["rotate_refresh"]
        return JSONResponse(book.snapshot())

    async def expire(request: Request) -> Response:
        return JSONResponse({"expired": book.expire_all()})

    async def revoke(request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("token", ""), str):
            return JSONResponse({"error": 'body must be {} or {"token": "..."}'}, 400)
        return JSONResponse({"revoked": book.revoke(body.get("token"))})

    return [
        Route("/_sandbox/tokens", read, methods=["GET"]),
        Route("/_sandbox/tokens", configure, methods=["POST"]),
        Route("/_sandbox/expire", expire, methods=["POST"]),
        Route("/_sandbox/revoke", revoke, methods=["POST"]),
    ]
