"""The Slack sandbox's workspace state, Web API methods, OAuth and events (see the package
docstring)."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import itertools
import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import httpx2
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from solder.sandbox.oauth import AccessToken, RefreshToken, TokenBook, control_routes, redirect
from solder.sandbox.slack.wire import (
    EVERY_SCOPE,
    Json,
    SlackError,
    control_body,
    decode_cursor,
    encode_cursor,
    flag,
    needs_scope,
    parameters,
    retry_reason,
    sign,
)
from solder.sandbox.webhooks import DeliveryLog, Sent, Tasks, post_with_retries

Method = Callable[[Request, Json, Json], Awaitable[Json]]

CHANNEL_TYPES = {"public_channel", "private_channel", "mpim", "im"}
CODE_LIFETIME = 600.0
ROTATED_TOKEN_LIFETIME = 43200.0


class Workspace:
    """One team and the one app installed in it; tests reach it as ``app.state.slack``."""

    def __init__(
        self,
        bot_token: str,
        signing_secret: str,
        client_id: str,
        client_secret: str,
        retries: int,
        backoff: float,
        transport: httpx2.AsyncBaseTransport | None,
    ) -> None:
        self.team_id, self.team_name, self.domain = "T0SANDBOX", "Solder Sandbox", "solder-sandbox"
        self.app_id, self.bot_id, self.bot_user_id = "A0SANDBOX", "B0SANDBOX", "U0SANDBOXBOT"
        self.user_id = "U0ALICE"
        self.client_id, self.client_secret = client_id, client_secret
        self.signing_secret = signing_secret
        self.verification_token = secrets.token_hex(12)  # the deprecated envelope "token"
        self.retries, self.backoff, self.transport = retries, backoff, transport
        self.deliveries: DeliveryLog[Sent] = DeliveryLog()
        self.tasks = Tasks()
        self.request_url: str | None = None
        self.rate_limited = False
        self.retry_after = 30
        self.bots = TokenBook(lifetime=None, code_lifetime=CODE_LIFETIME, prefix="xoxb-")
        self.bots.rotate_refresh = True
        self.users = TokenBook(lifetime=None, prefix="xoxp-")
        self.user_scopes: dict[str, str] = {}  # code -> the user scopes asked for with it
        self.channels: dict[str, Json] = {}
        self.messages: dict[str, list[Json]] = {}
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        start = AccessToken(bot_token, client_id, EVERY_SCOPE, time.time(), None)
        self.bots.access[bot_token] = start
        self.add_channel("general", is_general=True, channel_id="C0GENERAL")
        self.add_channel("random", is_member=False, channel_id="C0RANDOM")
        self.add_channel("secret-plans", is_private=True, channel_id="G0PRIVATE")

    def add_channel(
        self,
        name: str,
        *,
        is_private: bool = False,
        is_member: bool = True,
        is_general: bool = False,
        channel_id: str | None = None,
    ) -> Json:
        channel_id = channel_id or f"C{next(self._ids):08d}"
        now = int(time.time())
        empty = {"value": "", "creator": "", "last_set": 0}
        channel = {
            "id": channel_id, "name": name, "is_channel": not is_private, "is_group": is_private,
            "is_im": False, "is_mpim": False, "is_private": is_private, "created": now,
            "is_archived": False, "is_general": is_general, "unlinked": 0,
            "name_normalized": name, "is_shared": False, "is_org_shared": False,
            "is_pending_ext_shared": False, "pending_shared": [], "context_team_id": self.team_id,
            "updated": now * 1000, "parent_conversation": None, "creator": self.user_id,
            "is_ext_shared": False, "shared_team_ids": [self.team_id],
            "pending_connected_team_ids": [], "is_member": is_member, "topic": dict(empty),
            "purpose": dict(empty), "previous_names": [], "num_members": 2 if is_member else 1,
        }  # fmt: skip
        self.channels[channel_id] = channel
        self.messages[channel_id] = []
        return channel

    def next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def find_channel(self, ref: Any) -> Json:
        """A channel by id or ``#name``/``name``, as chat.postMessage accepts; hidden private
        channels the bot is not in, as Slack does."""
        if isinstance(ref, str):
            channel = self.channels.get(ref)
            if channel is None:
                name = ref.removeprefix("#")
                channel = next((c for c in self.channels.values() if c["name"] == name), None)
            if channel is not None and (channel["is_member"] or not channel["is_private"]):
                return channel
        raise SlackError("channel_not_found")

    def authenticate(self, request: Request, params: Json) -> Json:
        """The bearer token, or a ``token`` parameter (not in a JSON body: Slack wants the
        header there)."""
        header = request.headers.get("authorization", "")
        json_body = request.headers.get("content-type", "").startswith("application/json")
        token = None if json_body else params.get("token")
        if header.lower().startswith("bearer "):
            token = header[7:].strip()
        if not token:
            raise SlackError("not_authed")
        for book, user_id in ((self.bots, self.bot_user_id), (self.users, self.user_id)):
            found = book.lookup(str(token))
            if found is not None:
                if book.expired(found):
                    raise SlackError("token_expired")
                return {"user_id": user_id, "scope": found.scope}
        raise SlackError("invalid_auth")

    @property
    def token_rotation(self) -> bool:
        return self.bots.lifetime is not None

    @token_rotation.setter
    def token_rotation(self, on: bool) -> None:
        self.bots.lifetime = ROTATED_TOKEN_LIFETIME if on else None
        self.bots.prefix = "xoxe.xoxb-1-" if on else "xoxb-"

    def announce(self, token: AccessToken, renewal: RefreshToken | None) -> Json:
        """The response fields of a new token (expiring ones come with their refresh token)."""
        fields: Json = {"access_token": token.value}
        if renewal is not None and not renewal.value.startswith("xoxe-1-"):
            # the book names refresh tokens like access tokens; Slack's start with xoxe-1-
            del self.bots.refresh_tokens[renewal.value]
            renewal.value = "xoxe-1-" + renewal.value.removeprefix(self.bots.prefix)
            self.bots.refresh_tokens[renewal.value] = renewal
        if renewal is not None and token.expires_at is not None:
            fields["refresh_token"] = renewal.value
            fields["expires_in"] = round(token.expires_at - token.issued_at)
        return fields

    def envelope(self, event: Json) -> Json:
        return {
            "token": self.verification_token, "team_id": self.team_id,
            "api_app_id": self.app_id, "event": event, "type": "event_callback",
            "event_id": f"Ev{secrets.token_hex(5).upper()}", "event_time": int(time.time()),
            "authorizations": [{
                "enterprise_id": None, "team_id": self.team_id, "user_id": self.bot_user_id,
                "is_bot": True, "is_enterprise_install": False,
            }],
            "is_ext_shared_channel": False,
        }  # fmt: skip

    def signed_headers(self, body: bytes) -> Callable[[int, Sent | None], dict[str, str]]:
        """Each attempt is signed at its own time; a retry says which and why."""

        def headers(attempt: int, previous: Sent | None) -> dict[str, str]:
            timestamp = int(time.time())
            out = {
                "Content-Type": "application/json",
                "X-Slack-Request-Timestamp": str(timestamp),
                "X-Slack-Signature": sign(self.signing_secret, timestamp, body),
            }
            if previous is not None:
                out["X-Slack-Retry-Num"] = str(attempt - 1)
                out["X-Slack-Retry-Reason"] = retry_reason(previous)
            return out

        return headers

    def emit(self, event: Json) -> str:
        """Send ``event`` to the request URL (if one is set); the envelope's ``event_id``."""
        envelope = self.envelope(event)
        if self.request_url is not None:
            self.tasks.spawn(self.deliver(envelope["event_id"], self.request_url, envelope))
        return str(envelope["event_id"])

    async def deliver(self, event_id: str, url: str, envelope: Json) -> None:
        body = json.dumps(envelope).encode()
        signed = self.signed_headers(body)
        tried: list[Sent] = []

        def report(attempt: int, status: int | None, error: str | None) -> None:
            tried.append(Sent(event_id, url, attempt, status, error, time.time()))
            self.deliveries.record(tried[-1])

        await post_with_retries(
            url,
            body,
            lambda attempt: signed(attempt, tried[-1] if tried else None),
            retries=self.retries,
            backoff=self.backoff,
            transport=self.transport,
            report=report,
        )


