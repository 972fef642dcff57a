"""A generic OAuth 2.0 provider for install-flow tests: RFC 6749, 6750, 7009 and 7636.

Served::

    GET  /authorize   response_type=code, client_id, redirect_uri, scope, state,
                      code_challenge, code_challenge_method: consents at once (or is told to deny)
                      and redirects back with ``code`` and ``state``
    POST /token       grant_type=authorization_code | refresh_token | client_credentials,
                      client authentication by HTTP Basic or form fields (never both)
    POST /revoke      token (RFC 7009); always 200 for an authenticated client
    GET  /api/me      the token's subject, client and scope (Bearer)
    GET  /api/items   a few items (Bearer, scope ``items:read`` when the token has scopes)

A redirect URI must equal a registered one exactly; a bad client or redirect URI is answered
400 on the spot and never redirected to (RFC 6749 4.1.2.1). With ``require_pkce`` a client must
send an S256 challenge and the matching ``code_verifier``. Codes are single-use and expire; a code
redeemed twice revokes the tokens issued from it. Errors are ``{"error", "error_description"}``:
400, or 401 with ``WWW-Authenticate`` for a failed client; the API answers 401 with
``WWW-Authenticate: Bearer error="invalid_token"`` once a token expires. The ``/_sandbox``
endpoints of :mod:`solder.sandbox.oauth` set the token lifetime, deny consent, expire or revoke
tokens and read the counters.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from solder.sandbox.oauth import Grant, TokenBook, control_routes, form_or_json, redirect, s256

VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
Json = dict[str, object]
ITEMS = [{"id": i, "name": name} for i, name in enumerate(("anvil", "bellows", "chisel"), 1)]


@dataclass(frozen=True)
class Client:
    """A registered client; ``secret=None`` is a public client (PKCE is its only proof)."""

    client_id: str
    secret: str | None
    redirect_uris: tuple[str, ...]
    scopes: tuple[str, ...] = ("profile", "items:read")


class OAuthError(Exception):
    """An RFC 6749 5.2 error for the token endpoint."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def response(self, headers: dict[str, str] | None = None) -> Response:
        body = {"error": self.error, "error_description": self.description}
        return JSONResponse(body, self.status, {**NO_STORE, **(headers or {})})


