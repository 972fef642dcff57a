"""The HubSpot connector against the HubSpot sandbox on real loopback sockets: the actions and
the polling trigger with a private app token, then the whole path through a server: connect
by OAuth (``/headless/oauthUrl`` and ``/oauth/callback``), install a workflow started by new
contacts that creates a deal, poll, and a token that expires refreshed exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from pydantic import SecretStr
from sqlalchemy import select, update

from solder.apps import hubspot as connector
from solder.apps import oauth
from solder.apps.base import AppContext
from solder.apps.registry import APPS
from solder.config import OAuthClientSettings, Settings
from solder.engine import triggers
from solder.errors import FatalError, ReconnectNeeded
from solder.sandbox import hubspot
from solder.store import triggers as trigger_store
from solder.store.tables import credentials
from solder.store.types import utcnow
from tests.blockflow import Flow
from tests.conftest import Server
from tests.flows import ok
from tests.servers import run_asgi

CLIENT_ID, CLIENT_SECRET = "hs-solder", "hs-solder-secret-5b1d"
PRIVATE = "pat-na1-connector-tests"
APP = APPS["hubspot"]


@dataclass
class Box:
    url: str
    account: hubspot.Account


def sandbox(redirect: str | None = None) -> Any:
    return hubspot.create_app(
        CLIENT_ID,
        CLIENT_SECRET,
        redirect_uris=(redirect,) if redirect else None,
        private_app_token=PRIVATE,
    )


@pytest.fixture
def box() -> Iterator[Box]:
    app = sandbox()
    with run_asgi(app) as url:
        yield Box(url, app.state.account)


@pytest.fixture
def ctx(box: Box) -> Iterator[AppContext]:
    with httpx2.Client(timeout=5) as client:
        yield AppContext({"accessToken": PRIVATE}, client, box.url, "http://127.0.0.1:9")


def run(ctx: AppContext, action: str, inp: dict[str, Any]) -> dict[str, Any]:
    found = APP.actions[action]
    return found.run(ctx, found.input_model.model_validate(inp))


def add_contact(url: str, **props: str) -> dict[str, Any]:
    with httpx2.Client(base_url=url, headers={"Authorization": f"Bearer {PRIVATE}"}) as crm:
        made: dict[str, Any] = ok(crm.post("/crm/v3/objects/contacts", json={"properties": props}))
    return made


def live(box: Box, kind: str) -> list[dict[str, Any]]:
    return [r for r in box.account.records[kind].values() if not r["archived"]]


# -- actions -----------------------------------------------------------------------------------


def test_create_contact_twice_is_one_contact_updated(ctx: AppContext, box: Box) -> None:
    first = run(ctx, "create_contact", {"email": "ada@example.com", "firstname": "Ada"})
    assert first["properties"]["email"] == "ada@example.com"
    again = run(ctx, "create_contact",
                {"email": "ada@example.com", "firstname": "Ada", "lastname": "L"})  # fmt: skip
    assert again["id"] == first["id"]
    assert again["properties"]["lastname"] == "L"
    assert len(live(box, "contacts")) == 1


def test_update_contact_by_id_or_by_email(ctx: AppContext) -> None:
    made = run(ctx, "create_contact", {"email": "bo@example.com"})
    by_id = run(ctx, "update_contact", {"contact": made["id"], "company": "Acme"})
    assert by_id["properties"]["company"] == "Acme"
    by_email = run(ctx, "update_contact", {"contact": "bo@example.com", "by": "email",
                                           "properties": {"city": "Oslo"}})  # fmt: skip
    assert (by_email["id"], by_email["properties"]["city"]) == (made["id"], "Oslo")
    with pytest.raises(FatalError, match="nothing to change"):
        run(ctx, "update_contact", {"contact": made["id"]})
    with pytest.raises(FatalError, match="HTTP 404"):
        run(ctx, "update_contact", {"contact": "999999", "company": "x"})


def test_create_deal_sends_properties_as_hubspot_strings(ctx: AppContext, box: Box) -> None:
    deal = run(ctx, "create_deal", {"dealname": "Renewal", "amount": 1200, "pipeline": "default",
                                    "dealstage": "appointmentscheduled"})  # fmt: skip
    assert deal["properties"]["amount"] == "1200"
    assert [d["properties"]["dealname"] for d in live(box, "deals")] == ["Renewal"]
    with pytest.raises(FatalError, match="not valid"):
        run(ctx, "create_deal", {"dealname": "x", "properties": {"colour": "red"}})


def test_a_refused_token_asks_to_reconnect_without_quoting_it(box: Box) -> None:
    with httpx2.Client(timeout=5) as client:
        bad = AppContext({"accessToken": "sbx-hs-nope-1234"}, client, box.url, "http://x")
        assert APP.test_credential is not None
        with pytest.raises(ReconnectNeeded) as caught:
            APP.test_credential(bad)
    assert "sbx-hs-nope-1234" not in str(caught.value)


# -- the polling trigger -------------------------------------------------------------------------


def test_the_first_poll_only_finds_now_then_new_contacts_come_oldest_first(
    ctx: AppContext, box: Box, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = add_contact(box.url, email="old@example.com", createdate="2026-01-01T00:00:00Z")
    records, cursor = connector.new_contact.poll(ctx, None)
    assert records == []
    assert cursor == {"since": 1767225600000, "seenAtSince": [old["id"]]}
    assert connector.new_contact.poll(ctx, cursor) == ([], cursor)

    monkeypatch.setattr(connector, "PAGE", 2)  # three contacts: two pages, read with `after`
    same_ms = add_contact(box.url, email="tie@example.com", createdate="2026-01-01T00:00:00Z")
    later = add_contact(box.url, email="b@example.com", createdate="2026-01-02T00:00:00Z")
    latest = add_contact(box.url, email="c@example.com", createdate="2026-01-03T00:00:00Z")
    records, cursor = connector.new_contact.poll(ctx, cursor)
    assert [r["id"] for r in records] == [same_ms["id"], later["id"], latest["id"]]
    assert records[0]["properties"]["email"] == "tie@example.com"
    assert cursor == {"since": 1767398400000, "seenAtSince": [latest["id"]]}
    assert connector.new_contact.poll(ctx, cursor) == ([], cursor)
    assert connector.new_contact.record_id(records[0]) == same_ms["id"]


def test_the_first_poll_of_an_empty_account_starts_at_zero(ctx: AppContext) -> None:
    assert connector.new_contact.poll(ctx, None) == ([], {"since": 0, "seenAtSince": []})


# -- through a server: OAuth connect, poll, action, refresh --------------------------------------


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.engine.background = False  # the test decides when triggers poll
    return settings


@pytest.fixture
def provider(server: Server) -> Iterator[Box]:
    app = sandbox(f"{server.url}/oauth/callback")
    with run_asgi(app) as url:
        server.services.settings.oauth_clients["hubspot"] = OAuthClientSettings(
            client_id=CLIENT_ID,
            client_secret=SecretStr(CLIENT_SECRET),
            authorize_url=f"{url}/oauth/authorize",
            token_url=f"{url}/oauth/v1/token",
        )
        server.services.settings.app_base_urls["hubspot"] = url
        yield Box(url, app.state.account)


def connect(api: httpx2.Client, user_id: str) -> tuple[str, str]:
    """Follow the consent URL as a browser would: the consent URL and the credential's id."""
    url = ok(api.get("/headless/oauthUrl", params={"app": "hubspot", "userId": user_id}))["data"][
        "oauthUrl"
    ]
    consent = httpx2.get(url)
    assert consent.status_code in (302, 303, 307), consent.text
    page = httpx2.get(consent.headers["location"])
    assert page.status_code == 200, page.text
    (listed,) = ok(api.get(f"/users/{user_id}/credentials"))["data"]
    return url, listed["credentialId"]


