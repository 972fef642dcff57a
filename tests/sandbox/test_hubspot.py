"""The HubSpot sandbox, on a real loopback socket: CRM v3 and HubSpot's OAuth."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest

from solder.sandbox import hubspot
from tests.servers import run_asgi

CLIENT_ID, CLIENT_SECRET = "hs-client", "hs-secret"
CALLBACK = "http://127.0.0.1:9/hubspot/callback"
PRIVATE = "pat-na1-sandbox"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass
class Box:
    url: str
    account: hubspot.Account
    http: httpx2.Client  # no credentials
    crm: httpx2.Client  # the private app token


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, hubspot.Account]]:
    app = hubspot.create_app(
        CLIENT_ID, CLIENT_SECRET, redirect_uris=(CALLBACK,), private_app_token=PRIVATE
    )
    with run_asgi(app) as url:
        yield url, app.state.account


@pytest.fixture
def box(server: tuple[str, hubspot.Account]) -> Iterator[Box]:
    url, account = server
    account.reset()
    account.book.lifetime, account.book.deny = 1800, False
    auth = {"Authorization": f"Bearer {PRIVATE}"}
    with httpx2.Client(base_url=url) as http, httpx2.Client(base_url=url, headers=auth) as crm:
        yield Box(url, account, http, crm)


def contact(box: Box, **props: str) -> dict[str, object]:
    answer = box.crm.post("/crm/v3/objects/contacts", json={"properties": props})
    assert answer.status_code == 201, answer.text
    body: dict[str, object] = answer.json()
    return body


def assert_error(answer: httpx2.Response, status: int, category: str) -> dict[str, object]:
    assert answer.status_code == status, answer.text
    body: dict[str, object] = answer.json()
    assert body["status"] == "error"
    assert body["category"] == category
    assert isinstance(body["message"], str)
    assert body["message"]
    assert UUID.fullmatch(str(body["correlationId"]))
    return body


def test_crm_needs_a_known_bearer_token(box: Box) -> None:
    missing = box.http.get("/crm/v3/objects/contacts")
    wrong = box.http.get("/crm/v3/objects/deals", headers={"Authorization": "Bearer nope"})
    for answer in (missing, wrong):
        body = assert_error(answer, 401, "INVALID_AUTHENTICATION")
        assert str(body["message"]).startswith("Authentication credentials not found.")
        assert answer.headers["x-hubspot-ratelimit-max"] == "110"
    assert box.crm.get("/crm/v3/objects/contacts").json() == {"results": []}


def test_contact_crud(box: Box) -> None:
    made = contact(box, email="ada@example.com", firstname="Ada", lastname="Lovelace")
    assert set(made) == {"id", "properties", "createdAt", "updatedAt", "archived"}
    assert made["archived"] is False
    props = made["properties"]
    assert isinstance(props, dict)
    assert props["email"] == "ada@example.com"
    assert props["hs_object_id"] == made["id"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", str(made["createdAt"]))
    path = f"/crm/v3/objects/contacts/{made['id']}"

    read = box.crm.get(path).json()
    assert set(read["properties"]) == {
        "createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname",
    }  # fmt: skip
    chosen = box.crm.get(path, params={"properties": "firstname,phone"}).json()["properties"]
    assert set(chosen) == {"firstname", "phone", "createdate", "hs_object_id", "lastmodifieddate"}
    assert chosen["phone"] is None
    by_email = box.crm.get(
        "/crm/v3/objects/contacts/ADA@example.com", params={"idProperty": "email"}
    )
    assert by_email.json()["id"] == made["id"]

    patched = box.crm.patch(path, json={"properties": {"phone": "+44 20 7946 0000"}})
    assert patched.status_code == 200
    assert patched.json()["properties"]["phone"] == "+44 20 7946 0000"
    assert patched.json()["properties"]["firstname"] == "Ada"

    assert box.crm.delete(path).status_code == 204
    assert_error(box.crm.get(path), 404, "OBJECT_NOT_FOUND")
    assert box.crm.get("/crm/v3/objects/contacts").json()["results"] == []
    archived = box.crm.get("/crm/v3/objects/contacts", params={"archived": "true"}).json()
    assert [(r["id"], r["archived"]) for r in archived["results"]] == [(made["id"], True)]
    assert "archivedAt" in archived["results"][0]


def test_duplicate_email_is_409_conflict(box: Box) -> None:
    first = contact(box, email="dup@example.com")
    again = box.crm.post(
        "/crm/v3/objects/contacts", json={"properties": {"email": "DUP@example.com"}}
    )
    body = assert_error(again, 409, "CONFLICT")
    assert body["message"] == f"Contact already exists. Existing ID: {first['id']}"
    other = contact(box, email="other@example.com")
    clash = box.crm.patch(
        f"/crm/v3/objects/contacts/{other['id']}", json={"properties": {"email": "dup@example.com"}}
    )
    assert_error(clash, 409, "CONFLICT")


def test_bad_input_is_400_validation_error(box: Box) -> None:
    unknown = box.crm.post(
        "/crm/v3/objects/contacts", json={"properties": {"email": "a@b.c", "shoe_size": "9"}}
    )
    body = assert_error(unknown, 400, "VALIDATION_ERROR")
    assert body["errors"] == [
        {
            "message": 'Property "shoe_size" does not exist',
            "code": "PROPERTY_DOESNT_EXIST",
            "context": {"propertyName": ["shoe_size"]},
        }
    ]
    assert_error(box.crm.post("/crm/v3/objects/contacts", content=b"{"), 400, "VALIDATION_ERROR")
    assert_error(box.crm.get("/crm/v3/objects/widgets"), 400, "VALIDATION_ERROR")
    assert_error(
        box.crm.get("/crm/v3/objects/contacts", params={"limit": 101}), 400, "VALIDATION_ERROR"
    )
    assert box.account.records["contacts"] == {}


def test_list_pagination_walk(box: Box) -> None:
    made = [contact(box, email=f"c{i}@example.com")["id"] for i in range(7)]
    seen: list[str] = []
    url: str | None = "/crm/v3/objects/contacts?limit=3"
    pages = 0
    while url is not None:
        page = box.crm.get(url).json()
        seen += [r["id"] for r in page["results"]]
        nxt = page.get("paging", {}).get("next")
        url = nxt["link"] if nxt else None
        if nxt:
            assert nxt["link"].endswith(f"after={nxt['after']}") or "after=" in nxt["link"]
        pages += 1
    assert (seen, pages) == (made, 3)


def test_search_filters_sorts_and_pages(box: Box) -> None:
    base = 1_700_000_000_000
    ids = [
        contact(box, email=f"s{i}@example.com", firstname=name, createdate=str(base + i * 1000))[
            "id"
        ]
        for i, name in enumerate(["Ada", "Grace", "Alan", "Edsger", "Barbara"])
    ]
    search = "/crm/v3/objects/contacts/search"
    newer = {
        "filters": [{"propertyName": "createdate", "operator": "GT", "value": str(base + 1500)}]
    }
    body = {
        "filterGroups": [newer],
        "sorts": [{"propertyName": "createdate", "direction": "DESCENDING"}],
        "limit": 2,
        "properties": ["firstname"],
    }
    first = box.crm.post(search, json=body).json()
    assert first["total"] == 3
    assert [r["id"] for r in first["results"]] == [ids[4], ids[3]]
    assert first["results"][0]["properties"]["firstname"] == "Barbara"
    assert first["paging"] == {"next": {"after": "2"}}
    second = box.crm.post(search, json={**body, "after": first["paging"]["next"]["after"]}).json()
    assert [r["id"] for r in second["results"]] == [ids[2]]
    assert "paging" not in second

    either = {
        "filterGroups": [
            {"filters": [{"propertyName": "firstname", "operator": "EQ", "value": "ada"}]},
            {
                "filters": [
                    {"propertyName": "email", "operator": "IN", "values": ["s3@example.com"]}
                ]
            },
        ]
    }
    assert {r["id"] for r in box.crm.post(search, json=either).json()["results"]} == {
        ids[0],
        ids[3],
    }
    iso_filter = {
        "filterGroups": [
            {
                "filters": [
                    {
                        "propertyName": "createdate",
                        "operator": "LTE",
                        "value": "2023-11-14T22:13:21.000Z",
                    }
                ]
            }
        ]
    }
    assert [r["id"] for r in box.crm.post(search, json=iso_filter).json()["results"]] == ids[:2]
    assert box.crm.post(search, json={"query": "grace"}).json()["total"] == 1
    too_many = {"filterGroups": [{"filters": [newer["filters"][0]] * 7}]}
    assert_error(box.crm.post(search, json=too_many), 400, "VALIDATION_ERROR")


def test_deals(box: Box) -> None:
    made = box.crm.post(
        "/crm/v3/objects/deals",
        json={
            "properties": {
                "dealname": "Big one",
                "amount": 5000,
                "dealstage": "appointmentscheduled",
            }
        },
    )
    assert made.status_code == 201
    deal = made.json()
    assert deal["properties"]["amount"] == "5000"
    box.crm.post(
        "/crm/v3/objects/deals", json={"properties": {"dealname": "Small", "amount": "50"}}
    )
    found = box.crm.post(
        "/crm/v3/objects/deals/search",
        json={
            "filterGroups": [
                {"filters": [{"propertyName": "amount", "operator": "GTE", "value": "100"}]}
            ]
        },
    ).json()
    assert [r["id"] for r in found["results"]] == [deal["id"]]
    assert "hs_lastmodifieddate" in found["results"][0]["properties"]
    patched = box.crm.patch(
        f"/crm/v3/objects/deals/{deal['id']}", json={"properties": {"dealstage": "closedwon"}}
    )
    assert patched.json()["properties"]["dealstage"] == "closedwon"
    assert box.crm.delete(f"/crm/v3/objects/deals/{deal['id']}").status_code == 204
    assert_error(box.crm.get(f"/crm/v3/objects/deals/{deal['id']}"), 404, "OBJECT_NOT_FOUND")


def test_rate_limit_switch(box: Box) -> None:
    assert box.http.post("/_sandbox/rate_limit", json={"count": 2}).json() == {"count": 2}
    for _ in range(2):
        limited = box.crm.get("/crm/v3/objects/contacts")
        body = assert_error(limited, 429, "RATE_LIMITS")
        assert body["policyName"] == "TEN_SECONDLY_ROLLING"
        assert limited.headers["x-hubspot-ratelimit-remaining"] == "0"
        assert limited.headers["x-hubspot-ratelimit-interval-milliseconds"] == "10000"
    fine = box.crm.get("/crm/v3/objects/contacts")
    assert fine.status_code == 200
    assert int(fine.headers["x-hubspot-ratelimit-remaining"]) > 0
    assert int(fine.headers["x-hubspot-ratelimit-daily-remaining"]) > 0


def authorize(box: Box, **params: str) -> dict[str, str]:
    query = {"client_id": CLIENT_ID, "redirect_uri": CALLBACK, "scope": "crm.objects.contacts.read"}
    answer = box.http.get("/oauth/authorize", params={**query, **params})
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(CALLBACK + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def exchange(box: Box, **form: str) -> httpx2.Response:
    base = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    return box.http.post("/oauth/v1/token", data={**base, **form})


def test_oauth_flow_expiry_and_one_refresh_per_expiry(box: Box) -> None:
    back = authorize(box, state="xyz")
    assert back["state"] == "xyz"
    answer = exchange(
        box, grant_type="authorization_code", code=back["code"], redirect_uri=CALLBACK
    )
    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    assert set(tokens) == {"token_type", "refresh_token", "access_token", "expires_in"}
    assert (tokens["token_type"], tokens["expires_in"]) == ("bearer", 1800)
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert box.http.get("/crm/v3/objects/contacts", headers=auth).status_code == 200
    info = box.http.get(f"/oauth/v1/access-tokens/{tokens['access_token']}").json()
    assert info["scopes"] == ["crm.objects.contacts.read"]

    box.http.post("/_sandbox/expire")
    expired = box.http.get("/crm/v3/objects/contacts", headers=auth)
    body = assert_error(expired, 401, "EXPIRED_AUTHENTICATION")
    assert re.fullmatch(r"The OAuth token used to make this call expired \d+ second\(s\) ago\.",
                        str(body["message"]))  # fmt: skip
    assert "expire time" in body["context"]  # type: ignore[operator]

    renewed = exchange(box, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert renewed.status_code == 200
    fresh = renewed.json()
    assert fresh["refresh_token"] == tokens["refresh_token"]
    assert fresh["access_token"] != tokens["access_token"]
    fresh_auth = {"Authorization": f"Bearer {fresh['access_token']}"}
    assert box.http.get("/crm/v3/objects/contacts", headers=fresh_auth).status_code == 200
    assert box.http.get("/crm/v3/objects/contacts", headers=auth).status_code == 401

    box.http.post("/_sandbox/expire")
    again = exchange(box, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert again.status_code == 200  # the same refresh token still works
    stats = box.http.get("/_sandbox/tokens").json()
    assert (stats["refreshes"], stats["tokens_issued"]) == (2, 3)


def test_token_lifetime_is_configurable(box: Box) -> None:
    assert box.http.post("/_sandbox/tokens", json={"lifetime": 5}).json()["lifetime"] == 5
    code = authorize(box)["code"]
    tokens = exchange(box, grant_type="authorization_code", code=code, redirect_uri=CALLBACK).json()
    assert tokens["expires_in"] == 5
    token = box.account.book.lookup(tokens["access_token"])
    assert token is not None
    assert token.expires_at is not None
    assert token.expires_at - token.issued_at == 5


def test_token_endpoint_errors(box: Box) -> None:
    code = authorize(box)["code"]
    bad_secret = exchange(
        box, grant_type="authorization_code", code=code, client_secret="x", redirect_uri=CALLBACK
    )
    assert (bad_secret.status_code, bad_secret.json()["status"]) == (400, "BAD_CLIENT_SECRET")
    wrong_uri = exchange(
        box, grant_type="authorization_code", code=code, redirect_uri="http://127.0.0.1:9/x"
    )
    assert wrong_uri.json()["status"] == "BAD_REDIRECT_URI"
    reused = exchange(box, grant_type="authorization_code", code=code, redirect_uri=CALLBACK)
    assert (reused.status_code, reused.json()["status"]) == (400, "BAD_AUTH_CODE")
    bad_refresh = exchange(box, grant_type="refresh_token", refresh_token="nope")
    assert bad_refresh.json()["status"] == "BAD_REFRESH_TOKEN"
    assert exchange(box, grant_type="password").json()["status"] == "BAD_GRANT_TYPE"
    assert exchange(box, client_id="other").json()["status"] == "BAD_CLIENT_ID"
    assert box.account.book.counters.tokens_issued == 0


def test_authorize_refuses_unregistered_redirects_and_can_deny(box: Box) -> None:
    stray = box.http.get(
        "/oauth/authorize", params={"client_id": CLIENT_ID, "redirect_uri": "http://evil.example/"}
    )
    assert stray.status_code == 400
    assert "location" not in stray.headers
    box.http.post("/_sandbox/tokens", json={"deny": True})
    assert authorize(box, state="s1") == {"error": "access_denied", "state": "s1"}


def test_a_short_lifetime_expires_on_its_own(box: Box) -> None:
    box.http.post("/_sandbox/tokens", json={"lifetime": 0.3})
    code = authorize(box)["code"]
    tokens = exchange(box, grant_type="authorization_code", code=code, redirect_uri=CALLBACK).json()
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert box.http.get("/crm/v3/objects/contacts", headers=auth).status_code == 200
    time.sleep(0.4)
    late = box.http.get("/crm/v3/objects/contacts", headers=auth)
    assert_error(late, 401, "EXPIRED_AUTHENTICATION")
    assert box.http.get("/_sandbox/tokens").json()["live_access_tokens"] == 0
