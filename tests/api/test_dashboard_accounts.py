"""Logging in to the dashboard with an account (email and password), beside the API key.

An account opens a session cookie in each environment it may see (both by default), held as
the key's sessions are (HttpOnly, SameSite=Strict, no secret in it). A wrong password and an
unknown email get the same answer; failed logins are refused for a while once there were too
many for one email or from one address; deleting an account ends its sessions at once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import httpx2
import pytest
from argon2 import PasswordHasher

from solder.security import passwords
from solder.store import dashboard_accounts
from tests.conftest import Server
from tests.flows import ok

HEADER = "x-solder-dashboard"
PASSWORD = "correct horse battery staple"
BOTH = ("development", "production")


@pytest.fixture
def browser(server: Server) -> Iterator[httpx2.Client]:
    """A client with a cookie jar, no Authorization: what the dashboard's page has."""
    with httpx2.Client(base_url=server.url, timeout=30) as client:
        yield client


def make_account(
    server: Server, email: str, envs: Sequence[str] = BOTH, hashed: str | None = None
) -> str:
    with server.services.engine.begin() as conn:
        return dashboard_accounts.create(
            conn, email, hashed or passwords.hash_password(PASSWORD), envs
        )


def log_in(client: httpx2.Client, email: str, password: str = PASSWORD) -> httpx2.Response:
    return client.post("/dashboard/login", json={"email": email, "password": password})


def refused(resp: httpx2.Response, status: int, *words: str) -> None:
    assert resp.status_code == status, resp.text
    assert set(resp.json()) - {"field"} == {"message"}
    for word in words:
        assert word in resp.json()["message"], resp.text


def test_an_account_logs_in_to_both_environments_at_once(
    server: Server, browser: httpx2.Client
) -> None:
    make_account(server, "Ops@Example.com")
    resp = log_in(browser, " ops@example.COM ")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"email": "ops@example.com", "environments": list(BOTH)}
    cookies = resp.headers.get_list("set-cookie")
    assert sorted(c.split("=", 1)[0] for c in cookies) == [
        "solder_dash_development", "solder_dash_production",
    ]  # fmt: skip
    for cookie in cookies:
        for part in ("HttpOnly", "SameSite=strict", "Path=/", "Max-Age=43200"):
            assert part.lower() in cookie.lower()
        assert PASSWORD not in cookie
    with server.services.engine.connect() as conn:
        row = dashboard_accounts.by_email(conn, "ops@example.com")
    assert row.last_login_at is not None
    assert row.password_hash.startswith("$argon2id$")
    assert PASSWORD not in row.password_hash

    ok(browser.post("/users", headers={HEADER: "production"}, json={"username": "p-only"}))
    users_of = {
        env: [u["username"] for u in ok(browser.get("/users", headers={HEADER: env}))["data"]]
        for env in BOTH
    }
    assert users_of == {"development": [], "production": ["p-only"]}
    sessions = ok(browser.get("/dashboard/session"))["data"]
    assert sessions == [{"environment": "development"}, {"environment": "production"}]
    # the cookie alone is still not enough
    refused(browser.get("/integrations"), 401, "Authorization")


def test_an_account_limited_to_one_environment_opens_only_that_one(
    server: Server, browser: httpx2.Client
) -> None:
    make_account(server, "prod@example.com", ["production"])
    resp = log_in(browser, "prod@example.com")
    assert resp.json() == {"email": "prod@example.com", "environments": ["production"]}
    assert ok(browser.get("/integrations", headers={HEADER: "production"})) == {"data": []}
    refused(browser.get("/integrations", headers={HEADER: "development"}), 401, "development")
    # a production session's cookie copied to the development name does not open it
    token = browser.cookies.get("solder_dash_production")
    browser.cookies.set("solder_dash_development", token)
    refused(browser.get("/integrations", headers={HEADER: "development"}), 401, "session")


