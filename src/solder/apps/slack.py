"""Slack: post messages with a bot token got through OAuth v2, read channels.

Every Web API method goes through :func:`call`. Slack answers HTTP 200 with
``{"ok": false, "error": ...}`` when it refuses a call, so the HTTP status alone says little;
``call`` maps the ``error`` to what the engine does next::

    invalid_auth, not_authed, token_revoked,     ReconnectNeeded (the user connects again;
    token_expired, account_inactive              an OAuth app gets one refresh first)
    ratelimited (HTTP 429, Retry-After)          RateLimited(retry_after=...): the run waits
    internal_error, service_unavailable, ...     RetryableError
    channel_not_found, not_in_channel, no_text,  FatalError naming the input field
    invalid_blocks, msg_too_long, ...
    anything else                                FatalError

The credential keeps the workspace's ``teamId`` from the token answer. Slack posts every
event of the ISV's Slack app to one request URL (``/hooks/slack/events``, see
``solder.api.slack_events``), signed with the app's signing secret (:func:`signature_problem`);
an installed workflow triggered by a Slack event keeps its workspace's team id in its state
(``subscribe``), which is how an event finds the workflows it starts.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from solder.apps.base import AppContext, Subscription, WebhookTrigger
from solder.apps.http import json_body, retry_after_seconds, send
from solder.apps.sdk import Connector, OAuth2, Option
from solder.errors import FatalError, RateLimited, ReconnectNeeded, RetryableError, StepError

RECONNECT = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}
)
TRY_AGAIN = frozenset(
    {"ratelimited", "internal_error", "service_unavailable", "request_timeout", "fatal_error"}
)
FIELD_OF = {
    "channel_not_found": "channel",
    "not_in_channel": "channel",
    "is_archived": "channel",
    "restricted_action": "channel",
    "no_text": "text",
    "msg_too_long": "text",
    "invalid_blocks": "blocks",
    "invalid_blocks_format": "blocks",
    "too_many_blocks": "blocks",
    "thread_not_found": "thread_ts",
    "invalid_cursor": "cursor",
}
"""Errors caused by one input of the action, by the input field they name."""
SIGNATURE_TOLERANCE = 300.0
"""Seconds a signed request stays good: an older one may be a replay."""
PAGE_SIZE = 200  # Slack's advice for conversations.list: at most 200 a page


def _headers(ctx: AppContext) -> dict[str, str]:
    token = ctx.credential.get("accessToken")
    if not token:
        raise ReconnectNeeded("slack credential has no access token")
    return {"Authorization": f"Bearer {token}"}


def refused(method: str, body: dict[str, Any], retry_after: float | None = None) -> StepError:
    """The Solder error for Slack's ``{"ok": false, "error": ...}`` answer to ``method``."""
    error = str(body.get("error") or "unknown_error")
    message = f"slack {method}: {error}"
    if error in RECONNECT:
        return ReconnectNeeded(message)
    if error == "ratelimited":  # Slack says it with a 429, which solder.apps.http maps first
        return RateLimited(message, retry_after=retry_after)
    if error in TRY_AGAIN:
        return RetryableError(message, retry_after=retry_after)
    if error == "missing_scope":
        needed = body.get("needed")
        return FatalError(
            f"{message}: the connection lacks the scope {needed!r}; connect Slack again"
            if isinstance(needed, str)
            else message
        )
    field = FIELD_OF.get(error)
    return FatalError(f"{field}: {message}" if field else message, field=field)


