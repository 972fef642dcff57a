"""The Slack sandbox, on real loopback sockets, sending events to the receiver sandbox."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from solder.sandbox import receiver, slack
from tests.sandbox.conftest import Sink
from tests.servers import run_asgi

BOT_TOKEN = "xoxb-1-test-token"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
CLIENT_ID = "4242.4343"
CLIENT_SECRET = "client-secret-of-the-app"
REDIRECT = "https://isv.example/slack/callback"


@dataclass
class Boxes:
    url: str
    ws: slack.Workspace
    receiver_url: str
    received: receiver.ReceiverState


@pytest.fixture
def boxes(sink: Sink) -> Iterator[Boxes]:
    sink.state.clear()
    app = slack.create_app(
        BOT_TOKEN,
        SIGNING_SECRET,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        event_retries=2,
        retry_backoff=0.02,
    )
    with run_asgi(app) as url:
        yield Boxes(url, app.state.slack, sink.url, sink.state)


@pytest.fixture
def api(boxes: Boxes) -> Iterator[httpx2.Client]:
    headers = {"Authorization": f"Bearer {BOT_TOKEN}"}
    with httpx2.Client(base_url=f"{boxes.url}/api", headers=headers) as client:
        yield client


def control(boxes: Boxes, path: str, body: dict[str, object]) -> httpx2.Response:
    with httpx2.Client() as client:
        return client.post(f"{boxes.url}/_sandbox/{path}", json=body)


def expected_signature(timestamp: str, body: bytes, secret: str = SIGNING_SECRET) -> str:
    """Slack's documented recipe, done here independently of the sandbox."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def test_a_method_needs_a_valid_token_and_answers_200(boxes: Boxes) -> None:
    with httpx2.Client(base_url=f"{boxes.url}/api") as client:
        missing = client.post("/auth.test")
        wrong = client.post("/auth.test", headers={"Authorization": "Bearer xoxb-nope"})
        posted = client.post(
            "/chat.postMessage",
            headers={"Authorization": "Bearer xoxb-nope"},
            data={"channel": "C0GENERAL", "text": "hi"},
        )
        in_form = client.post("/auth.test", data={"token": BOT_TOKEN})
        in_json = client.post("/auth.test", json={"token": BOT_TOKEN})
    assert missing.status_code == wrong.status_code == posted.status_code == 200
    assert missing.json() == {"ok": False, "error": "not_authed"}
    assert wrong.json() == {"ok": False, "error": "invalid_auth"}
    assert posted.json() == {"ok": False, "error": "invalid_auth"}
    assert boxes.ws.messages["C0GENERAL"] == []
    assert in_form.json()["ok"] is True
    assert in_json.json() == {"ok": False, "error": "not_authed"}


def test_auth_test_describes_the_bot(api: httpx2.Client, boxes: Boxes) -> None:
    body = api.post("/auth.test").json()
    assert body == {
        "ok": True,
        "url": "https://solder-sandbox.slack.com/",
        "team": "Solder Sandbox",
        "user": "solder-sandbox",
        "team_id": boxes.ws.team_id,
        "user_id": boxes.ws.bot_user_id,
        "bot_id": boxes.ws.bot_id,
        "is_enterprise_install": False,
    }


def test_post_message_by_form_and_by_json(api: httpx2.Client, boxes: Boxes) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Order 7* shipped"}}]
    by_form = api.post(
        "/chat.postMessage",
        data={"channel": "C0GENERAL", "text": "Order 7 shipped", "blocks": json.dumps(blocks)},
    ).json()
    by_json = api.post("/chat.postMessage", json={"channel": "#general", "text": "again"}).json()

    assert by_form["ok"] is True
    assert by_form["channel"] == "C0GENERAL"
    assert by_form["message"]["ts"] == by_form["ts"]
    assert by_form["message"]["text"] == "Order 7 shipped"
    assert by_form["message"]["blocks"] == blocks
    assert by_form["message"]["bot_id"] == boxes.ws.bot_id
    assert by_json["channel"] == "C0GENERAL"
    assert by_json["ts"] > by_form["ts"]
    assert [m["text"] for m in boxes.ws.messages["C0GENERAL"]] == ["Order 7 shipped", "again"]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"channel": "C0NOPE", "text": "x"}, "channel_not_found"),
        ({"text": "x"}, "channel_not_found"),
        ({"channel": "C0GENERAL"}, "no_text"),
        ({"channel": "C0GENERAL", "blocks": "[{"}, "invalid_blocks_format"),
        ({"channel": "C0GENERAL", "blocks": '[{"text": "no type"}]'}, "invalid_blocks"),
        ({"channel": "C0RANDOM", "text": "x"}, "not_in_channel"),
    ],
)
def test_post_message_errors(
    api: httpx2.Client, boxes: Boxes, body: dict[str, str], error: str
) -> None:
    answer = api.post("/chat.postMessage", data=body)
    assert answer.status_code == 200
    assert answer.json() == {"ok": False, "error": error}
    assert all(messages == [] for messages in boxes.ws.messages.values())