class Provider:
    """The route handlers; state is ``app.state.provider`` (clients) and ``.book`` (tokens)."""

    def __init__(self, clients: Iterable[Client], book: TokenBook, require_pkce: bool) -> None:
        self.clients = {client.client_id: client for client in clients}
        self.book = book
        self.require_pkce = require_pkce

    # authorization endpoint

    async def authorize(self, request: Request) -> Response:
        query = request.query_params
        client = self.clients.get(query.get("client_id", ""))
        if client is None:
            return OAuthError("invalid_request", "Unknown client_id.").response()
        redirect_uri = query.get("redirect_uri")
        if redirect_uri is None and len(client.redirect_uris) == 1:
            redirect_uri = client.redirect_uris[0]
        elif redirect_uri not in client.redirect_uris:
            return OAuthError("invalid_request", "redirect_uri is not registered.").response()
        assert redirect_uri is not None
        back = {"state": query["state"]} if "state" in query else {}

        def refuse(error: str, description: str) -> Response:
            return redirect(
                redirect_uri, {"error": error, "error_description": description, **back}
            )

        if query.get("response_type") != "code":
            return refuse("unsupported_response_type", "Only response_type=code is supported.")
        scope = query.get("scope", " ".join(client.scopes))
        unknown = set(scope.split()) - set(client.scopes)
        if unknown:
            return refuse("invalid_scope", f"Unknown scope: {' '.join(sorted(unknown))}.")
        challenge = query.get("code_challenge")
        method = query.get("code_challenge_method", "plain" if challenge else None)
        if challenge is None and (self.require_pkce or client.secret is None):
            return refuse("invalid_request", "code_challenge is required.")
        if challenge is not None and method not in ("S256", "plain"):
            return refuse("invalid_request", "code_challenge_method must be S256 or plain.")
        if challenge is not None and self.require_pkce and method != "S256":
            return refuse("invalid_request", "code_challenge_method must be S256.")
        if self.book.deny:
            self.book.counters.denied += 1
            return refuse("access_denied", "The user denied the request.")
        grant = self.book.grant(
            client.client_id,
            scope,
            query.get("redirect_uri"),
            code_challenge=challenge,
            challenge_method=method,
        )
        return redirect(redirect_uri, {"code": self.book.new_code(grant), **back})

    # token endpoint

    def authenticate(self, request: Request, form: dict[str, str]) -> Client:
        """The client, by HTTP Basic or by form fields (RFC 6749 2.3.1), never both."""
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        basic = scheme.lower() == "basic"
        if basic and "client_secret" in form:
            raise OAuthError("invalid_request", "Use one client authentication method.")
        if basic:
            try:
                client_id, _, secret = (
                    base64.b64decode(value, validate=True).decode().partition(":")
                )
            except (binascii.Error, UnicodeDecodeError):
                raise OAuthError("invalid_client", "Malformed Basic credentials.", 401) from None
            client_id, secret = unquote(client_id), unquote(secret)
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        client = self.clients.get(client_id)
        if client is None or (
            client.secret is not None
            and not hmac.compare_digest(secret.encode(), client.secret.encode())
        ):
            raise OAuthError("invalid_client", "Client authentication failed.", 401)
        if form.get("client_id", client_id) != client_id:
            raise OAuthError("invalid_request", "client_id does not match the credentials.")
        return client

    async def token(self, request: Request) -> Response:
        form = await form_or_json(request)
        try:
            client = self.authenticate(request, form)
            grant_type = form.get("grant_type")
            if grant_type == "authorization_code":
                return self.from_code(client, form)
            if grant_type == "refresh_token":
                return self.from_refresh(client, form)
            if grant_type == "client_credentials":
                return self.from_credentials(client, form)
            raise OAuthError("unsupported_grant_type", f"Unsupported grant_type: {grant_type}.")
        except OAuthError as exc:
            basic = request.headers.get("authorization", "").lower().startswith("basic")
            challenge = {"WWW-Authenticate": 'Basic realm="sandbox"'} if basic else {}
            return exc.response(challenge if exc.status == 401 else None)

    def from_code(self, client: Client, form: dict[str, str]) -> Response:
        code = form.get("code", "")
        grant = self.book.take_code(code)
        if grant is None:
            if code in self.book.used_codes:
                self.book.revoke_from_code(code)
            raise OAuthError("invalid_grant", "The code is invalid, expired or already used.")
        if grant.client_id != client.client_id:
            raise OAuthError("invalid_grant", "The code was issued to another client.")
        if grant.redirect_uri is not None and form.get("redirect_uri") != grant.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri does not match the authorization.")
        check_verifier(grant, form.get("code_verifier"))
        token, renewal = self.book.issue(client.client_id, grant.scope, refresh=True, code=code)
        return self.tokens(token.value, grant.scope, renewal.value if renewal else None)

    def from_refresh(self, client: Client, form: dict[str, str]) -> Response:
        issued = self.book.refresh(form.get("refresh_token", ""), client.client_id)
        if issued is None:
            raise OAuthError("invalid_grant", "The refresh token is invalid or was revoked.")
        token, renewal = issued
        wanted = form.get("scope")
        if wanted is not None and not set(wanted.split()) <= set(token.scope.split()):
            raise OAuthError("invalid_scope", "A refresh cannot widen the scope.")
        if wanted is not None:
            token.scope = wanted
        return self.tokens(token.value, token.scope, renewal.value)

    def from_credentials(self, client: Client, form: dict[str, str]) -> Response:
        if client.secret is None:
            raise OAuthError("unauthorized_client", "A public client cannot use this grant.")
        scope = form.get("scope", " ".join(client.scopes))
        if not set(scope.split()) <= set(client.scopes):
            raise OAuthError("invalid_scope", "Unknown scope.")
        token, _ = self.book.issue(client.client_id, scope, refresh=False)
        return self.tokens(token.value, scope, None)

    def tokens(self, access: str, scope: str, refresh: str | None) -> Response:
        body: dict[str, object] = {"access_token": access, "token_type": "Bearer"}
        if self.book.lifetime is not None:
            body["expires_in"] = max(1, round(self.book.lifetime))
        if refresh is not None:
            body["refresh_token"] = refresh
        body["scope"] = scope
        return JSONResponse(body, headers=NO_STORE)

    async def revoke(self, request: Request) -> Response:
        form = await form_or_json(request)
        try:
            client = self.authenticate(request, form)
        except OAuthError as exc:
            return exc.response()
        value = form.get("token", "")
        owner = self.book.access.get(value) or self.book.refresh_tokens.get(value)
        if owner is not None and owner.client_id == client.client_id:
            self.book.revoke(value)
        return Response(status_code=200)

    # protected API

    def bearer_error(self, status: int, error: str | None, description: str = "") -> Response:
        params = ['realm="sandbox"']
        if error is not None:
            params += [f'error="{error}"', f'error_description="{description}"']
        body = {"error": error or "invalid_request", "error_description": description}
        return JSONResponse(body, status, {"WWW-Authenticate": "Bearer " + ", ".join(params)})

    def protected(self, request: Request, scope: str | None) -> Response | Json:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not value:
            return self.bearer_error(401, None, "Bearer token required.")
        token = self.book.lookup(value.strip())
        if token is None:
            return self.bearer_error(401, "invalid_token", "The access token is invalid.")
        if self.book.expired(token):
            return self.bearer_error(401, "invalid_token", "The access token expired.")
        if scope is not None and scope not in token.scope.split():
            return self.bearer_error(403, "insufficient_scope", f"Scope {scope} is required.")
        return {"sub": f"user-of-{token.client_id}", "client_id": token.client_id}

    async def me(self, request: Request) -> Response:
        who = self.protected(request, None)
        if isinstance(who, Response):
            return who
        token = self.book.lookup(bearer_value(request))
        assert token is not None
        return JSONResponse({**who, "scope": token.scope, "expires_at": token.expires_at})

    async def items(self, request: Request) -> Response:
        who = self.protected(request, "items:read")
        return who if isinstance(who, Response) else JSONResponse({"items": ITEMS})


