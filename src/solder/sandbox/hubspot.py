"""A local HubSpot account: CRM v3 contacts and deals, and HubSpot's OAuth, on the real wire format.

The CRM needs ``Authorization: Bearer`` (an OAuth access token, or the private app token)::

    GET  POST          /crm/v3/objects/{type}          list (``limit``, ``after``, ``properties``,
                                                       ``archived``), create
    GET  PATCH DELETE  /crm/v3/objects/{type}/{id}     read (``idProperty=email``), update,
                                                       archive (204)
    POST               /crm/v3/objects/{type}/search   ``filterGroups`` (OR of ANDs), ``sorts``,
                                                       ``query``, ``properties``, ``after``

for ``{type}`` ``contacts`` or ``deals``.

Objects are ``{id, properties, createdAt, updatedAt, archived}`` with string property values;
pages are ``{results, paging: {next: {after, link}}}``. Errors are ``{status: "error", message,
correlationId, category}``: 401 ``EXPIRED_AUTHENTICATION`` for an expired token, 404
``OBJECT_NOT_FOUND``, 409 ``CONFLICT`` for a second contact with an email, 400
``VALIDATION_ERROR``, and 429 ``RATE_LIMITS`` while ``POST /_sandbox/rate_limit {"count": n}``
has calls left. Every CRM answer carries the ``X-HubSpot-RateLimit-*`` headers.

OAuth::

    GET  /oauth/authorize                   client_id, scope, redirect_uri, state: consents at once
                                            (or is told to deny) and redirects back with ``code``
    POST /oauth/v1/token                    form, grant_type=authorization_code | refresh_token
    GET  /oauth/v1/access-tokens/{token}    what a token grants

Access tokens expire after ``token_lifetime`` seconds; a refresh token stays valid and can be
used again, as HubSpot's do. The ``/_sandbox`` endpoints of :mod:`solder.sandbox.oauth` set the
lifetime, deny consent, expire tokens and count refreshes. A denied consent redirects back
with ``error=access_denied`` and the ``state`` (RFC 6749 4.1.2.1; a sandbox convention, as
HubSpot documents no redirect for it).
"""

from __future__ import annotations

import functools
import hmac
import itertools
import json
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from solder.sandbox.hubspot_search import matches, search_request, sort_key, to_ms
from solder.sandbox.oauth import TokenBook, bearer, control_routes, form_or_json, redirect

Json = dict[str, Any]
Endpoint = Callable[[Request], Awaitable[Response]]

AUTH_HELP = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
RATE_HEADERS = {
    "X-HubSpot-RateLimit-Daily": "250000",
    "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
    "X-HubSpot-RateLimit-Max": "110",
    "X-HubSpot-RateLimit-Secondly": "11",
}


@dataclass(frozen=True)
class ObjectType:
    """What the sandbox knows of one CRM object type."""

    writable: frozenset[str]
    defaults: tuple[str, ...]
    modified: str
    searchable: tuple[str, ...]
    dates: frozenset[str]