def test_conversations_list_walks_every_page_once(api: httpx2.Client, boxes: Boxes) -> None:
    for n in range(7):
        assert control(boxes, "channels", {"name": f"orders-{n}"}).status_code == 201
    control(boxes, "channels", {"name": "hidden", "is_private": True, "is_member": False})
    seen: list[str] = []
    cursor = ""
    pages = 0
    while True:
        body = api.post("/conversations.list", data={"limit": "3", "cursor": cursor}).json()
        assert body["ok"] is True
        assert len(body["channels"]) <= 3
        seen += [c["name"] for c in body["channels"]]
        pages += 1
        cursor = body["response_metadata"]["next_cursor"]
        if not cursor:
            break
    public = sorted(c["name"] for c in boxes.ws.channels.values() if not c["is_private"])
    assert sorted(seen) == public
    assert len(seen) == len(set(seen)) == 9
    assert pages == 3


def test_conversations_list_types_and_errors(api: httpx2.Client) -> None:
    private = api.get("/conversations.list", params={"types": "private_channel"}).json()
    both = api.post("/conversations.list", data={"types": "public_channel,private_channel"}).json()
    bad_cursor = api.post("/conversations.list", data={"cursor": "not-a-cursor"}).json()
    bad_types = api.post("/conversations.list", data={"types": "rooms"}).json()
    assert [c["id"] for c in private["channels"]] == ["G0PRIVATE"]
    assert private["channels"][0]["is_private"] is True
    assert {c["id"] for c in both["channels"]} == {"C0GENERAL", "C0RANDOM", "G0PRIVATE"}
    assert both["response_metadata"] == {"next_cursor": ""}
    assert bad_cursor == {"ok": False, "error": "invalid_cursor"}
    assert bad_types == {"ok": False, "error": "invalid_types"}


def test_conversations_info(api: httpx2.Client, boxes: Boxes) -> None:
    hidden = control(boxes, "channels", {"name": "hr", "is_private": True, "is_member": False})
    found = api.post("/conversations.info", data={"channel": "C0GENERAL"}).json()
    missing = api.post("/conversations.info", data={"channel": "C0NOPE"}).json()
    not_member = api.post("/conversations.info", data={"channel": hidden.json()["channel"]["id"]})
    assert found["ok"] is True
    assert found["channel"]["id"] == "C0GENERAL"
    assert found["channel"]["name"] == "general"
    assert found["channel"]["is_general"] is True
    assert missing == {"ok": False, "error": "channel_not_found"}
    assert not_member.json() == {"ok": False, "error": "channel_not_found"}


def test_rate_limit_switch_answers_429_with_retry_after(api: httpx2.Client, boxes: Boxes) -> None:
    assert control(boxes, "settings", {"rate_limited": True, "retry_after": 7}).status_code == 200
    limited = api.post("/chat.postMessage", data={"channel": "C0GENERAL", "text": "x"})
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "7"
    assert limited.json() == {"ok": False, "error": "ratelimited"}
    assert boxes.ws.messages["C0GENERAL"] == []
    control(boxes, "settings", {"rate_limited": False})
    assert api.post("/auth.test").status_code == 200


def test_unknown_method(api: httpx2.Client) -> None:
    answer = api.post("/chat.teleport")
    assert answer.json() == {"ok": False, "error": "unknown_method"}


# --- OAuth v2 --------------------------------------------------------------------------------


