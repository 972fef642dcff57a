"""Connecting an OAuth2 app end to end against the OAuth2 sandbox over real sockets: the consent
URL, the callback, tokens stored encrypted and never shown, refresh before expiry by exactly
one of many threads, and a refused refresh asking the user to reconnect."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from pydantic import SecretStr
from sqlalchemy import select, update

from solder.apps import oauth
from solder.apps.registry import APPS
from solder.config import OAuthClientSettings
from solder.engine import blocks, lifecycle
from solder.engine.blocks import BlockCall
from solder.errors import ReconnectNeeded
from solder.sandbox import oauth2
from solder.sandbox.oauth import TokenBook
from solder.store.tables import credentials, outbox
from solder.store.types import utcnow
from tests.conftest import Server
from tests.flows import ok
from tests.servers import run_asgi

SECRET = "sandbox-client-secret-7f1c"


@dataclass
class Provider:
    url: str
    book: TokenBook


@pytest.fixture
def provider(server: Server) -> Iterator[Provider]:
    """The sandbox provider, with Solder's callback registered, and Solder configured for it."""
    client = oauth2.Client("solder", SECRET, (f"{server.url}/oauth/callback",))
    app = oauth2.create_app([client], require_pkce=True, token_lifetime=3600)
    with run_asgi(app) as url:
        services = server.services
        services.settings.oauth_clients["oauth2_sandbox"] = OAuthClientSettings(
            client_id="solder",
            client_secret=SecretStr(SECRET),
            authorize_url=f"{url}/authorize",
            token_url=f"{url}/token",
        )
        services.settings.app_base_urls["oauth2_sandbox"] = url
        services.apps["oauth2_sandbox"] = APPS["oauth2_sandbox"]
        yield Provider(url, app.state.book)


def connect(api: httpx2.Client, user_id: str) -> tuple[str, httpx2.Response]:
    """Follow the consent URL as a browser would; the consent URL and the callback's answer."""
    url = ok(api.get("/headless/oauthUrl", params={"app": "oauth2_sandbox", "userId": user_id}))[
        "data"
    ]["oauthUrl"]
    consent = httpx2.get(url)
    assert consent.status_code == 302, consent.text
    return url, httpx2.get(consent.headers["location"])


def connected(api: httpx2.Client, username: str) -> tuple[str, str]:
    """A new user with the sandbox account connected: the user's and the credential's ids."""
    user_id = ok(api.post("/users", json={"username": username}))["userId"]
    connect(api, user_id)
    (listed,) = ok(api.get(f"/users/{user_id}/credentials"))["data"]
    return user_id, str(listed["credentialId"])


def test_connecting_stores_the_tokens_as_the_users_credential(
    server: Server, api: httpx2.Client, provider: Provider
) -> None:
    user_id = ok(api.post("/users", json={"username": "gregg"}))["userId"]
    url, page = connect(api, user_id)

    query = parse_qs(urlsplit(url).query)
    assert url.startswith(f"{provider.url}/authorize?")
    assert query["redirect_uri"] == [f"{server.url}/oauth/callback"]
    assert query["code_challenge_method"] == ["S256"]
    assert query["scope"] == ["profile items:read"]
    assert SECRET not in url

    assert page.status_code == 200, page.text
    assert "Your account is connected" in page.text
    (listed,) = ok(api.get(f"/users/{user_id}/credentials"))["data"]
    assert listed["type"] == "oauth2_sandbox"
    assert f'"credentialId": "{listed["credentialId"]}"' in page.text
    assert "postMessage(" in page.text
    assert f'"{server.url}"' in page.text  # the target origin is named, never "*"
    issued = provider.book.snapshot()
    assert (issued["codes_redeemed"], issued["tokens_issued"]) == (1, 1)

    # the stored tokens work: the dropdown is loaded with them
    options = ok(
        api.get(
            "/metadata/apps/oauth2_sandbox/options/items",
            params={"credentialId": listed["credentialId"], "userId": user_id},
        )
    )["data"]
    assert options[0] == {"value": "1", "label": "anvil"}
    # and no token shows anywhere
    tokens = list(provider.book.access) + list(provider.book.refresh_tokens)
    for shown in (page.text, str(ok(api.get(f"/users/{user_id}/credentials")))):
        assert not any(token in shown for token in tokens)


