"""Slack's Events API through ``POST /hooks/slack/events``, with the Slack sandbox delivering:
the URL verification challenge, signed events starting the workflows of the users connected
to the event's workspace, Slack's retries deduplicated, unsigned or stale requests refused."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import select, update

from solder.sandbox import slack
from solder.store.tables import workflow_installs
from tests import slackflow
from tests.blockflow import outputs
from tests.conftest import Server
from tests.flows import wait_until
from tests.slackflow import SIGNING_SECRET, installed

HEARD = {"key": "said", "type": "appEvent", "app": "slack", "event": "message_posted"}
ECHO = {
    "key": "echo",
    "type": "appAction",
    "app": "slack",
    "action": "post_message",
    "fields": [{"name": "channel"}],
    "inputs": {"text": "heard: {{ trigger.text }}", "threadTs": "{{ trigger.ts }}"},
}


@pytest.fixture
def workspace(server: Server) -> Iterator[slack.Workspace]:
    with slackflow.workspace(server) as ws:
        ws.request_url = f"{server.url}/hooks/slack/events"
        yield ws


def sandbox(workspace: slack.Workspace, server: Server) -> str:
    return server.services.settings.app_base_urls["slack"]


def signed_post(server: Server, body: bytes, *, timestamp: int | None = None,
                secret: str = SIGNING_SECRET) -> httpx2.Response:  # fmt: skip
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": slack.sign(secret, ts, body),
    }
    return httpx2.post(f"{server.url}/hooks/slack/events", content=body, headers=headers)


def test_the_request_url_answers_slacks_challenge(
    server: Server, workspace: slack.Workspace
) -> None:
    answer = httpx2.post(f"{sandbox(workspace, server)}/_sandbox/url_verification").json()
    assert answer["verified"] is True, answer


def test_a_message_starts_the_workflows_of_its_workspace_once(
    server: Server, api: httpx2.Client, tmp_path: Path, workspace: slack.Workspace
) -> None:
    flow = installed(api, tmp_path / "a", [ECHO], {"channel": "C0GENERAL"}, trigger=HEARD)
    other = installed(api, tmp_path / "b", [ECHO], {"channel": "C0GENERAL"}, trigger=HEARD,
                      username="other")  # fmt: skip
    with server.services.engine.begin() as conn:  # the other user's Slack is another workspace
        conn.execute(
            update(workflow_installs)
            .where(workflow_installs.c.user_id == other.user_id)
            .values(state={"teamId": "T0ELSEWHERE"})
        )
        mine = conn.execute(
            select(workflow_installs.c.state).where(workflow_installs.c.user_id == flow.user_id)
        ).scalar_one()
    assert mine["teamId"] == "T0SANDBOX"  # kept when the workflow was switched on

    said = httpx2.post(
        f"{sandbox(workspace, server)}/_sandbox/messages",
        json={"channel": "general", "user": "U0BOB", "text": "hello"},
    ).json()
    (run,) = flow.finished(1)
    assert run["status"] == "succeeded", run["error"]
    trigger = outputs(run)["said"]
    assert (trigger["text"], trigger["user"], trigger["channel"]) == ("hello", "U0BOB", "C0GENERAL")
    assert (trigger["team_id"], trigger["event_id"]) == ("T0SANDBOX", said["event_id"])
    replies = [m for m in workspace.messages["C0GENERAL"] if m.get("bot_id")]
    assert [m["text"] for m in replies] == ["heard: hello"]
    assert other.runs() == []

    # Slack delivers the same event again (it retries what it thinks failed): no second run
    delivered = wait_until(
        "the delivery is logged",
        lambda: next((d for d in workspace.deliveries.items if d.key == said["event_id"]), None),
        5,
    )
    assert delivered.status_code == 200
    envelope = {"type": "event_callback", "team_id": "T0SANDBOX", "event_id": said["event_id"],
                "event": {"type": "message", "channel": "C0GENERAL", "user": "U0BOB",
                          "text": "hello", "ts": said["ts"]}}  # fmt: skip
    again = signed_post(server, json.dumps(envelope).encode())
    assert again.status_code == 200, again.text
    assert again.json()["duplicate"] is True
    time.sleep(0.3)
    assert len(flow.runs()) == 1


def _envelope(**event: Any) -> bytes:
    return json.dumps(
        {"type": "event_callback", "team_id": "T0SANDBOX", "event_id": "Ev0TEST",
         "event": {"type": "message", "channel": "C0GENERAL", "text": "x", **event}}
    ).encode()  # fmt: skip


def test_bot_posts_and_edits_start_nothing(
    server: Server, api: httpx2.Client, tmp_path: Path, workspace: slack.Workspace
) -> None:
    flow = installed(api, tmp_path, [ECHO], {"channel": "C0GENERAL"}, trigger=HEARD)
    for body in (_envelope(bot_id="B1"), _envelope(subtype="message_changed")):
        answer = signed_post(server, body)
        assert answer.status_code == 200, answer.text
        assert answer.json()["runs"] == 0
    assert flow.runs() == []


@pytest.mark.parametrize(
    ("how", "says"),
    [
        ("wrong secret", "X-Slack-Signature"),
        ("six minutes old", "five minutes"),
        ("unsigned", "X-Slack-Request-Timestamp"),
    ],
)
def test_requests_slack_did_not_sign_just_now_are_refused(
    server: Server, workspace: slack.Workspace, how: str, says: str
) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "c"}).encode()
    if how == "wrong secret":
        resp = signed_post(server, body, secret="not-the-secret")
    elif how == "six minutes old":
        resp = signed_post(server, body, timestamp=int(time.time()) - 360)
    else:
        resp = httpx2.post(f"{server.url}/hooks/slack/events", content=body)
    assert resp.status_code == 401, resp.text
    assert says in resp.text
    assert SIGNING_SECRET not in resp.text
    assert signed_post(server, body).json() == {"challenge": "c"}


def test_without_a_signing_secret_the_url_is_not_there(server: Server) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "c"}).encode()
    assert server.services.settings.slack_signing_secret is None
    assert signed_post(server, body).status_code == 404


def test_the_bigcommerce_hook_path_is_unchanged(server: Server, workspace: slack.Workspace) -> None:
    resp = httpx2.post(f"{server.url}/hooks/bigcommerce/nope", json={"scope": "x"})
    assert resp.status_code == 404
    assert "no such webhook" in resp.text
