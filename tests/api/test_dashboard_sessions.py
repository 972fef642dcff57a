"""The dashboard's login (an HttpOnly cookie per environment) and /manage/keys.

A session is opened with an API key once; the cookie holds no key; calls need the
``x-solder-dashboard`` header naming the environment too (a cross-origin page cannot send
it); revoking the key ends the session. Keys are listed by prefix only, shown once when made.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest

from solder.security import keys
from tests.conftest import Server
from tests.flows import ok

HEADER = "x-solder-dashboard"


@pytest.fixture
def browser(server: Server) -> Iterator[httpx2.Client]:
    """A client with a cookie jar, no Authorization: what the dashboard's page has."""
    with httpx2.Client(base_url=server.url, timeout=10) as client:
        yield client


def refused(resp: httpx2.Response, status: int, *words: str) -> None:
    assert resp.status_code == status, resp.text
    assert set(resp.json()) - {"field"} == {"message"}
    for word in words:
        assert word in resp.json()["message"], resp.text


def log_in(client: httpx2.Client, key: str) -> httpx2.Response:
    resp = client.post("/dashboard/session", json={"key": key})
    assert resp.status_code == 200, resp.text
    return resp


def test_a_key_opens_a_session_held_in_an_httponly_strict_cookie(
    server: Server, browser: httpx2.Client
) -> None:
    refused(browser.post("/dashboard/session", json={"key": "solder_sk_dev_nope"}), 401, "key")
    refused(browser.post("/dashboard/session", json={}), 422, "key")
    resp = log_in(browser, server.dev_key)
    assert resp.json() == {
        "environment": "development",
        "keyPrefix": keys.display_prefix(server.dev_key),
    }
    cookie = resp.headers["set-cookie"]
    assert cookie.startswith("solder_dash_development=")
    for part in ("HttpOnly", "SameSite=strict", "Path=/", "Max-Age=43200"):
        assert part.lower() in cookie.lower()
    assert "secure" not in cookie.lower()  # plain http here; https sets Secure
    assert server.dev_key not in cookie
    assert keys.hash_key(server.dev_key) not in resp.text

    dev = {HEADER: "development"}
    assert ok(browser.get("/integrations", headers=dev)) == {"data": []}
    assert ok(browser.get("/2023-12/users", headers=dev)) == {"data": []}
    assert ok(browser.get("/dashboard/session")) == {"data": [{"environment": "development"}]}
    # the cookie alone is not enough, nor is it good for the other environment
    refused(browser.get("/integrations"), 401, "Authorization")
    refused(browser.get("/integrations", headers={HEADER: "production"}), 401, "production")
    refused(browser.get("/integrations", headers={HEADER: "staging"}), 401, HEADER)


def test_both_environments_side_by_side_and_each_logs_out_alone(
    server: Server, browser: httpx2.Client
) -> None:
    log_in(browser, server.dev_key)
    log_in(browser, server.prod_key)
    ok(browser.post("/users", headers={HEADER: "production"}, json={"username": "p-only"}))
    users_of = {
        env: [u["username"] for u in ok(browser.get("/users", headers={HEADER: env}))["data"]]
        for env in ("development", "production")
    }
    assert users_of == {"development": [], "production": ["p-only"]}
    assert ok(browser.delete("/dashboard/session", params={"environment": "production"}))
    assert ok(browser.get("/dashboard/session")) == {"data": [{"environment": "development"}]}
    refused(browser.get("/users", headers={HEADER: "production"}), 401, "log in")
    assert ok(browser.get("/users", headers={HEADER: "development"})) == {"data": []}


def test_a_forged_or_revoked_session_is_refused(server: Server, browser: httpx2.Client) -> None:
    browser.cookies.set("solder_dash_development", "not-a-token")
    refused(browser.get("/integrations", headers={HEADER: "development"}), 401, "session")
    with server.client(prefix="") as admin:
        extra = ok(admin.post("/manage/keys"))["key"]
    log_in(browser, extra)
    assert ok(browser.get("/integrations", headers={HEADER: "development"})) == {"data": []}
    with server.client(prefix="") as admin:
        listed = ok(admin.get("/manage/keys"))["data"]
        (mine,) = [k for k in listed if k["prefix"] == keys.display_prefix(extra)]
        ok(admin.delete(f"/manage/keys/{mine['keyId']}"))
    refused(browser.get("/integrations", headers={HEADER: "development"}), 401, "revoked")
    assert ok(browser.get("/dashboard/session")) == {"data": []}


def test_keys_are_listed_by_prefix_created_once_and_revoked(server: Server) -> None:
    with server.client(prefix="") as dev, server.client(server.prod_key, prefix="") as prod:
        first = ok(dev.get("/manage/keys"))
        assert first["environment"] == "development"
        (only,) = first["data"]
        assert set(only) == {"keyId", "prefix", "createdAt", "revokedAt", "current"}
        assert (only["prefix"], only["current"], only["revokedAt"]) == (
            keys.display_prefix(server.dev_key), True, None,
        )  # fmt: skip

        made = ok(dev.post("/manage/keys", json={"environment": "development"}))
        assert set(made) == {"keyId", "environment", "key"}
        assert made["key"].startswith("solder_sk_dev_")
        listed = ok(dev.get("/manage/keys"))["data"]
        assert made["key"] not in str(listed)
        assert keys.hash_key(made["key"]) not in str(listed)
        assert {k["keyId"] for k in listed} == {only["keyId"], made["keyId"]}
        with server.client(made["key"]) as new:
            assert ok(new.get("/users")) == {"data": []}

        refused(prod.post("/manage/keys", json={"environment": "development"}), 422, "environment")
        refused(prod.delete(f"/manage/keys/{made['keyId']}"), 404, "keyId")  # not its environment
        refused(dev.delete(f"/manage/keys/{only['keyId']}"), 409, "you are using")
        refused(dev.delete("/manage/keys/nope"), 404, "keyId")

        gone = ok(dev.delete(f"/manage/keys/{made['keyId']}"))
        assert gone["success"] is True
        assert gone["revokedAt"]
        with server.client(made["key"]) as new:
            refused(new.get("/users"), 401, "unknown API key")
        again = ok(dev.delete(f"/manage/keys/{made['keyId']}"))
        assert again["revokedAt"] == gone["revokedAt"]  # revoking twice changes nothing


def test_login_takes_json_only_and_is_secure_over_https(
    server: Server, browser: httpx2.Client
) -> None:
    # a cross-site form can send text/plain without a preflight: it must not log anyone in
    plain = browser.post(
        "/dashboard/session",
        content=f'{{"key": "{server.dev_key}"}}',
        headers={"content-type": "text/plain"},
    )
    assert plain.status_code in (415, 422), plain.text
    assert "set-cookie" not in plain.headers
    server.services.public_url = "https://solder.example"
    cookie = log_in(browser, server.dev_key).headers["set-cookie"]
    assert "; secure" in cookie.lower()


def test_another_origin_may_not_send_the_dashboard_header(browser: httpx2.Client) -> None:
    preflight = browser.options(
        "/integrations",
        headers={
            "origin": "https://evil.example",
            "access-control-request-method": "GET",
            "access-control-request-headers": HEADER,
        },
    )
    assert preflight.status_code == 400
    assert HEADER not in preflight.headers.get("access-control-allow-headers", "").lower()