def deal_flow(api: httpx2.Client, tmp_path: Path, user_id: str, cid: str) -> Flow:
    flow = Flow(
        api,
        tmp_path,
        [{"key": "deal", "type": "appAction", "app": "hubspot", "action": "create_deal",
          "inputs": {"dealname": "First order of {{ trigger.properties.email }}",
                     "amount": 100}}],
        trigger={"key": "contact", "type": "appEvent", "app": "hubspot", "event": "new_contact"},
    )  # fmt: skip
    flow.release()
    found = ok(api.get("/integrations", params={"userId": user_id}))["data"][0]
    body = {"userId": user_id, "integrationId": found["integrationId"], "credentialIds": [cid]}
    started = ok(api.post("/headless/startInstallation", json=body))
    answers = [{"workflowId": b["workflowId"], "blockId": b["blockId"], "fields": []}
               for b in started["data"]]  # fmt: skip
    done = {"installationId": started["installationId"], "data": answers}
    ok(api.post("/headless/completeInstallation", json=done))
    flow.user_id, flow.workflow_id = user_id, found["workflows"][0]["workflowId"]
    return flow


def poll_now(server: Server) -> int:
    return triggers.run_due(server.services, datetime.now(UTC) + timedelta(hours=1))


def refreshes(box: Box) -> int:
    return int(box.account.book.snapshot()["refreshes"])


