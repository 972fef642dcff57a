"""Slack's refusals as Solder's errors, through a mock transport (no sockets): the Web API's
``ok: false`` answers in ``solder.apps.slack.call``, and token endpoint answers in
``solder.apps.oauth`` (Slack's shape, and RFC 6749's unchanged for other providers)."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest

from solder.apps import oauth, slack
from solder.apps.base import AppContext
from solder.apps.sdk import OAuth2
from solder.errors import FatalError, RateLimited, ReconnectNeeded, RetryableError, StepError

TOKEN = "xoxb-1-secret-token"


def answering(status: int, body: Any, headers: dict[str, str] | None = None) -> AppContext:
    def handle(request: httpx2.Request) -> httpx2.Response:
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        return httpx2.Response(status, json=body, headers=headers)

    client = httpx2.Client(transport=httpx2.MockTransport(handle))
    return AppContext({"accessToken": TOKEN}, client, "https://slack.test", "http://solder.test")


@pytest.mark.parametrize(
    "error", ["invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"]
)
def test_a_refused_token_needs_reconnection(error: str) -> None:
    with pytest.raises(ReconnectNeeded, match=error):
        slack.call(answering(200, {"ok": False, "error": error}), "auth.test")


@pytest.mark.parametrize(
    ("error", "field"),
    [
        ("channel_not_found", "channel"),
        ("not_in_channel", "channel"),
        ("is_archived", "channel"),
        ("no_text", "text"),
        ("msg_too_long", "text"),
        ("invalid_blocks", "blocks"),
        ("some_new_error", None),
    ],
)
def test_a_refused_input_is_fatal_and_names_its_field(error: str, field: str | None) -> None:
    ctx = answering(200, {"ok": False, "error": error})
    with pytest.raises(FatalError) as caught:
        slack.call(ctx, "chat.postMessage", body={"channel": "C1", "text": "hi"})
    assert caught.value.field == field
    assert error in caught.value.message
    if field is not None:
        assert caught.value.message.startswith(f"{field}: ")


def test_rate_limits_are_retried_after_slacks_delay() -> None:
    ctx = answering(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "30"})
    with pytest.raises(RateLimited) as caught:
        slack.call(ctx, "conversations.list")
    assert caught.value.retry_after == 30.0
    ctx = answering(200, {"ok": False, "error": "ratelimited"}, {"Retry-After": "5"})
    with pytest.raises(RateLimited) as caught:
        slack.call(ctx, "conversations.list")
    assert caught.value.retry_after == 5.0
    ctx = answering(200, {"ok": False, "error": "internal_error"})
    with pytest.raises(RetryableError):
        slack.call(ctx, "conversations.list")


def test_a_missing_scope_says_which() -> None:
    body = {"ok": False, "error": "missing_scope", "needed": "groups:read", "provided": "x"}
    with pytest.raises(FatalError, match="groups:read"):
        slack.call(answering(200, body), "conversations.list")


def test_no_message_without_text_or_blocks() -> None:
    ctx = answering(200, {"ok": True})
    inp = slack.PostMessageInput(channel="C1")
    with pytest.raises(FatalError) as caught:
        slack.connector.build().actions["post_message"].run(ctx, inp)
    assert caught.value.field == "text"


def test_errors_never_carry_the_token() -> None:
    for body in ({"ok": False, "error": "invalid_auth"}, {"ok": False, "error": "no_text"}):
        with pytest.raises(StepError) as caught:
            slack.call(answering(200, body), "chat.postMessage", body={"text": "x"})
        assert TOKEN not in str(caught.value)


# ---- token endpoint answers (solder.apps.oauth) ------------------------------------------------


def refusal(status: int, body: Any) -> StepError | None:
    response = httpx2.Response(status, content=json.dumps(body).encode())
    return oauth._refusal(response, "x token endpoint")


@pytest.mark.parametrize(
    ("status", "body", "kind", "says"),
    [
        # Slack: HTTP 200 and ok: false
        (200, {"ok": False, "error": "invalid_code"}, ReconnectNeeded, "invalid_code"),
        (200, {"ok": False, "error": "code_already_used"}, ReconnectNeeded, "code_already_used"),
        (200, {"ok": False, "error": "invalid_refresh_token"}, ReconnectNeeded, "invalid_refresh"),
        (200, {"ok": False, "error": "bad_client_secret"}, FatalError, "bad_client_secret"),
        (200, {"ok": False, "error": "ratelimited"}, RetryableError, "ratelimited"),
        (200, {"ok": False}, FatalError, "ok: false"),
        # RFC 6749 5.2, as before
        (400, {"error": "invalid_grant", "error_description": "used"}, ReconnectNeeded, "used"),
        (400, {"error": "invalid_code"}, FatalError, "invalid_code"),
        (401, {"error": "invalid_client"}, FatalError, "invalid_client"),
    ],
)
def test_token_endpoint_refusals(status: int, body: Any, kind: type[StepError], says: str) -> None:
    error = refusal(status, body)
    assert type(error) is kind
    assert says in str(error)


@pytest.mark.parametrize(
    "body",
    [
        {"ok": True, "access_token": "xoxb-1"},
        {"access_token": "a", "token_type": "bearer"},
        {"ok": "false", "access_token": "a"},  # only a JSON false is Slack's refusal
    ],
)
def test_token_answers_that_are_not_refusals(body: Any) -> None:
    assert refusal(200, body) is None


def test_facts_the_app_keeps_survive_a_refresh_that_omits_them() -> None:
    auth = slack.connector.auth
    assert isinstance(auth, OAuth2)
    first = oauth._credential(
        {"access_token": "xoxb-1", "team": {"id": "T1"}, "bot_user_id": "U1"}, auth=auth
    )
    assert (first["teamId"], first["botUserId"]) == ("T1", "U1")
    assert "appId" not in first
    again = oauth._credential({"access_token": "xoxb-2"}, first, auth)
    assert (again["accessToken"], again["teamId"]) == ("xoxb-2", "T1")