def bearer_value(request: Request) -> str:
    return request.headers.get("authorization", "").partition(" ")[2].strip()


def check_verifier(grant: Grant, verifier: str | None) -> None:
    """RFC 7636 4.6: the verifier must hash (S256) or equal (plain) the stored challenge."""
    if grant.code_challenge is None:
        if verifier is not None:
            raise OAuthError("invalid_grant", "No code_challenge was sent for this code.")
        return
    if verifier is None or not VERIFIER.fullmatch(verifier):
        raise OAuthError("invalid_grant", "code_verifier is missing or malformed.")
    expected = s256(verifier) if grant.challenge_method == "S256" else verifier
    if not hmac.compare_digest(expected.encode(), grant.code_challenge.encode()):
        raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge.")


def create_app(
    clients: Iterable[Client] = (),
    *,
    require_pkce: bool = True,
    token_lifetime: float | None = 3600.0,
    code_lifetime: float = 60.0,
    rotate_refresh: bool = False,
) -> Starlette:
    """A provider with ``clients`` registered (a default confidential client when empty).

    Its state is ``app.state.provider`` (a :class:`Provider`) and ``app.state.book``.
    """
    registered = list(clients) or [
        Client("sandbox-client", "sandbox-secret", ("http://127.0.0.1:8000/oauth/callback",))
    ]
    book = TokenBook(
        lifetime=token_lifetime, code_lifetime=code_lifetime, rotate_refresh=rotate_refresh
    )
    provider = Provider(registered, book, require_pkce)
    routes = [
        Route("/authorize", provider.authorize, methods=["GET"]),
        Route("/token", provider.token, methods=["POST"]),
        Route("/revoke", provider.revoke, methods=["POST"]),
        Route("/api/me", provider.me, methods=["GET"]),
        Route("/api/items", provider.items, methods=["GET"]),
        *control_routes(book),
    ]
    app = Starlette(routes=routes)
    app.state.provider = provider
    app.state.book = book
    return app


def serve(
    host: str,
    port: int,
    client: Client,
    *,
    require_pkce: bool = True,
    token_lifetime: float | None = 3600.0,
    rotate_refresh: bool = False,
) -> None:
    """Run a provider with one registered client under uvicorn until interrupted."""
    app = create_app(
        [client],
        require_pkce=require_pkce,
        token_lifetime=token_lifetime,
        rotate_refresh=rotate_refresh,
    )
    uvicorn.run(app, host=host, port=port, log_level="info")