# --- Web API methods -------------------------------------------------------------------------


class SlackApi:
    """The handlers of one workspace."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace

    def method(
        self, handler: Method, *, authed: bool = True
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if self.ws.rate_limited:
                headers = {"Retry-After": str(self.ws.retry_after)}
                return JSONResponse({"ok": False, "error": "ratelimited"}, 429, headers)
            try:
                params = await parameters(request)
                grant = self.ws.authenticate(request, params) if authed else {}
                return JSONResponse({"ok": True, **await handler(request, params, grant)})
            except SlackError as exc:
                return JSONResponse({"ok": False, "error": exc.error, **exc.extra})

        return endpoint

    async def auth_test(self, request: Request, params: Json, grant: Json) -> Json:
        bot = grant["user_id"] == self.ws.bot_user_id
        answer: Json = {
            "url": f"https://{self.ws.domain}.slack.com/", "team": self.ws.team_name,
            "user": "solder-sandbox" if bot else "alice", "team_id": self.ws.team_id,
            "user_id": grant["user_id"], "is_enterprise_install": False,
        }  # fmt: skip
        if bot:
            answer["bot_id"] = self.ws.bot_id
        return answer

    async def post_message(self, request: Request, params: Json, grant: Json) -> Json:
        needs_scope(grant, "chat:write")
        channel = self.ws.find_channel(params.get("channel"))
        text, blocks = params.get("text"), params.get("blocks")
        if isinstance(blocks, str):
            try:
                blocks = json.loads(blocks) if blocks else None
            except ValueError:
                raise SlackError("invalid_blocks_format") from None
        if blocks is not None and not (
            isinstance(blocks, list) and all(isinstance(b, dict) and "type" in b for b in blocks)
        ):
            raise SlackError("invalid_blocks")
        if not text and not blocks:
            raise SlackError("no_text")
        if not channel["is_member"]:
            raise SlackError("not_in_channel")
        ts = self.ws.next_ts()
        message: Json = {
            "type": "message", "subtype": "bot_message", "text": str(text or ""), "ts": ts,
            "user": grant["user_id"], "bot_id": self.ws.bot_id, "app_id": self.ws.app_id,
            "team": self.ws.team_id,
        }  # fmt: skip
        if blocks:
            message["blocks"] = blocks
        self.ws.messages[channel["id"]].append(message)
        return {"channel": channel["id"], "ts": ts, "message": message}

    async def conversations_list(self, request: Request, params: Json, grant: Json) -> Json:
        needs_scope(grant, "channels:read")
        types = {t.strip() for t in str(params.get("types") or "public_channel").split(",")}
        if not types <= CHANNEL_TYPES:
            raise SlackError("invalid_types")
        try:
            limit = int(params.get("limit") or 100)
        except ValueError:
            raise SlackError("invalid_limit") from None
        limit = min(max(limit, 1), 1000)
        wanted = [
            c
            for c in sorted(self.ws.channels.values(), key=lambda c: c["id"])
            if ("private_channel" if c["is_private"] else "public_channel") in types
            and (c["is_member"] or not c["is_private"])
            and not (flag(params, "exclude_archived") and c["is_archived"])
        ]
        start = 0
        if params.get("cursor"):
            after = decode_cursor(str(params["cursor"]))
            start = next((i for i, c in enumerate(wanted) if c["id"] >= after), len(wanted))
        page = wanted[start : start + limit]
        rest = wanted[start + limit :]
        next_cursor = encode_cursor(rest[0]["id"]) if rest else ""
        return {"channels": page, "response_metadata": {"next_cursor": next_cursor}}

    async def conversations_info(self, request: Request, params: Json, grant: Json) -> Json:
        needs_scope(grant, "channels:read")
        return {"channel": self.ws.find_channel(params.get("channel"))}

    async def oauth_access(self, request: Request, params: Json, grant: Json) -> Json:
        client_id, client_secret = params.get("client_id"), params.get("client_secret")
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise SlackError("invalid_client_id") from None
            client_id, _, client_secret = decoded.partition(":")
        if client_id != self.ws.client_id:
            raise SlackError("invalid_client_id")
        if not hmac.compare_digest(str(client_secret or ""), self.ws.client_secret):
            raise SlackError("bad_client_secret")
        team = {"id": self.ws.team_id, "name": self.ws.team_name}
        grant_type = params.get("grant_type") or "authorization_code"
        if grant_type == "refresh_token":
            renewed = self.ws.bots.refresh(str(params.get("refresh_token")), self.ws.client_id)
            if renewed is None:
                raise SlackError("invalid_refresh_token")
            fresh, kept = renewed
            return {"app_id": self.ws.app_id, "token_type": "bot", "scope": fresh.scope,
                    **self.ws.announce(fresh, kept), "team": team,
                    "enterprise": None}  # fmt: skip
        if grant_type != "authorization_code":
            raise SlackError("invalid_grant_type")
        code = str(params.get("code"))
        user_scope = self.ws.user_scopes.pop(code, "")
        approved = self.ws.bots.take_code(code)
        if approved is None:
            raise SlackError("invalid_code")
        if approved.redirect_uri and params.get("redirect_uri") != approved.redirect_uri:
            raise SlackError("bad_redirect_uri")
        rotating = self.ws.token_rotation
        token, renewal = self.ws.bots.issue(self.ws.client_id, approved.scope, refresh=rotating)
        authed_user: Json = {"id": self.ws.user_id}
        if user_scope:
            user_token, _ = self.ws.users.issue(self.ws.client_id, user_scope, refresh=False)
            authed_user.update({"scope": user_scope, "token_type": "user"})
            authed_user["access_token"] = user_token.value
        return {
            "app_id": self.ws.app_id, "authed_user": authed_user, "scope": approved.scope,
            "token_type": "bot", **self.ws.announce(token, renewal),
            "bot_user_id": self.ws.bot_user_id,
            "team": team, "enterprise": None, "is_enterprise_install": False,
        }  # fmt: skip

    async def authorize(self, request: Request) -> Response:
        """The consent screen, approved (or denied) without a person."""
        query = request.query_params
        if query.get("client_id") != self.ws.client_id:
            return PlainTextResponse("invalid_client_id", 400)
        redirect_uri = query.get("redirect_uri", "")
        if not redirect_uri.startswith(("http://", "https://")):
            return PlainTextResponse("bad_redirect_uri", 400)
        if not query.get("scope") and not query.get("user_scope"):
            return PlainTextResponse("invalid_scope", 400)
        back: dict[str, str] = {}
        if self.ws.bots.deny:
            self.ws.bots.counters.denied += 1
            back["error"] = "access_denied"
        else:
            book = self.ws.bots
            code = book.new_code(
                book.grant(self.ws.client_id, query.get("scope", ""), redirect_uri)
            )
            self.ws.user_scopes[code] = query.get("user_scope", "")
            back["code"] = code
        if "state" in query:
            back["state"] = query["state"]
        return redirect(redirect_uri, back)

    async def unknown_method(self, request: Request) -> Response:
        return JSONResponse({"ok": False, "error": "unknown_method"}, 404)

    # control endpoints

    async def deliveries(self, request: Request) -> Response:
        return JSONResponse({"data": [d.as_json() for d in list(self.ws.deliveries.items)]})

    async def settings(self, request: Request) -> Response:
        body = await control_body(request)
        checks: dict[str, Callable[[Any], bool]] = {
            "request_url": lambda v: v is None or (isinstance(v, str) and v.startswith("http")),
            "rate_limited": lambda v: isinstance(v, bool),
            "retry_after": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
            "token_rotation": lambda v: isinstance(v, bool),
        }
        bad = [k for k in body if k not in checks or not checks[k](body[k])]
        if bad:
            return JSONResponse({"error": f"invalid: {', '.join(bad)}"}, 400)
        for name, value in body.items():
            setattr(self.ws, name, value)
        return JSONResponse({name: getattr(self.ws, name) for name in checks})

    async def add_channel(self, request: Request) -> Response:
        body = await control_body(request)
        name = body.get("name")
        if not isinstance(name, str) or not name:
            return JSONResponse({"error": "name is required"}, 400)
        channel = self.ws.add_channel(
            name,
            is_private=bool(body.get("is_private", False)),
            is_member=bool(body.get("is_member", True)),
        )
        return JSONResponse({"channel": channel}, 201)

    async def user_message(self, request: Request) -> Response:
        """A person posts in a channel: stored, and a ``message`` event sent to the app."""
        body = await control_body(request)
        try:
            channel = self.ws.find_channel(body.get("channel"))
        except SlackError as exc:
            return JSONResponse({"error": exc.error}, 404)
        ts = self.ws.next_ts()
        user = str(body.get("user") or self.ws.user_id)
        event = {
            "type": "message", "channel": channel["id"], "user": user,
            "text": str(body.get("text", "")), "ts": ts, "event_ts": ts,
            "channel_type": "group" if channel["is_private"] else "channel",
        }  # fmt: skip
        self.ws.messages[channel["id"]].append({k: v for k, v in event.items() if k != "channel"})
        event_id = self.ws.emit(event)
        return JSONResponse({"ts": ts, "event_id": event_id, "delivered_to": self.ws.request_url})

    async def url_verification(self, request: Request) -> Response:
        """What Slack does when a request URL is saved: POST a challenge, expect it back."""
        if self.ws.request_url is None:
            return JSONResponse({"error": "no request_url set"}, 409)
        challenge = secrets.token_urlsafe(24)
        payload = {"token": self.ws.verification_token, "challenge": challenge,
                   "type": "url_verification"}  # fmt: skip
        body = json.dumps(payload).encode()
        headers = self.ws.signed_headers(body)(1, None)
        try:
            async with httpx2.AsyncClient(transport=self.ws.transport, timeout=5.0) as client:
                answer = await client.post(self.ws.request_url, content=body, headers=headers)
        except httpx2.HTTPError as exc:
            return JSONResponse({"verified": False, "challenge": challenge, "error": str(exc)})
        echoed = answer.text.strip()
        with contextlib.suppress(ValueError):
            parsed = answer.json()
            if isinstance(parsed, dict):
                echoed = str(parsed.get("challenge", ""))
        if answer.headers.get("content-type", "").startswith("application/x-www-form"):
            echoed = dict(parse_qsl(answer.text)).get("challenge", "")
        verified = answer.status_code == 200 and echoed == challenge
        return JSONResponse(
            {"verified": verified, "challenge": challenge, "status": answer.status_code}
        )


def create_app(
    bot_token: str,
    signing_secret: str,
    *,
    client_id: str = "1111.2222",
    client_secret: str | None = None,
    event_retries: int = 3,
    retry_backoff: float = 0.2,
    transport: httpx2.AsyncBaseTransport | None = None,
) -> Starlette:
    """One workspace; its state is ``app.state.slack`` (a :class:`Workspace`).

    ``transport`` replaces the network for event deliveries (an ``httpx2.MockTransport``).
    """
    secret = client_secret if client_secret is not None else secrets.token_hex(16)
    workspace = Workspace(
        bot_token, signing_secret, client_id, secret, event_retries, retry_backoff, transport
    )
    api = SlackApi(workspace)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await workspace.tasks.aclose()

    methods: dict[str, Method] = {
        "auth.test": api.auth_test,
        "chat.postMessage": api.post_message,
        "conversations.list": api.conversations_list,
        "conversations.info": api.conversations_info,
    }
    verbs = ["GET", "POST"]
    routes = [
        Route("/_sandbox/deliveries", api.deliveries, methods=["GET"]),
        Route("/_sandbox/settings", api.settings, methods=["POST"]),
        Route("/_sandbox/channels", api.add_channel, methods=["POST"]),
        Route("/_sandbox/messages", api.user_message, methods=["POST"]),
        Route("/_sandbox/url_verification", api.url_verification, methods=["POST"]),
        *control_routes(workspace.bots),
        Route("/oauth/v2/authorize", api.authorize, methods=["GET"]),
        Route("/api/oauth.v2.access", api.method(api.oauth_access, authed=False), methods=verbs),
        *(Route(f"/api/{name}", api.method(fn), methods=verbs) for name, fn in methods.items()),
        Route("/api/{name}", api.unknown_method, methods=verbs),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.slack = workspace
    return app


def serve(
    host: str,
    port: int,
    bot_token: str,
    signing_secret: str,
    *,
    client_id: str,
    client_secret: str,
    request_url: str | None = None,
) -> None:
    """Run a sandbox workspace under uvicorn until interrupted."""
    app = create_app(bot_token, signing_secret, client_id=client_id, client_secret=client_secret)
    app.state.slack.request_url = request_url
    uvicorn.run(app, host=host, port=port, log_level="info")