def test_a_wrong_password_and_an_unknown_email_get_one_answer(
    server: Server, browser: httpx2.Client
) -> None:
    make_account(server, "ops@example.com")
    wrong = log_in(browser, "ops@example.com", "not the password at all")
    unknown = log_in(browser, "nobody@example.com", "not the password at all")
    for resp in (wrong, unknown):
        refused(resp, 401)
        assert resp.json() == {"message": "login: wrong email or password"}
        assert "set-cookie" not in resp.headers
    refused(browser.post("/dashboard/login", json={"email": "ops@example.com"}), 422, "password")
    refused(browser.post("/dashboard/login", json={"password": PASSWORD}), 422, "email")
    refused(log_in(browser, "ops@example.com", "x" * 1025), 422, "password")
    assert ok(browser.get("/dashboard/session")) == {"data": []}


def test_failed_logins_are_limited_per_email_whether_or_not_it_has_an_account(
    server: Server, browser: httpx2.Client
) -> None:
    limit = server.services.settings.login.failures_per_account
    make_account(server, "ops@example.com")
    make_account(server, "other@example.com")
    for email in ("ops@example.com", "ghost@example.com"):
        for _ in range(limit):
            refused(log_in(browser, email, "a wrong password!"), 401, "wrong email or password")
        throttled = log_in(browser, email)  # even the right password now waits
        refused(throttled, 429, "too many failed attempts")
        assert 0 < int(throttled.headers["retry-after"]) <= 900
    assert ok(browser.get("/dashboard/session")) == {"data": []}
    # another account from the same address is not held back by them
    assert log_in(browser, "other@example.com").status_code == 200


def test_failed_logins_are_limited_per_client_address(
    server: Server, browser: httpx2.Client
) -> None:
    per_address = server.services.settings.login.failures_per_address
    make_account(server, "ops@example.com")
    for n in range(per_address):  # each email stays under its own limit
        refused(log_in(browser, f"guess{n}@example.com", "a wrong password!"), 401)
    refused(log_in(browser, "ops@example.com"), 429, "too many failed attempts")


def test_a_successful_login_forgets_the_emails_earlier_failures(
    server: Server, browser: httpx2.Client
) -> None:
    limit = server.services.settings.login.failures_per_account
    make_account(server, "ops@example.com")
    for _ in range(limit - 1):
        refused(log_in(browser, "ops@example.com", "a wrong password!"), 401)
    assert log_in(browser, "ops@example.com").status_code == 200
    for _ in range(limit - 1):
        refused(log_in(browser, "ops@example.com", "a wrong password!"), 401)
    assert log_in(browser, "ops@example.com").status_code == 200


def test_deleting_an_account_ends_its_sessions_at_once(
    server: Server, browser: httpx2.Client
) -> None:
    make_account(server, "ops@example.com")
    assert log_in(browser, "ops@example.com").status_code == 200
    assert ok(browser.get("/integrations", headers={HEADER: "production"})) == {"data": []}
    with server.services.engine.begin() as conn:
        assert dashboard_accounts.delete_(conn, "OPS@example.com")
    for env in BOTH:
        refused(browser.get("/integrations", headers={HEADER: env}), 401, "log in again")
    assert ok(browser.get("/dashboard/session")) == {"data": []}
    # an account made again with the same email does not revive the old sessions
    make_account(server, "ops@example.com")
    refused(browser.get("/integrations", headers={HEADER: "development"}), 401, "session")


def test_a_hash_made_with_weaker_settings_is_replaced_on_login(
    server: Server, browser: httpx2.Client
) -> None:
    short = "eight ch"  # accepted when it was set, under a policy since made stricter
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(short)
    make_account(server, "old@example.com", hashed=weak)
    assert log_in(browser, "old@example.com", short).status_code == 200
    with server.services.engine.connect() as conn:
        stored = dashboard_accounts.by_email(conn, "old@example.com").password_hash
    assert stored != weak
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert passwords.upgraded(stored, short) is None  # current now
    assert passwords.verify(stored, short)