def expiring(server: Server, cid: str) -> None:
    with server.services.engine.begin() as conn:
        conn.execute(
            update(credentials)
            .where(credentials.c.id == cid)
            .values(expires_at=utcnow() + timedelta(minutes=1))
        )


def test_connect_poll_act_and_refresh_an_expiring_token_once(
    server: Server, api: httpx2.Client, tmp_path: Path, provider: Box
) -> None:
    user_id = ok(api.post("/users", json={"username": "gregg"}))["userId"]
    url, cid = connect(api, user_id)
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(f"{provider.url}/oauth/authorize?")
    assert query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == [f"{server.url}/oauth/callback"]
    assert "crm.objects.contacts.read" in query["scope"][0].split()
    assert "code_challenge" not in query  # HubSpot takes no PKCE
    assert CLIENT_SECRET not in url

    add_contact(provider.url, email="before@example.com")  # history, not news
    flow = deal_flow(api, tmp_path, user_id, cid)
    assert poll_now(server) == 1  # the first poll finds where "now" is
    add_contact(provider.url, email="new@example.com")
    assert poll_now(server) == 1
    (first,) = flow.finished(1)
    assert first["status"] == "succeeded", first
    assert [d["properties"]["dealname"] for d in live(provider, "deals")] == [
        "First order of new@example.com"
    ]
    assert refreshes(provider) == 0

    expiring(server, cid)  # the token nears its expiry in Solder's books, and HubSpot ends it
    httpx2.post(f"{provider.url}/_sandbox/expire")
    add_contact(provider.url, email="later@example.com")
    assert poll_now(server) == 1
    runs = flow.finished(2)
    assert all(r["status"] == "succeeded" for r in runs), runs
    assert refreshes(provider) == 1  # the poll refreshed it; the action used the new token
    assert len(live(provider, "deals")) == 2
    with server.services.reader.connect() as conn:
        state = trigger_store.state_of(conn, user_id, flow.workflow_id)
    assert state.cursor["since"] > 0


def test_a_refresh_token_hubspot_refuses_asks_the_user_to_reconnect(
    server: Server, api: httpx2.Client, provider: Box
) -> None:
    user_id = ok(api.post("/users", json={"username": "gregg"}))["userId"]
    _, cid = connect(api, user_id)
    provider.account.book.revoke()  # the user uninstalled the app in HubSpot
    expiring(server, cid)
    with server.services.engine.connect() as conn:
        row = conn.execute(select(credentials).where(credentials.c.id == cid)).one()
    # HubSpot answers 400 {"status": "BAD_REFRESH_TOKEN"}, not RFC 6749's invalid_grant
    with pytest.raises(ReconnectNeeded, match="BAD_REFRESH_TOKEN"):
        oauth.usable(server.services, APP, row)
    with server.services.engine.connect() as conn:
        status = conn.execute(select(credentials.c.status).where(credentials.c.id == cid))
        assert status.scalar_one() == "needs_reconnect"


def test_a_token_hubspot_ends_early_is_refreshed_once_by_the_poll(
    server: Server, api: httpx2.Client, tmp_path: Path, provider: Box
) -> None:
    user_id = ok(api.post("/users", json={"username": "gregg"}))["userId"]
    _, cid = connect(api, user_id)
    flow = deal_flow(api, tmp_path, user_id, cid)
    assert poll_now(server) == 1
    httpx2.post(f"{provider.url}/_sandbox/expire")  # Solder still thinks the token good
    add_contact(provider.url, email="new@example.com")
    assert poll_now(server) == 1  # 401, one refresh, the same poll again
    (first,) = flow.finished(1)
    assert first["status"] == "succeeded", first
    assert refreshes(provider) == 1
    with server.services.reader.connect() as conn:
        state = trigger_store.state_of(conn, user_id, flow.workflow_id)
    assert state.next_at is not None  # still polling
