"""Hosted install links: ``install-url`` makes one, ``/install/{id}`` opens it, once.

The link sends the browser on to the install page with a user token bound to the link; the
installation completed with that token uses the link up. Expired, forged, foreign and used
links answer a page that says which, with a status to match.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest

from solder.client import Conflict
from solder.security.tokens import LinkClaims, mint_link_token, read_link_token, read_user_token
from solder.store.types import utcnow
from tests.conftest import STORE_HASH, STORE_TOKEN, Server
from tests.flows import install_headless, ok, push_quickstart

CREDENTIAL = {"type": "bigcommerce", "data": {"storeHash": STORE_HASH, "accessToken": STORE_TOKEN}}


@pytest.fixture
def gregg(api: httpx2.Client) -> tuple[str, str]:
    """A user and the quick start's integration id."""
    push_quickstart(api)
    user_id = ok(api.post("/users", json={"username": "gregg"}))["userId"]
    (integration,) = ok(api.get("/integrations", params={"userId": user_id}))["data"]
    return user_id, integration["integrationId"]


def link_for(api: httpx2.Client, user_id: str, integration_id: str, **query: int) -> str:
    answer = ok(api.get(f"/users/{user_id}/integrations/{integration_id}/install-url",
                        params=query))  # fmt: skip
    url: str = answer["url"]
    return url


def open_link(url: str) -> httpx2.Response:
    return httpx2.get(url, follow_redirects=False, timeout=10)


def test_a_link_opens_the_install_page_as_its_user_and_installs_once(
    server: Server, api: httpx2.Client, gregg: tuple[str, str]
) -> None:
    user_id, integration_id = gregg
    url = link_for(api, user_id, integration_id)
    assert url.startswith(f"{server.url}/install/{integration_id}?token=")

    opened = open_link(url)
    assert opened.status_code == 303, opened.text
    target = urlsplit(opened.headers["location"])
    assert target.path == "/forge-install"
    query = parse_qs(target.query)
    assert query["integrationId"] == [integration_id]
    (token,) = query["token"]
    claims = read_user_token(server.services.token_secret, token)
    assert (claims.user_id, claims.environment) == (user_id, "development")
    assert claims.link is not None

    as_user = httpx2.Client(base_url=server.url + "/2023-12",
                            headers={"x-alloy-user-token": token}, timeout=10)  # fmt: skip
    with as_user:
        install_headless(as_user, user_id, integration_id, [CREDENTIAL],
                         lambda _b, _f: "https://acme.example/orders")  # fmt: skip
        listed = ok(api.get("/integrations", params={"userId": user_id}))["data"]
        assert listed[0]["installed"] is True

        used = open_link(url)
        assert used.status_code == 410
        assert "was used already" in used.text
        # the token it gave cannot complete another installation either
        with pytest.raises(Conflict, match="token: this install link was used already"):
            install_headless(as_user, user_id, integration_id, [CREDENTIAL],
                             lambda _b, _f: "https://acme.example/orders")  # fmt: skip


def test_a_link_lasts_seven_days_unless_asked_otherwise(
    api: httpx2.Client, gregg: tuple[str, str]
) -> None:
    user_id, integration_id = gregg
    path = f"/users/{user_id}/integrations/{integration_id}/install-url"
    default = datetime.fromisoformat(ok(api.get(path))["expiresAt"])
    assert abs(default - (utcnow() + timedelta(days=7))) < timedelta(minutes=1)
    two = datetime.fromisoformat(ok(api.get(path, params={"expiresInDays": 2}))["expiresAt"])
    assert abs(two - (utcnow() + timedelta(days=2))) < timedelta(minutes=1)
    refused = api.get(path, params={"expiresInDays": 0})
    assert refused.status_code == 422
    assert refused.json()["message"].startswith("expiresInDays:")


def test_expired_forged_foreign_and_missing_links_say_so(
    server: Server, api: httpx2.Client, gregg: tuple[str, str]
) -> None:
    user_id, integration_id = gregg
    url = link_for(api, user_id, integration_id)
    base, token = url.split("?token=")

    forged = open_link(f"{base}?token={token[:-2]}xx")
    assert forged.status_code == 401
    assert "Not a valid install link" in forged.text

    missing = open_link(base)
    assert missing.status_code == 401
    assert "incomplete" in missing.text

    elsewhere = open_link(url.replace(f"/install/{integration_id}", "/install/0000"))
    assert elsewhere.status_code == 404
    assert "another integration" in elsewhere.text

    claims = read_link_claims(server, token)
    old = mint_link_token(server.services.token_secret, claims, utcnow() - timedelta(seconds=1))
    expired = open_link(f"{base}?token={old}")
    assert expired.status_code == 410
    assert "expired" in expired.text
    assert "<script" not in expired.text  # a plain page, never a blank frame


def read_link_claims(server: Server, token: str) -> LinkClaims:
    return read_link_token(server.services.token_secret, token)