def call(
    ctx: AppContext,
    method: str,
    *,
    query: dict[str, Any] | None = None,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Call the Web API ``method`` (GET with ``query``, or POST with a JSON ``body``) and
    return its answer, or raise the error its refusal means (see the module docstring)."""
    url = f"{ctx.base_url.rstrip('/')}/api/{method}"
    what = f"slack {method}"
    if body is None:
        resp = send(ctx.client, "GET", url, what, params=query or {}, headers=_headers(ctx))
    else:
        headers = {**_headers(ctx), "Content-Type": "application/json; charset=utf-8"}
        resp = send(ctx.client, "POST", url, what, json=body, headers=headers)
    answer = json_body(resp, what)
    if not isinstance(answer, dict):
        raise FatalError(f"{what}: the answer is not an object")
    if answer.get("ok") is not True:
        raise refused(method, answer, retry_after_seconds(resp.headers.get("retry-after")))
    return answer


connector = Connector(
    key="slack",
    categories=("communication",),
    title="Slack",
    icon="/static/icons/slack.svg",
    version="1.0.0",
    description="Messages in a Slack workspace's channels, posted by the ISV's Slack app.",
    auth=OAuth2(
        authorize_url="https://slack.com/oauth/v2/authorize",
        token_url="https://slack.com/api/oauth.v2.access",  # noqa: S106 - a URL
        # channels:history: the message events of public channels the bot is in
        scopes=("chat:write", "channels:read", "groups:read", "channels:history"),
        scope_separator=",",
        pkce=False,  # a confidential client; Slack's PKCE is for apps without a secret
        client_auth="basic",  # Slack asks for HTTP basic auth rather than form fields
        refreshes=False,  # bot tokens last until revoked, unless the app turns on rotation
        keep={"teamId": "team.id", "botUserId": "bot_user_id", "appId": "app_id"},
    ),
    provider={
        "base_url": "https://slack.com",
        "docs_url": "https://docs.slack.dev/reference/methods",
        "pagination": {
            "kind": "cursor",
            "cursor_param": "cursor",
            "cursor_path": "response_metadata.next_cursor",
            "limit_param": "limit",
            "max_limit": 1000,
        },
        "rate_limit": {"retry_after_header": "Retry-After"},
        "webhook_signature": {"header": "X-Slack-Signature", "algorithm": "custom"},
    },
    auth_headers=_headers,
    api_root=lambda ctx: f"{ctx.base_url.rstrip('/')}/api",
)


@connector.credential_test
def _auth_test(ctx: AppContext) -> None:
    """auth.test: says whether the token is good, costs nothing."""
    call(ctx, "auth.test")


@connector.options("channels")
def _channels(ctx: AppContext) -> list[Option]:
    """Public channels and the private ones the bot is in, every page of them."""
    found: list[Option] = []
    cursor = ""
    while True:
        query: dict[str, Any] = {
            "types": "public_channel,private_channel",
            "exclude_archived": "true",
            "limit": PAGE_SIZE,
        }
        if cursor:
            query["cursor"] = cursor
        body = call(ctx, "conversations.list", query=query)
        for channel in body.get("channels") or []:
            name = str(channel.get("name") or channel["id"])
            label = f"{name} (private)" if channel.get("is_private") else f"#{name}"
            found.append(Option(value=str(channel["id"]), label=label))
        meta = body.get("response_metadata")
        cursor = str(meta.get("next_cursor") or "") if isinstance(meta, dict) else ""
        if not cursor:
            return found


class PostMessageInput(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    channel: str = Field(
        min_length=1,
        description="a channel id (or #name); a private channel needs the bot in it",
        json_schema_extra={"options": "channels"},
    )
    text: str | None = Field(
        default=None,
        description="the message, or its fallback text for notifications when blocks are given",
    )
    blocks: list[dict[str, Any]] | None = Field(
        default=None, description="Block Kit blocks (https://docs.slack.dev/block-kit/)"
    )
    thread_ts: str | None = Field(
        default=None, alias="threadTs", description="reply in the thread of this message ts"
    )


class PostedMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    channel: str
    ts: str
    message: dict[str, Any] = Field(default_factory=dict)


@connector.action(
    "post_message",
    title="Send a message",
    # chat.postMessage has no idempotency key: a block run again after a crash posts again
    idempotent=False,
    sample={"channel": "C0GENERAL", "ts": "1700000000.000100",
            "message": {"type": "message", "text": "Order 100 shipped", "ts": "1700000000.000100"}},
)  # fmt: skip
def _post_message(ctx: AppContext, inp: PostMessageInput) -> PostedMessage:
    if not (inp.text or inp.blocks):
        raise FatalError("text: a message needs text or blocks", field="text")
    body: dict[str, Any] = {"channel": inp.channel}
    if inp.text:
        body["text"] = inp.text
    if inp.blocks:
        body["blocks"] = inp.blocks
    if inp.thread_ts:
        body["thread_ts"] = inp.thread_ts
    answer = call(ctx, "chat.postMessage", body=body)
    return PostedMessage.model_validate(answer)


class ChannelInput(BaseModel):
    channel: str = Field(min_length=1, json_schema_extra={"options": "channels"})


class Channel(BaseModel):
    """A conversation object as Slack answers it; fields beyond these are kept as they come."""

    model_config = ConfigDict(extra="allow")

    id: str
    name: str
    is_private: bool = False


@connector.action(
    "get_channel",
    title="Get a channel",
    idempotent=True,
    sample={"id": "C0GENERAL", "name": "general", "is_private": False, "is_member": True},
)
def _get_channel(ctx: AppContext, inp: ChannelInput) -> Channel:
    answer = call(ctx, "conversations.info", query={"channel": inp.channel})
    channel = answer.get("channel")
    if not isinstance(channel, dict):
        raise FatalError("slack conversations.info: the answer has no channel")
    return Channel.model_validate(channel)


# ---- events ------------------------------------------------------------------------------------


def signature_problem(
    secret: str, headers: Mapping[str, str], body: bytes, now: float
) -> str | None:
    """Why a request is not one Slack signed with ``secret`` in the last five minutes, or
    ``None`` when it is: ``X-Slack-Signature: v0=hex(HMAC-SHA256(secret, "v0:{ts}:{body}"))``
    with ``ts`` the ``X-Slack-Request-Timestamp``. ``headers`` has lower-case names."""
    timestamp = headers.get("x-slack-request-timestamp", "")
    if not timestamp.isdigit():
        return "X-Slack-Request-Timestamp: missing"
    if abs(now - int(timestamp)) > SIGNATURE_TOLERANCE:
        return "X-Slack-Request-Timestamp: more than five minutes away"
    base = f"v0:{timestamp}:".encode() + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, headers.get("x-slack-signature", "")):
        return "X-Slack-Signature: missing or wrong"
    return None


def _remember_team(ctx: AppContext, sub: Subscription) -> dict[str, Any]:
    """Nothing to subscribe at Slack (the Slack app's request URL gets every event); keep the
    workspace, so its events find this installed workflow."""
    team = ctx.credential.get("teamId")
    if not team:
        raise ReconnectNeeded("slack credential has no teamId: connect Slack again")
    return {"teamId": str(team)}


def _nothing_to_drop(ctx: AppContext, state: Mapping[str, Any]) -> None:
    return None


def _event(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    event = payload.get("event")
    return event if isinstance(event, Mapping) else {}


def _a_person_posted(payload: Mapping[str, Any]) -> bool:
    """A new message from a person: no subtype (edits, joins, bot posts have one), no bot."""
    event = _event(payload)
    return event.get("type") == "message" and not event.get("subtype") and not event.get("bot_id")


def _message_output(ctx: AppContext, payload: Mapping[str, Any]) -> dict[str, Any]:
    event = _event(payload)
    return {
        **{k: event.get(k) for k in ("channel", "user", "text", "ts", "thread_ts", "channel_type")},
        "team_id": payload.get("team_id"),
        "event_id": payload.get("event_id"),
    }


message_posted = WebhookTrigger(
    key="message_posted",
    name="New message in a channel",
    subscribe=_remember_team,
    unsubscribe=_nothing_to_drop,
    secret_header="X-Slack-Signature",  # noqa: S106 - a header name
    event_id=lambda p: str(p["event_id"]) if p.get("event_id") else None,
    matches=_a_person_posted,
    enrich=_message_output,
)
connector.trigger(message_posted)