def authorize(boxes: Boxes, **extra: str) -> dict[str, list[str]]:
    query = {"client_id": CLIENT_ID, "scope": "chat:write,channels:read", "state": "s-123"}
    query.update(redirect_uri=REDIRECT, **extra)
    with httpx2.Client() as client:
        answer = client.get(f"{boxes.url}/oauth/v2/authorize", params=query)
    assert answer.status_code == 302, answer.text
    location = urlsplit(answer.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    return parse_qs(location.query)


def exchange(boxes: Boxes, **form: str) -> dict[str, object]:
    body = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uri": REDIRECT}
    body.update(form)
    with httpx2.Client() as client:
        answer = client.post(f"{boxes.url}/api/oauth.v2.access", data=body)
    assert answer.status_code == 200
    result: dict[str, object] = answer.json()
    return result


def test_oauth_install_gives_a_working_bot_token(boxes: Boxes) -> None:
    back = authorize(boxes, user_scope="search:read")
    assert back["state"] == ["s-123"]
    token = exchange(boxes, code=back["code"][0])

    assert token["ok"] is True
    assert token["token_type"] == "bot"
    assert token["scope"] == "chat:write,channels:read"
    assert token["bot_user_id"] == boxes.ws.bot_user_id
    assert token["team"] == {"id": boxes.ws.team_id, "name": boxes.ws.team_name}
    assert token["app_id"] == boxes.ws.app_id
    assert "refresh_token" not in token
    access = str(token["access_token"])
    assert access.startswith("xoxb-")
    user = token["authed_user"]
    assert isinstance(user, dict)
    assert user["id"] == boxes.ws.user_id
    assert user["token_type"] == "user"
    assert user["scope"] == "search:read"
    assert user["access_token"].startswith("xoxp-")
    with httpx2.Client(headers={"Authorization": f"Bearer {access}"}) as client:
        posted = client.post(
            f"{boxes.url}/api/chat.postMessage", data={"channel": "C0GENERAL", "text": "hi"}
        )
    assert posted.json()["ok"] is True
    # a code is good once
    assert exchange(boxes, code=back["code"][0]) == {"ok": False, "error": "invalid_code"}


def test_oauth_access_takes_basic_auth_and_checks_everything(boxes: Boxes) -> None:
    code = authorize(boxes)["code"][0]
    wrong_secret = exchange(boxes, code=code, client_secret="nope")
    wrong_client = exchange(boxes, code=code, client_id="9.9")
    assert wrong_secret == {"ok": False, "error": "bad_client_secret"}
    assert wrong_client == {"ok": False, "error": "invalid_client_id"}

    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    with httpx2.Client(headers={"Authorization": f"Basic {basic}"}) as client:
        other_redirect = client.post(
            f"{boxes.url}/api/oauth.v2.access",
            data={"code": code, "redirect_uri": "https://elsewhere.example/cb"},
        ).json()
        code = authorize(boxes)["code"][0]
        good = client.post(
            f"{boxes.url}/api/oauth.v2.access", data={"code": code, "redirect_uri": REDIRECT}
        ).json()
    assert other_redirect == {"ok": False, "error": "bad_redirect_uri"}
    assert good["ok"] is True
    assert good["authed_user"] == {"id": boxes.ws.user_id}


def test_oauth_denied_redirects_with_access_denied(boxes: Boxes) -> None:
    assert control(boxes, "tokens", {"deny": True}).json()["deny"] is True
    back = authorize(boxes)
    assert back == {"error": ["access_denied"], "state": ["s-123"]}
    with httpx2.Client() as client:
        bad_client = client.get(
            f"{boxes.url}/oauth/v2/authorize",
            params={"client_id": "nope", "scope": "chat:write", "redirect_uri": REDIRECT},
        )
    assert bad_client.status_code == 400


def test_a_token_without_the_scope_is_refused(boxes: Boxes) -> None:
    code = authorize(boxes, scope="channels:read")["code"][0]
    access = exchange(boxes, code=code)["access_token"]
    with httpx2.Client(headers={"Authorization": f"Bearer {access}"}) as client:
        answer = client.post(
            f"{boxes.url}/api/chat.postMessage", data={"channel": "C0GENERAL", "text": "x"}
        ).json()
    assert answer == {
        "ok": False,
        "error": "missing_scope",
        "needed": "chat:write",
        "provided": "channels:read",
    }


def test_token_rotation_issues_refresh_tokens_that_work_once(boxes: Boxes) -> None:
    control(boxes, "settings", {"token_rotation": True})
    first = exchange(boxes, code=authorize(boxes)["code"][0])
    assert str(first["access_token"]).startswith("xoxe.xoxb-")
    assert str(first["refresh_token"]).startswith("xoxe-1-")
    assert first["expires_in"] == 43200

    refresh = {"grant_type": "refresh_token", "refresh_token": str(first["refresh_token"])}
    second = exchange(boxes, **refresh)
    assert second["ok"] is True
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    assert exchange(boxes, **refresh) == {"ok": False, "error": "invalid_refresh_token"}
    with httpx2.Client(headers={"Authorization": f"Bearer {second['access_token']}"}) as client:
        assert client.post(f"{boxes.url}/api/auth.test").json()["ok"] is True

    assert control(boxes, "expire", {}).json()["expired"] >= 1
    with httpx2.Client(headers={"Authorization": f"Bearer {second['access_token']}"}) as client:
        expired = client.post(f"{boxes.url}/api/auth.test").json()
    assert expired == {"ok": False, "error": "token_expired"}
    third = exchange(boxes, grant_type="refresh_token", refresh_token=str(second["refresh_token"]))
    assert control(boxes, "revoke", {"token": str(third["access_token"])}).json()["revoked"] == 1
    with httpx2.Client(headers={"Authorization": f"Bearer {third['access_token']}"}) as client:
        revoked = client.post(f"{boxes.url}/api/auth.test").json()
    assert revoked == {"ok": False, "error": "invalid_auth"}


# --- Events API ------------------------------------------------------------------------------


def test_a_user_message_is_delivered_signed(boxes: Boxes) -> None:
    control(boxes, "settings", {"request_url": f"{boxes.receiver_url}/slack/events"})
    posted = control(boxes, "messages", {"channel": "C0GENERAL", "user": "U0BOB", "text": "yo"})
    assert posted.status_code == 200

    (got,) = boxes.received.wait_for(1)
    body = got.body.encode()
    timestamp = got.headers["x-slack-request-timestamp"]
    signature = got.headers["x-slack-signature"]
    assert hmac.compare_digest(signature, expected_signature(timestamp, body))
    assert not hmac.compare_digest(signature, expected_signature(timestamp, body + b" "))
    assert not hmac.compare_digest(signature, expected_signature(timestamp, body, "other"))
    assert abs(time.time() - int(timestamp)) < 60 * 5
    assert got.path == "/slack/events"
    assert got.headers["content-type"] == "application/json"
    assert "x-slack-retry-num" not in got.headers

    envelope = json.loads(body)
    assert envelope["type"] == "event_callback"
    assert envelope["token"] == boxes.ws.verification_token
    assert envelope["team_id"] == boxes.ws.team_id
    assert envelope["api_app_id"] == boxes.ws.app_id
    assert envelope["event_id"] == posted.json()["event_id"]
    assert isinstance(envelope["event_time"], int)
    ts = posted.json()["ts"]
    assert envelope["event"] == {
        "type": "message",
        "channel": "C0GENERAL",
        "user": "U0BOB",
        "text": "yo",
        "ts": ts,
        "event_ts": ts,
        "channel_type": "channel",
    }


def test_no_request_url_means_no_delivery(boxes: Boxes) -> None:
    posted = control(boxes, "messages", {"channel": "C0GENERAL", "text": "quiet"})
    assert posted.json()["delivered_to"] is None
    assert boxes.ws.deliveries.items == []
    assert control(boxes, "messages", {"channel": "C0NOPE", "text": "x"}).status_code == 404


def test_a_failed_event_is_retried_with_retry_headers(boxes: Boxes) -> None:
    with httpx2.Client() as client:
        client.post(f"{boxes.receiver_url}/_fail", json={"status": 500, "count": 1})
    control(boxes, "settings", {"request_url": f"{boxes.receiver_url}/slack/events"})
    control(boxes, "messages", {"channel": "C0GENERAL", "text": "retry me"})

    first, second = boxes.received.wait_for(2)
    assert (first.status, second.status) == (500, 200)
    assert first.body == second.body
    assert "x-slack-retry-num" not in first.headers
    assert second.headers["x-slack-retry-num"] == "1"
    assert second.headers["x-slack-retry-reason"] == "http_error"
    timestamp = second.headers["x-slack-request-timestamp"]
    assert second.headers["x-slack-signature"] == expected_signature(
        timestamp, second.body.encode()
    )
    boxes.ws.deliveries.wait_for(lambda ds: any(d.ok for d in ds))
    with httpx2.Client() as client:
        log = client.get(f"{boxes.url}/_sandbox/deliveries").json()["data"]
    assert [(d["attempt"], d["status_code"], d["ok"]) for d in log] == [
        (1, 500, False),
        (2, 200, True),
    ]


def test_url_verification_expects_the_challenge_back(boxes: Boxes) -> None:
    async def echo(request: Request) -> Response:
        payload = json.loads(await request.body())
        timestamp = request.headers["x-slack-request-timestamp"]
        expected = expected_signature(timestamp, await request.body())
        if request.headers["x-slack-signature"] != expected:
            return JSONResponse({"error": "bad signature"}, 401)
        return PlainTextResponse(payload["challenge"])

    echo_app = Starlette(routes=[Route("/events", echo, methods=["POST"])])
    with run_asgi(echo_app) as echo_url:
        control(boxes, "settings", {"request_url": f"{echo_url}/events"})
        echoed = control(boxes, "url_verification", {}).json()
    control(boxes, "settings", {"request_url": f"{boxes.receiver_url}/not-an-echo"})
    ignored = control(boxes, "url_verification", {}).json()

    assert echoed["verified"] is True
    assert echoed["status"] == 200
    assert ignored["verified"] is False
    (got,) = boxes.received.wait_for(1)
    assert got.json == {
        "token": boxes.ws.verification_token,
        "challenge": ignored["challenge"],
        "type": "url_verification",
    }