def test_oauth_apps_take_no_typed_credential_and_say_so_in_metadata(
    api: httpx2.Client, provider: Provider
) -> None:
    user_id = ok(api.post("/users", json={"username": "gregg"}))["userId"]
    body = {"userId": user_id, "credential": {"type": "oauth2_sandbox", "data": {}}}
    resp = api.post("/headless/credentials", json=body)
    assert resp.status_code == 422, resp.text
    assert "oauthUrl" in resp.json()["message"]
    meta = ok(api.get("/metadata/credentials/oauth2_sandbox"))["data"][0]
    assert (meta["isOauth"], meta["properties"]) == (True, [])


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"code": "x"}, "state: missing"),
        ({"state": "forged.AAAA", "code": "x"}, "state: not a state this server made"),
        ({"error": "access_denied", "error_description": "no"}, "access_denied"),
    ],
)
def test_a_bad_callback_shows_why_and_stores_nothing(
    server: Server, api: httpx2.Client, provider: Provider, query: dict[str, str], message: str
) -> None:
    user_id = ok(api.post("/users", json={"username": "gregg"}))["userId"]
    page = httpx2.get(f"{server.url}/oauth/callback", params=query)
    assert page.status_code == 400
    assert message in page.text
    assert '"error":' in page.text
    assert ok(api.get(f"/users/{user_id}/credentials"))["data"] == []


def test_a_consent_the_user_denies_comes_back_as_an_error(
    api: httpx2.Client, provider: Provider
) -> None:
    provider.book.deny = True
    user_id = ok(api.post("/users", json={"username": "gregg"}))["userId"]
    _, page = connect(api, user_id)
    assert page.status_code == 400
    assert "access_denied" in page.text
    assert ok(api.get(f"/users/{user_id}/credentials"))["data"] == []


def test_a_code_cannot_be_redeemed_twice(
    server: Server, api: httpx2.Client, provider: Provider
) -> None:
    user_id = ok(api.post("/users", json={"username": "gregg"}))["userId"]
    url = ok(api.get("/headless/oauthUrl", params={"app": "oauth2_sandbox", "userId": user_id}))[
        "data"
    ]["oauthUrl"]
    back = httpx2.get(url).headers["location"]
    assert httpx2.get(back).status_code == 200
    again = httpx2.get(back)
    assert again.status_code == 400
    assert "invalid_grant" in again.text
    assert len(ok(api.get(f"/users/{user_id}/credentials"))["data"]) == 1


def _row(server: Server, cid: str) -> Any:
    with server.services.engine.connect() as conn:
        return conn.execute(select(credentials).where(credentials.c.id == cid)).one()


def _expiring(server: Server, cid: str) -> None:
    """Make the stored token look a minute from expiry (inside the refresh-ahead window)."""
    with server.services.engine.begin() as conn:
        conn.execute(
            update(credentials)
            .where(credentials.c.id == cid)
            .values(expires_at=utcnow() + timedelta(minutes=1))
        )


def test_a_token_about_to_expire_is_refreshed_once_by_one_of_many_threads(
    server: Server, api: httpx2.Client, provider: Provider
) -> None:
    _, cid = connected(api, "gregg")
    before = oauth.usable(server.services, APPS["oauth2_sandbox"], _row(server, cid))
    _expiring(server, cid)
    row = _row(server, cid)

    got: list[dict[str, Any]] = []
    start = threading.Barrier(8)

    def use() -> None:
        start.wait()
        got.append(oauth.usable(server.services, APPS["oauth2_sandbox"], row))

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert provider.book.snapshot()["refreshes"] == 1
    assert len(got) == 8
    assert len({g["accessToken"] for g in got}) == 1
    assert got[0]["accessToken"] != before["accessToken"]
    after = _row(server, cid)
    assert after.expires_at > utcnow() + timedelta(minutes=50)
    assert after.refresh_until is None
    # the new token works at the app
    with httpx2.Client() as http:
        me = http.get(
            f"{provider.url}/api/me", headers={"Authorization": f"Bearer {got[0]['accessToken']}"}
        )
    assert me.status_code == 200