CONTACTS = ObjectType(
    writable=frozenset({
        "email", "firstname", "lastname", "phone", "company", "website", "jobtitle", "city",
        "country", "lifecyclestage", "hs_lead_status", "createdate",
    }),
    defaults=("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
    modified="lastmodifieddate",
    searchable=("email", "firstname", "lastname", "phone", "company"),
    dates=frozenset({"createdate", "lastmodifieddate"}),
)  # fmt: skip
DEALS = ObjectType(
    writable=frozenset({
        "dealname", "amount", "dealstage", "pipeline", "closedate", "hubspot_owner_id",
        "createdate",
    }),
    defaults=(
        "amount", "closedate", "createdate", "dealname", "dealstage", "hs_lastmodifieddate",
        "hs_object_id", "pipeline",
    ),
    modified="hs_lastmodifieddate",
    searchable=("dealname",),
    dates=frozenset({"createdate", "hs_lastmodifieddate", "closedate"}),
)  # fmt: skip
OBJECT_TYPES = {"contacts": CONTACTS, "deals": DEALS}


class HubSpotError(Exception):
    """An error answered in HubSpot's shape."""

    def __init__(self, status: int, category: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.category, self.message, self.extra = status, category, message, extra

    def response(self, headers: dict[str, str] | None = None) -> Response:
        body = {"status": "error", "message": self.message, "correlationId": str(uuid4())}
        body |= {"category": self.category, **self.extra}
        return JSONResponse(body, self.status, headers)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


class Account:
    """The account's records, tokens and switches; tests reach it as ``app.state.account``."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        redirect_uris: tuple[str, ...] | None,
        book: TokenBook,
        private_app_token: str | None,
        hub_id: int,
    ) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.redirect_uris = redirect_uris
        self.book = book
        self.private_app_token = private_app_token
        self.hub_id = hub_id
        self.records: dict[str, dict[int, Json]] = {name: {} for name in OBJECT_TYPES}
        self.ids = itertools.count(101)
        self.rate_limited = 0
        self.calls = 0

    def reset(self) -> None:
        """Forget every record, code and token; turn rate limiting off (ids keep counting)."""
        for table in self.records.values():
            table.clear()
        self.book.reset()
        self.rate_limited = 0


# --- records ---------------------------------------------------------------------------------


def properties_of(body: Json, kind: ObjectType) -> dict[str, str]:
    """The ``properties`` of a create or update body, as strings; 400 naming every bad one."""
    props = body.get("properties")
    if not isinstance(props, dict):
        raise HubSpotError(400, "VALIDATION_ERROR", "Invalid input JSON: properties is required")
    errors = [
        {
            "message": f'Property "{name}" does not exist',
            "code": "PROPERTY_DOESNT_EXIST",
            "context": {"propertyName": [name]},
        }
        for name in props
        if name not in kind.writable
    ]
    for name in kind.dates & props.keys():
        if to_ms(str(props[name])) is None:
            errors.append(
                {
                    "message": f"{props[name]} was not a valid long or ISO 8601 date",
                    "code": "INVALID_DATE",
                    "context": {"propertyName": [name]},
                }
            )
    if errors:
        raise HubSpotError(400, "VALIDATION_ERROR", "Property values were not valid", errors=errors)
    return {k: "" if v is None else str(v).lower() if isinstance(v, bool) else str(v)
            for k, v in props.items()}  # fmt: skip


def render(record: Json, kind: ObjectType, wanted: list[str] | None) -> Json:
    names = kind.defaults if wanted is None else {*wanted, "createdate", "hs_object_id",
                                                  kind.modified}  # fmt: skip
    props = record["properties"]
    shown: Json = {
        "id": str(record["id"]),
        "properties": {name: props.get(name) for name in sorted(names)},
        "createdAt": iso(record["createdAt"]),
        "updatedAt": iso(record["updatedAt"]),
        "archived": record["archived"],
    }  # fmt: skip
    if record["archived"]:
        shown["archivedAt"] = iso(record["archivedAt"])
    return shown


# --- endpoints -------------------------------------------------------------------------------


class HubSpotApi:
    """The route handlers of one account."""

    def __init__(self, account: Account) -> None:
        self.account = account

    def guarded(self, handler: Endpoint) -> Endpoint:
        """Check the Bearer token and the rate-limit switch; answer errors in HubSpot's shape."""

        async def endpoint(request: Request) -> Response:
            account = self.account
            account.calls += 1
            headers = {
                **RATE_HEADERS,
                "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, 250000 - account.calls)),
                "X-HubSpot-RateLimit-Remaining": "0" if account.rate_limited else "109",
                "X-HubSpot-RateLimit-Secondly-Remaining": "0" if account.rate_limited else "10",
            }
            try:
                self.authenticate(request)
                if account.rate_limited > 0:
                    account.rate_limited -= 1
                    raise HubSpotError(
                        429, "RATE_LIMITS", "You have reached your ten_secondly_rolling limit.",
                        errorType="RATE_LIMIT", policyName="TEN_SECONDLY_ROLLING",
                    )  # fmt: skip
                kind = request.path_params.get("object_type")
                if kind is not None and kind not in OBJECT_TYPES:
                    raise HubSpotError(
                        400, "VALIDATION_ERROR", f"Unable to infer object type from: {kind}"
                    )
                response = await handler(request)
            except HubSpotError as exc:
                response = exc.response()
            response.headers.update(headers)
            return response

        return endpoint

    def authenticate(self, request: Request) -> None:
        value = bearer(request)
        private = self.account.private_app_token
        if value and private and hmac.compare_digest(value.encode(), private.encode()):
            return
        token = self.account.book.lookup(value or "")
        if token is None:
            raise HubSpotError(401, "INVALID_AUTHENTICATION", AUTH_HELP)
        if self.account.book.expired(token):
            assert token.expires_at is not None
            ago = max(0, math.floor(self.account.book.clock() - token.expires_at))
            expired_at = iso(int(token.expires_at * 1000))
            raise HubSpotError(
                401, "EXPIRED_AUTHENTICATION",
                f"The OAuth token used to make this call expired {ago} second(s) ago.",
                context={"expire time": [expired_at]},
            )  # fmt: skip

    def kind(self, request: Request) -> tuple[ObjectType, dict[int, Json]]:
        name = request.path_params["object_type"]
        return OBJECT_TYPES[name], self.account.records[name]

    def record_or_404(self, request: Request) -> Json:
        _, table = self.kind(request)
        raw = request.path_params["object_id"]
        by = request.query_params.get("idProperty")
        found = None
        if by is not None:
            found = live_with(table, by, raw)
        elif raw.isdigit() and not table.get(int(raw), {"archived": True})["archived"]:
            found = table[int(raw)]
        if found is None:
            raise HubSpotError(404, "OBJECT_NOT_FOUND", "Object not found.", context={"id": [raw]})
        return found

    async def body(self, request: Request) -> Json:
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise HubSpotError(400, "VALIDATION_ERROR", "Invalid input JSON on line 1")
        return body

    def wanted(self, request: Request) -> list[str] | None:
        raw = request.query_params.get("properties")
        return None if raw is None else [p for p in raw.split(",") if p]

    def check_unique(self, table: dict[int, Json], props: dict[str, str], own: int = 0) -> None:
        other = live_with(table, "email", props["email"]) if props.get("email") else None
        if other is not None and other["id"] != own:
            raise HubSpotError(
                409, "CONFLICT", f"Contact already exists. Existing ID: {other['id']}"
            )

    async def list_objects(self, request: Request) -> Response:
        kind, table = self.kind(request)
        query = request.query_params
        limit, after = query.get("limit", "10"), query.get("after", "0")
        if not limit.isdigit() or not 1 <= int(limit) <= 100 or not after.isdigit():
            raise HubSpotError(400, "VALIDATION_ERROR", "limit must be 1 to 100, after an id")
        archived = query.get("archived", "false") == "true"
        rows = [
            r for i, r in sorted(table.items()) if i >= int(after) and r["archived"] == archived
        ]
        page = rows[: int(limit)]
        body: Json = {"results": [render(r, kind, self.wanted(request)) for r in page]}
        if len(rows) > len(page):
            nxt = str(rows[len(page)]["id"])
            link = request.url.include_query_params(after=nxt)
            body["paging"] = {"next": {"after": nxt, "link": str(link)}}
        return JSONResponse(body)

    async def get_object(self, request: Request) -> Response:
        kind, _ = self.kind(request)
        return JSONResponse(render(self.record_or_404(request), kind, self.wanted(request)))

    async def create_object(self, request: Request) -> Response:
        kind, table = self.kind(request)
        props = properties_of(await self.body(request), kind)
        if kind is CONTACTS:
            self.check_unique(table, props)
        record_id, now = next(self.account.ids), now_ms()
        created = to_ms(props["createdate"]) if props.get("createdate") else now
        assert created is not None
        props |= {
            "hs_object_id": str(record_id),
            "createdate": iso(created),
            kind.modified: iso(now),
        }
        record = {"id": record_id, "properties": props, "createdAt": created, "updatedAt": now,
                  "archived": False}  # fmt: skip
        table[record_id] = record
        return JSONResponse(render(record, kind, list(props)), 201)

    async def update_object(self, request: Request) -> Response:
        kind, table = self.kind(request)
        record = self.record_or_404(request)
        props = properties_of(await self.body(request), kind)
        if kind is CONTACTS:
            self.check_unique(table, props, own=record["id"])
        now = now_ms()
        record["properties"] |= {**props, kind.modified: iso(now)}
        record["updatedAt"] = now
        return JSONResponse(render(record, kind, list(record["properties"])))

    async def archive_object(self, request: Request) -> Response:
        record = self.record_or_404(request)
        record["archived"], record["archivedAt"] = True, now_ms()
        return Response(status_code=204)

    async def search(self, request: Request) -> Response:
        kind, table = self.kind(request)
        body = await self.body(request)
        try:
            groups, sorts, limit, offset = search_request(body)
        except ValueError as exc:
            raise HubSpotError(400, "VALIDATION_ERROR", str(exc)) from None
        text = str(body.get("query", "")).casefold()
        rows = [
            r for _, r in sorted(table.items())
            if not r["archived"]
            and (not groups or any(all(matches(r, f, kind.dates) for f in g) for g in groups))
            and (not text or any(text in r["properties"].get(p, "").casefold()
                                 for p in kind.searchable))
        ]  # fmt: skip
        for name, descending in reversed(sorts):
            rows.sort(
                key=functools.partial(sort_key, name=name, dates=kind.dates), reverse=descending
            )
        wanted = body.get("properties") if isinstance(body.get("properties"), list) else None
        page = rows[offset : offset + limit]
        answer: Json = {
            "total": len(rows),
            "results": [render(r, kind, wanted) for r in page],
        }
        if offset + limit < len(rows):
            answer["paging"] = {"next": {"after": str(offset + limit)}}
        return JSONResponse(answer)

    # OAuth

    async def authorize(self, request: Request) -> Response:
        query, account = request.query_params, self.account
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != account.client_id:
            return JSONResponse({"status": "error", "message": "Unknown client_id"}, 400)
        if not redirect_uri.startswith(("http://", "https://")) or (
            account.redirect_uris is not None and redirect_uri not in account.redirect_uris
        ):
            return JSONResponse({"status": "error", "message": "Invalid redirect_uri"}, 400)
        back = {"state": query["state"]} if "state" in query else {}
        if account.book.deny:
            account.book.counters.denied += 1
            return redirect(redirect_uri, {"error": "access_denied", **back})
        grant = account.book.grant(account.client_id, query.get("scope", ""), redirect_uri)
        return redirect(redirect_uri, {"code": account.book.new_code(grant), **back})

    async def token(self, request: Request) -> Response:
        form, account = await form_or_json(request), self.account

        def fail(status: str, message: str) -> Response:
            body = {"status": status, "message": message, "correlationId": str(uuid4())}
            return JSONResponse(body, 400)

        if form.get("client_id") != account.client_id:
            return fail("BAD_CLIENT_ID", "missing or unknown client id")
        if not hmac.compare_digest(
            form.get("client_secret", "").encode(), account.client_secret.encode()
        ):
            return fail("BAD_CLIENT_SECRET", "missing or invalid client secret")
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            grant = account.book.take_code(form.get("code", ""))
            if grant is None:
                return fail("BAD_AUTH_CODE", "missing or unknown auth code")
            if form.get("redirect_uri") != grant.redirect_uri:
                return fail("BAD_REDIRECT_URI", "redirect_uri does not match the authorization")
            token, renewal = account.book.issue(account.client_id, grant.scope, refresh=True)
        elif grant_type == "refresh_token":
            issued = account.book.refresh(form.get("refresh_token", ""), account.client_id)
            if issued is None:
                return fail("BAD_REFRESH_TOKEN", "missing or unknown refresh token")
            token, renewal = issued
        else:
            return fail("BAD_GRANT_TYPE", "grant_type must be authorization_code or refresh_token")
        assert renewal is not None
        lifetime = account.book.lifetime
        return JSONResponse({
            "token_type": "bearer", "refresh_token": renewal.value,
            "access_token": token.value,
            "expires_in": 1800 if lifetime is None else max(1, round(lifetime)),
        })  # fmt: skip

    async def token_info(self, request: Request) -> Response:
        book = self.account.book
        token = book.lookup(request.path_params["token"])
        if token is None or book.expired(token):
            body = {"status": "error", "message": "access token not found or expired",
                    "correlationId": str(uuid4()), "category": "OBJECT_NOT_FOUND"}  # fmt: skip
            return JSONResponse(body, 404)
        left = None if token.expires_at is None else token.expires_at - book.clock()
        return JSONResponse({
            "token": token.value, "hub_id": self.account.hub_id, "app_id": 1,
            "scopes": token.scope.split(), "expires_in": 1800 if left is None else int(left),
            "token_type": "access", "user": "sandbox@example.com", "user_id": 1,
        })  # fmt: skip

    async def set_rate_limit(self, request: Request) -> Response:
        try:
            count = json.loads(await request.body()).get("count")
        except (ValueError, AttributeError):
            count = None
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            return JSONResponse({"error": 'body must be {"count": n}, n >= 0'}, 400)
        self.account.rate_limited = count
        return JSONResponse({"count": count})


def live_with(table: dict[int, Json], name: str, value: str) -> Json | None:
    """The first record not archived whose property ``name`` is ``value``, case aside."""
    wanted = value.casefold()
    return next(
        (r for r in table.values()
         if not r["archived"] and r["properties"].get(name, "").casefold() == wanted),
        None,
    )  # fmt: skip


def create_app(
    client_id: str,
    client_secret: str,
    *,
    redirect_uris: tuple[str, ...] | None = None,
    token_lifetime: float = 1800.0,
    private_app_token: str | None = None,
    hub_id: int = 4200042,
) -> Starlette:
    """One account's API; its state is ``app.state.account`` (an :class:`Account`).

    ``redirect_uris=None`` accepts any http(s) redirect URI.
    """
    book = TokenBook(lifetime=token_lifetime, prefix="sbx-hs-")
    account = Account(client_id, client_secret, redirect_uris, book, private_app_token, hub_id)
    api = HubSpotApi(account)
    objects = "/crm/v3/objects/{object_type}"
    table: list[tuple[str, str, Endpoint]] = [
        (objects, "GET", api.list_objects),
        (objects, "POST", api.create_object),
        (f"{objects}/search", "POST", api.search),
        (f"{objects}/{{object_id}}", "GET", api.get_object),
        (f"{objects}/{{object_id}}", "PATCH", api.update_object),
        (f"{objects}/{{object_id}}", "DELETE", api.archive_object),
    ]
    routes = [
        Route("/oauth/authorize", api.authorize, methods=["GET"]),
        Route("/oauth/v1/token", api.token, methods=["POST"]),
        Route("/oauth/v1/access-tokens/{token}", api.token_info, methods=["GET"]),
        Route("/_sandbox/rate_limit", api.set_rate_limit, methods=["POST"]),
        *control_routes(book),
        *(Route(path, api.guarded(fn), methods=[verb]) for path, verb, fn in table),
    ]
    app = Starlette(routes=routes)
    app.state.account = account
    return app


def serve(
    host: str,
    port: int,
    client_id: str,
    client_secret: str,
    *,
    token_lifetime: float = 1800.0,
    private_app_token: str | None = None,
) -> None:
    """Run a sandbox account under uvicorn until interrupted."""
    app = create_app(
        client_id, client_secret, token_lifetime=token_lifetime, private_app_token=private_app_token
    )
    uvicorn.run(app, host=host, port=port, log_level="info")
