"""Slack's wire format for the sandbox: ``ok: false`` errors, request parameters, cursors,
request signing."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from solder.sandbox.webhooks import Sent

Json = dict[str, Any]

EVERY_SCOPE = "*"  # the scope of the token the sandbox starts with


class SlackError(Exception):
    """An ``ok: false`` answer; ``extra`` joins the body (``needed``/``provided`` of scopes)."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


def sign(signing_secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Slack-Signature`` of ``body`` sent at ``timestamp``."""
    base = f"v0:{timestamp}:".encode() + body
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


def retry_reason(previous: Sent) -> str:
    if previous.status_code is not None:
        return "http_error"
    return "http_timeout" if previous.error and "Timeout" in previous.error else "connection_failed"


# --- request parameters ----------------------------------------------------------------------


async def parameters(request: Request) -> Json:
    """Query string, then a form or JSON body on top, as Slack reads them."""
    params: Json = dict(request.query_params)
    if request.method != "POST":
        return params
    body = await request.body()
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            parsed = json.loads(body) if body else {}
        except ValueError:
            raise SlackError("invalid_json") from None
        if not isinstance(parsed, dict):
            raise SlackError("json_not_object")
        params.update(parsed)
    else:
        params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return params


def flag(params: Json, name: str) -> bool:
    value = params.get(name, False)
    return value is True or str(value).lower() in ("true", "1")


def encode_cursor(channel_id: str) -> str:
    return base64.b64encode(f"channel:{channel_id}".encode()).decode()


def decode_cursor(cursor: str) -> str:
    try:
        kind, _, channel_id = base64.b64decode(cursor, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise SlackError("invalid_cursor") from None
    if kind != "channel" or not channel_id:
        raise SlackError("invalid_cursor")
    return channel_id


def needs_scope(grant: Json, scope: str) -> None:
    if grant["scope"] != EVERY_SCOPE and scope not in grant["scope"].split(","):
        raise SlackError("missing_scope", needed=scope, provided=grant["scope"])


async def control_body(request: Request) -> Json:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        body = None
    return body if isinstance(body, dict) else {}