def test_a_refused_refresh_asks_for_reconnection(
    server: Server, api: httpx2.Client, provider: Provider
) -> None:
    user_id, cid = connected(api, "gregg")
    provider.book.revoke()  # the user revoked Solder's access at the provider
    _expiring(server, cid)
    with pytest.raises(ReconnectNeeded, match="invalid_grant"):
        oauth.usable(server.services, APPS["oauth2_sandbox"], _row(server, cid))
    assert _row(server, cid).status == "needs_reconnect"
    with pytest.raises(ReconnectNeeded, match="connected again"):
        oauth.usable(server.services, APPS["oauth2_sandbox"], _row(server, cid))
    assert provider.book.snapshot()["refreshes"] == 0
    # the ISV hears about it once, on the error stream
    with server.services.engine.connect() as conn:
        notices = conn.execute(select(outbox).where(outbox.c.kind == "credential")).all()
    assert len(notices) == 1
    payload = notices[0].payload
    assert (payload["type"], payload["credentialId"], payload["userId"], payload["app"]) == (
        "credential.needs_reconnect", cid, user_id, "oauth2_sandbox",
    )  # fmt: skip
    assert "invalid_grant" in payload["message"]

    # connecting again revives the same credential, so what used it carries on
    provider.book.deny = False
    connect(api, user_id)
    (again,) = ok(api.get(f"/users/{user_id}/credentials"))["data"]
    assert again["credentialId"] == cid
    assert _row(server, cid).status == "connected"
    data = oauth.usable(server.services, APPS["oauth2_sandbox"], _row(server, cid))
    with httpx2.Client() as http:
        me = http.get(
            f"{provider.url}/api/me", headers={"Authorization": f"Bearer {data['accessToken']}"}
        )
    assert me.status_code == 200


def test_oauth_url_errors_name_the_field(api: httpx2.Client, provider: Provider) -> None:
    user_id = ok(api.post("/users", json={"username": "gregg"}))["userId"]
    for params, status, named in [
        ({"app": "nope", "userId": user_id}, 404, "app"),
        ({"app": "bigcommerce", "userId": user_id}, 422, "app"),
        ({"app": "oauth2_sandbox"}, 422, "userId"),
        ({"app": "oauth2_sandbox", "userId": "nobody"}, 404, "userId"),
    ]:
        resp = api.get("/headless/oauthUrl", params=params)
        assert resp.status_code == status, (params, resp.text)
        assert named in resp.json()["message"]


def test_a_token_the_app_refuses_is_refreshed_once_and_the_action_retried(
    server: Server, api: httpx2.Client, provider: Provider
) -> None:
    user_id, cid = connected(api, "gregg")
    install = SimpleNamespace(environment="development", user_id=user_id, credential_ids=[cid])
    block = SimpleNamespace(app="oauth2_sandbox", action="get_item")
    call = BlockCall(
        services=server.services, block=block, run_id="r", step_id="s", workflow_id="w",  # type: ignore[arg-type]
        user_id=user_id, install=install, payload={},
        credential=lambda app, refresh=False: lifecycle.credential_for(
            server.services, install, app, refresh=refresh
        ),
    )  # fmt: skip
    assert blocks.app_action(call, block, {"item": "2"}) == {"id": 2, "name": "bellows"}  # type: ignore[arg-type]
    assert provider.book.snapshot()["refreshes"] == 0

    provider.book.expire_all()  # the provider ends the token early: Solder still thinks it good
    assert blocks.app_action(call, block, {"item": "3"}) == {"id": 3, "name": "chisel"}  # type: ignore[arg-type]
    assert provider.book.snapshot()["refreshes"] == 1

    provider.book.revoke()  # refused again after the refresh: the user must reconnect
    with pytest.raises(ReconnectNeeded):
        blocks.app_action(call, block, {"item": "1"})  # type: ignore[arg-type]
