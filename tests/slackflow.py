"""The Slack sandbox wired to a Solder server, and a user connected to it through OAuth v2.

``workspace(server)`` starts the sandbox and configures the server's Slack OAuth client, API
base URL and signing secret for it; ``connected`` makes a user and connects Slack as a
browser would; ``installed`` releases a workflow and installs it with that credential.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
from pydantic import SecretStr
from sqlalchemy import select

from solder.config import OAuthClientSettings
from solder.sandbox import slack
from solder.store import installs
from solder.store.tables import credentials
from tests.blockflow import Flow
from tests.conftest import Server
from tests.flows import ok
from tests.servers import run_asgi

CLIENT_ID = "4242.4343"
CLIENT_SECRET = "slack-client-secret-5e2b"
SIGNING_SECRET = "slack-signing-secret-91c4"


@contextmanager
def workspace(server: Server) -> Iterator[slack.Workspace]:
    """The Slack sandbox, and Solder configured with the ISV's Slack app pointing at it."""
    app = slack.create_app(
        "xoxb-unused", SIGNING_SECRET, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
    )
    with run_asgi(app) as url:
        server.services.settings.oauth_clients["slack"] = OAuthClientSettings(
            client_id=CLIENT_ID,
            client_secret=SecretStr(CLIENT_SECRET),
            authorize_url=f"{url}/oauth/v2/authorize",
            token_url=f"{url}/api/oauth.v2.access",
        )
        server.services.settings.app_base_urls["slack"] = url
        server.services.settings.slack_signing_secret = SecretStr(SIGNING_SECRET)
        yield app.state.slack


def consent(api: httpx2.Client, user_id: str) -> tuple[str, str]:
    """The consent URL, and where Slack's consent page sends the browser back to."""
    url = ok(api.get("/headless/oauthUrl", params={"app": "slack", "userId": user_id}))["data"][
        "oauthUrl"
    ]
    page = httpx2.get(url)
    assert page.status_code == 302, page.text
    return url, page.headers["location"]


def connected(api: httpx2.Client, username: str = "gregg") -> tuple[str, str]:
    """A new user with a Slack credential: (user id, credential id)."""
    user_id = ok(api.post("/users", json={"username": username}))["userId"]
    _, back = consent(api, user_id)
    page = httpx2.get(back)
    assert page.status_code == 200, page.text
    (listed,) = ok(api.get(f"/users/{user_id}/credentials"))["data"]
    return user_id, listed["credentialId"]


def row(server: Server, cid: str) -> Any:
    with server.services.engine.connect() as conn:
        return conn.execute(select(credentials).where(credentials.c.id == cid)).one()


def stored(server: Server, cid: str) -> dict[str, Any]:
    return installs.credential_data(server.services.ring, row(server, cid))


def installed(api: httpx2.Client, tmp_path: Path, blocks: list[dict[str, Any]],
              answers: dict[str, Any], trigger: dict[str, Any] | None = None,
              username: str = "gregg") -> Flow:  # fmt: skip
    """Release a workflow of ``blocks`` and install it for a user connected to Slack."""
    flow = Flow(api, tmp_path, blocks, trigger=trigger)
    flow.release()
    flow.user_id, cid = connected(api, username)
    found = ok(api.get("/integrations", params={"userId": flow.user_id}))["data"][0]
    body = {"userId": flow.user_id, "integrationId": found["integrationId"],
            "credentialIds": [cid]}  # fmt: skip
    started = ok(api.post("/headless/startInstallation", json=body))
    data = [
        {"workflowId": b["workflowId"], "blockId": b["blockId"],
         "fields": [{"name": f["name"], "value": answers[f["name"]]} for f in b["fields"]]}
        for b in started["data"]
    ]  # fmt: skip
    done = {"installationId": started["installationId"], "data": data}
    ok(api.post("/headless/completeInstallation", json=done))
    flow.workflow_id = found["workflows"][0]["workflowId"]
    return flow
