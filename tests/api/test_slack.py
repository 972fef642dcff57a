"""The Slack connector against the Slack sandbox over real sockets: connecting through OAuth v2,
the channels dropdown across pages, a message posted by an installed workflow, Slack's
``ok: false`` refusals as Solder's errors, and token refresh when the Slack app rotates tokens."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from sqlalchemy import update

from solder.apps import oauth
from solder.apps import slack as slack_app
from solder.errors import FatalError, ReconnectNeeded
from solder.sandbox import slack
from solder.store.tables import credentials
from solder.store.types import utcnow
from tests import slackflow
from tests.blockflow import outputs
from tests.conftest import Server
from tests.flows import ok, wait_until
from tests.slackflow import CLIENT_ID, CLIENT_SECRET, connected, consent, installed, row, stored


@pytest.fixture
def workspace(server: Server) -> Iterator[slack.Workspace]:
    with slackflow.workspace(server) as ws:
        yield ws


def test_connecting_asks_for_bot_scopes_and_keeps_the_team(
    server: Server, api: httpx2.Client, workspace: slack.Workspace
) -> None:
    user_id = ok(api.post("/users", json={"username": "gregg"}))["userId"]
    url, back = consent(api, user_id)
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(f"{server.services.settings.app_base_urls['slack']}/oauth/v2/authorize?")
    assert query["scope"] == ["chat:write,channels:read,groups:read,channels:history"]
    assert query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == [f"{server.url}/oauth/callback"]
    assert "code_challenge" not in query
    assert CLIENT_SECRET not in url

    page = httpx2.get(back)
    assert page.status_code == 200, page.text
    assert "Your account is connected" in page.text
    (listed,) = ok(api.get(f"/users/{user_id}/credentials"))["data"]
    assert listed["type"] == "slack"
    data = stored(server, listed["credentialId"])
    assert data["teamId"] == "T0SANDBOX"
    assert data["botUserId"] == "U0SANDBOXBOT"
    assert data["accessToken"].startswith("xoxb-")
    assert data["scope"] == "chat:write,channels:read,groups:read,channels:history"
    assert data["expiresAt"] is None  # no rotation: the bot token lasts until revoked
    # the token works, and shows nowhere
    assert workspace.bots.lookup(data["accessToken"]) is not None
    assert data["accessToken"] not in page.text
    assert data["accessToken"] not in str(ok(api.get(f"/users/{user_id}/credentials")))


def test_a_code_redeemed_twice_is_refused_as_slack_says_ok_false(
    server: Server, api: httpx2.Client, workspace: slack.Workspace
) -> None:
    user_id = ok(api.post("/users", json={"username": "gregg"}))["userId"]
    _, back = consent(api, user_id)
    assert httpx2.get(back).status_code == 200
    again = httpx2.get(back)
    assert again.status_code == 400
    assert "invalid_code" in again.text  # Slack's HTTP 200 {"ok": false}, read as a refusal
    assert "access_token" not in again.text
    assert len(ok(api.get(f"/users/{user_id}/credentials"))["data"]) == 1


def test_the_channels_dropdown_walks_every_page(
    server: Server,
    api: httpx2.Client,
    workspace: slack.Workspace,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(slack_app, "PAGE_SIZE", 2)
    for n in range(5):
        workspace.add_channel(f"team-{n}")
    workspace.add_channel("hidden", is_private=True, is_member=False)
    user_id, cid = connected(api)
    options = ok(
        api.get(
            "/metadata/apps/slack/options/channels",
            params={"credentialId": cid, "userId": user_id},
        )
    )["data"]
    labels = {o["label"] for o in options}
    assert len(options) == 8, options  # 3 sandbox channels + 5 added, over four pages
    assert {"#general", "#random", "secret-plans (private)"} <= labels
    assert {f"#team-{n}" for n in range(5)} <= labels
    assert "hidden (private)" not in labels  # a private channel the bot is not in
    assert {"value": "C0GENERAL", "label": "#general"} in options


def test_a_refused_token_fails_the_dropdown_asking_to_reconnect(
    server: Server, api: httpx2.Client, workspace: slack.Workspace
) -> None:
    user_id, cid = connected(api)
    workspace.bots.revoke()
    resp = api.get(
        "/metadata/apps/slack/options/channels", params={"credentialId": cid, "userId": user_id}
    )
    assert resp.status_code >= 400
    assert "invalid_auth" in resp.text
    assert stored(server, cid)["accessToken"] not in resp.text


SAY = {
    "key": "say",
    "type": "appAction",
    "app": "slack",
    "action": "post_message",
    "fields": [{"name": "channel", "displayName": "Channel"}],
    "inputs": {"text": "Order {{ trigger.id }} shipped"},
}


def test_an_installed_workflow_posts_a_message(
    api: httpx2.Client, tmp_path: Path, workspace: slack.Workspace
) -> None:
    flow = installed(api, tmp_path, [SAY], {"channel": "C0GENERAL"})
    run = flow.run({"id": 100})
    assert run["status"] == "succeeded", run["error"]
    (posted,) = workspace.messages["C0GENERAL"]
    assert posted["text"] == "Order 100 shipped"
    assert outputs(run)["say"]["channel"] == "C0GENERAL"
    assert outputs(run)["say"]["ts"] == posted["ts"]


def test_a_channel_the_bot_is_not_in_fails_the_run_naming_the_field(
    api: httpx2.Client, tmp_path: Path, workspace: slack.Workspace
) -> None:
    flow = installed(api, tmp_path, [SAY], {"channel": "C0RANDOM"})
    run = flow.run({"id": 101})
    assert run["status"] == "failed"
    assert "channel: slack chat.postMessage: not_in_channel" in run["error"]["message"]
    assert workspace.messages["C0RANDOM"] == []


def test_a_revoked_token_fails_the_run_and_asks_for_reconnection(
    server: Server, api: httpx2.Client, tmp_path: Path, workspace: slack.Workspace
) -> None:
    flow = installed(api, tmp_path, [SAY], {"channel": "C0GENERAL"})
    workspace.bots.revoke()  # the workspace removed the app
    run = flow.run({"id": 102})
    assert run["status"] == "failed"
    assert workspace.messages["C0GENERAL"] == []
    (listed,) = ok(api.get(f"/users/{flow.user_id}/credentials"))["data"]
    assert row(server, listed["credentialId"]).status == "needs_reconnect"


def test_rotated_tokens_are_refreshed_and_a_refused_refresh_asks_for_reconnection(
    server: Server, api: httpx2.Client, workspace: slack.Workspace
) -> None:
    workspace.token_rotation = True
    _, cid = connected(api)
    first = stored(server, cid)
    assert first["refreshToken"].startswith("xoxe-1-")
    assert first["expiresAt"] is not None
    app = server.services.apps["slack"]

    def expiring() -> Any:
        with server.services.engine.begin() as conn:
            conn.execute(
                update(credentials)
                .where(credentials.c.id == cid)
                .values(expires_at=utcnow() + timedelta(minutes=1))
            )
        return row(server, cid)

    fresh = oauth.usable(server.services, app, expiring())
    assert fresh["accessToken"] != first["accessToken"]
    assert fresh["refreshToken"] != first["refreshToken"]  # Slack's refresh tokens are single-use
    assert fresh["teamId"] == "T0SANDBOX"
    assert workspace.bots.lookup(fresh["accessToken"]) is not None

    workspace.bots.revoke()
    with pytest.raises(ReconnectNeeded, match="invalid_refresh_token"):
        oauth.usable(server.services, app, expiring())
    assert row(server, cid).status == "needs_reconnect"


def test_a_rate_limited_post_is_retried_and_posts_once(
    api: httpx2.Client, tmp_path: Path, workspace: slack.Workspace
) -> None:
    flow = installed(api, tmp_path, [SAY], {"channel": "C0GENERAL"})
    workspace.retry_after = 1
    workspace.rate_limited = True
    flow.fire({"id": 103})

    def retrying() -> dict[str, Any] | None:
        results = [r for run in flow.runs() for r in run["results"] if r["blockName"] == "say"]
        return next((r for r in results if r["status"] == "retrying"), None)

    met = wait_until("the post meets the rate limit", retrying, 10)
    assert met["error"] == "slack chat.postMessage: HTTP 429: ratelimited"
    assert workspace.messages["C0GENERAL"] == []
    workspace.rate_limited = False
    (run,) = flow.finished(1)
    assert run["status"] == "succeeded", run["error"]
    (say,) = [r for r in run["results"] if r["blockName"] == "say"]
    assert say["attempts"] >= 2  # 2 unless a slow poll here let another attempt meet the 429
    assert [m["text"] for m in workspace.messages["C0GENERAL"]] == ["Order 103 shipped"]


def test_get_channel_reads_the_channel_with_the_users_token(
    server: Server, api: httpx2.Client, workspace: slack.Workspace
) -> None:
    _, cid = connected(api)
    app = server.services.apps["slack"]
    ctx = server.services.app_context(app, stored(server, cid))
    action = app.actions["get_channel"]
    got = action.run(ctx, action.input_model.model_validate({"channel": "G0PRIVATE"}))
    assert (got["id"], got["name"], got["is_private"]) == ("G0PRIVATE", "secret-plans", True)
    with pytest.raises(FatalError) as caught:
        action.run(ctx, action.input_model.model_validate({"channel": "C0NOPE"}))
    assert caught.value.field == "channel"
