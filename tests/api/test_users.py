"""/users: end users by id or username, batches, pages, credentials and the GDPR purge."""

from __future__ import annotations

import time
from typing import Any

import httpx2
import jwt
import pytest
from sqlalchemy import func, select

from solder.sandbox.bigcommerce import StoreState
from solder.store.tables import block_results, events, runs
from tests.conftest import STORE_HASH, STORE_TOKEN, Server
from tests.flows import FULFILLMENT, install_quickstart, ok, push_quickstart, runs_of, settled

FULFILLED = {"orderId": "123", "status": "FULFILLED"}


def new_user(api: httpx2.Client, username: str, full_name: str | None = None) -> str:
    body: dict[str, Any] = {"username": username}
    if full_name is not None:
        body["fullName"] = full_name
    user_id: str = ok(api.post("/users", json=body))["userId"]
    return user_id


def usernames(api: httpx2.Client) -> list[str]:
    return [u["username"] for u in ok(api.get("/users"))["data"]]


def refused(resp: httpx2.Response, status: int) -> str:
    """Assert an error response of ``status`` in the Alloy shape; return its message."""
    assert resp.status_code == status, resp.text
    message = resp.json()["message"]
    assert isinstance(message, str)
    return message


def test_create_returns_the_user_id(api: httpx2.Client) -> None:
    resp = ok(api.post("/users", json={"username": "gregg", "fullName": "Gregg Smith"}))
    assert list(resp) == ["userId"]
    user_id = resp["userId"]
    assert ok(api.get(f"/users/{user_id}")) == {
        "userId": user_id,
        "username": "gregg",
        "fullName": "Gregg Smith",
    }


def test_a_taken_username_is_a_conflict(api: httpx2.Client) -> None:
    new_user(api, "gregg")
    message = refused(api.post("/users", json={"username": "gregg"}), 409)
    assert "username" in message
    assert "gregg" in message
    assert usernames(api) == ["gregg"]


def test_batch_creates_every_user_and_returns_their_ids(api: httpx2.Client) -> None:
    names = [f"user{i}" for i in range(5)]
    batch = [{"username": n, "fullName": n.title()} for n in names]
    resp = ok(api.post("/users/batch", json={"users": batch}))
    assert isinstance(resp["message"], str)
    listed = {u["username"]: u for u in ok(api.get("/users"))["data"]}
    assert {n: listed[n]["userId"] for n in names} == dict(zip(names, resp["userIds"], strict=True))
    assert listed["user3"]["fullName"] == "User3"


def test_a_batch_over_1000_users_is_refused(api: httpx2.Client) -> None:
    batch = [{"username": f"u{i}"} for i in range(1001)]
    assert "users" in refused(api.post("/users/batch", json={"users": batch}), 422)
    assert usernames(api) == []
    ok(api.post("/users/batch", json={"users": batch[:1000]}))
    assert len(usernames(api)) == 1000


@pytest.mark.parametrize("stored", [[], ["ann"]], ids=["inside-the-batch", "against-stored"])
def test_a_duplicate_username_stores_nothing_of_the_batch(
    api: httpx2.Client, stored: list[str]
) -> None:
    for name in stored:
        new_user(api, name)
    batch = [{"username": n} for n in ("zed", "ann", "bob", *([] if stored else ["ann"]))]
    message = refused(api.post("/users/batch", json={"users": batch}), 409)
    assert "ann" in message
    assert usernames(api) == stored


def test_list_keeps_the_alloy_shape_and_pages_on_request(api: httpx2.Client) -> None:
    ok(api.post("/users/batch", json={"users": [{"username": f"u{i}"} for i in range(5)]}))
    plain = ok(api.get("/users"))
    assert list(plain) == ["data"]
    assert len(plain["data"]) == 5
    assert all(set(u) == {"userId", "username", "fullName"} for u in plain["data"])
    every = [u["userId"] for u in plain["data"]]

    page = ok(api.get("/users", params={"page": 2, "limit": 2}))
    assert [u["userId"] for u in page["data"]] == every[2:4]
    counts = {k: page[k] for k in ("totalItems", "totalPages", "currentPage", "pageSize")}
    assert counts == {"totalItems": 5, "totalPages": 3, "currentPage": 2, "pageSize": 2}
    last = ok(api.get("/users", params={"page": 3, "limit": 2}))
    assert [u["userId"] for u in last["data"]] == every[4:]


def test_read_change_and_delete_by_id_or_by_username(api: httpx2.Client) -> None:
    user_id = new_user(api, "gregg")
    new_user(api, "taken")
    assert ok(api.get("/users/gregg"))["userId"] == user_id

    changed = ok(api.put("/users/gregg", json={"fullName": "Gregg S."}))
    assert changed == {"userId": user_id, "username": "gregg", "fullName": "Gregg S."}
    renamed = ok(api.put(f"/users/{user_id}", json={"username": "greggory"}))
    assert renamed == {"userId": user_id, "username": "greggory", "fullName": "Gregg S."}
    refused(api.get("/users/gregg"), 404)
    assert "username" in refused(api.put(f"/users/{user_id}", json={"username": "taken"}), 409)

    assert ok(api.delete("/users/greggory")) == {"success": True}
    refused(api.get(f"/users/{user_id}"), 404)
    assert usernames(api) == ["taken"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/users/nobody"),
        ("PUT", "/users/nobody"),
        ("DELETE", "/users/nobody"),
        ("GET", "/users/nobody/token"),
        ("GET", "/user/nobody/token"),
        ("DELETE", "/users/nobody/logs"),
        ("GET", "/users/nobody/credentials"),
        ("PUT", "/users/nobody/deactivate-workflows"),
    ],
)
def test_an_unknown_user_is_404(api: httpx2.Client, method: str, path: str) -> None:
    new_user(api, "gregg")
    kwargs: dict[str, Any] = {"json": {"fullName": "x"}} if method == "PUT" else {}
    assert "nobody" in refused(api.request(method, path, **kwargs), 404)


def test_an_id_wins_over_a_username_that_looks_like_it(api: httpx2.Client) -> None:
    alice = new_user(api, "alice")
    impostor = new_user(api, alice)  # a username that is another user's id
    assert ok(api.get(f"/users/{alice}"))["username"] == "alice"
    assert ok(api.get(f"/users/{impostor}"))["username"] == alice


def test_deleting_a_user_removes_their_app_webhooks(
    api: httpx2.Client, receiver_url: str, sandbox_store: tuple[str, StoreState]
) -> None:
    _, store = sandbox_store
    push_quickstart(api)
    info = install_quickstart(api, "gregg", receiver_url)
    assert len(store.hooks) == 1
    assert ok(api.delete(f"/users/{info['userId']}")) == {"success": True}
    assert store.hooks == {}
    refused(api.get("/installations", params={"userId": info["userId"]}), 404)


def test_purging_logs_removes_that_users_executions_and_payloads_only(
    server: Server, api: httpx2.Client, receiver_url: str
) -> None:
    push_quickstart(api)
    users = [install_quickstart(api, name, receiver_url)["userId"] for name in ("ann", "bob")]
    flows = ok(api.get("/workflows"))["data"]
    workflow_id = next(w["workflowId"] for w in flows if w["name"] == FULFILLMENT)
    for user_id in users:
        body = {"event": "Fulfillment Updated", "userId": user_id, "data": FULFILLED}
        ok(api.post("/run/event", json=body))
        settled(api, workflow_id, user_id, 1)  # order 123 is not in the store: the run fails
    ann, bob = users
    assert ok(api.get(f"/workflows/{workflow_id}/errors", params={"userId": ann}))["data"]

    assert ok(api.delete(f"/users/{ann}/logs")) == {"message": "Success"}
    assert runs_of(api, workflow_id, ann) == []
    assert ok(api.get(f"/workflows/{workflow_id}/errors", params={"userId": ann}))["data"] == []
    assert len(runs_of(api, workflow_id, bob)) == 1
    with server.services.engine.connect() as conn:
        count = func.count()
        assert conn.execute(select(count).where(events.c.user_id == ann)).scalar_one() == 0
        assert conn.execute(select(count).where(runs.c.user_id == ann)).scalar_one() == 0
        assert conn.execute(select(count).select_from(block_results)).scalar_one() > 0
    assert ok(api.get(f"/users/{ann}"))["username"] == "ann"  # the user stays


def test_credentials_are_listed_without_their_secret(api: httpx2.Client) -> None:
    user_id = new_user(api, "gregg")
    credential = {
        "type": "bigcommerce",
        "data": {"storeHash": STORE_HASH, "accessToken": STORE_TOKEN},
    }
    added = ok(
        api.post("/headless/credentials", json={"userId": user_id, "credential": credential})
    )
    assert added["success"] is True

    resp = api.get(f"/users/{user_id}/credentials")
    assert STORE_TOKEN not in resp.text
    (listed,) = ok(resp)["data"]
    assert set(listed) == {"credentialId", "type", "name", "createdAt", "updatedAt"}
    assert (listed["credentialId"], listed["type"]) == (added["credentialId"], "bigcommerce")

    path = f"/users/{user_id}/credentials/{added['credentialId']}"
    assert ok(api.delete(path)) == {"success": True}
    assert ok(api.get(f"/users/{user_id}/credentials"))["data"] == []
    refused(api.delete(path), 404)


# ---- user tokens (what the frontend SDK sends as x-alloy-user-token) ---------------------


def browser(server: Server, token: str) -> httpx2.Client:
    headers = {"x-alloy-user-token": token}
    return httpx2.Client(base_url=server.url + "/2023-12", headers=headers, timeout=10)


@pytest.mark.parametrize("path", ["/users/{}/token", "/user/{}/token"])
def test_token_is_a_one_hour_jwt_naming_the_user(api: httpx2.Client, path: str) -> None:
    user_id = new_user(api, "gregg")
    resp = ok(api.get(path.format("gregg")))
    assert list(resp) == ["token"]
    claims = jwt.decode(resp["token"], options={"verify_signature": False})
    assert claims["sub"] == user_id
    assert claims["exp"] - claims["iat"] == 3600


def test_token_reads_its_own_user_only(server: Server, api: httpx2.Client) -> None:
    push_quickstart(api)
    alice, bob = new_user(api, "alice"), new_user(api, "bob")
    workflow_id = ok(api.get("/workflows"))["data"][0]["workflowId"]
    token = ok(api.get(f"/user/{alice}/token"))["token"]
    with browser(server, token) as client:
        assert ok(client.get(f"/users/{alice}"))["username"] == "alice"
        (integration,) = ok(client.get("/integrations", params={"userId": alice}))["data"]
        assert integration["app"] == "BigCommerce"
        assert ok(client.get(f"/users/{alice}/credentials"))["data"] == []

        foreign = [
            (f"/users/{bob}", {}),
            ("/users/bob", {}),
            ("/integrations", {"userId": bob}),
            (f"/users/{bob}/credentials", {}),
            ("/installations", {"userId": bob}),
            (f"/workflows/{workflow_id}/logs", {"userId": bob}),
            (f"/workflows/{workflow_id}/errors", {"userId": bob}),
        ]
        for path, params in foreign:
            assert client.get(path, params=params).status_code == 404, (path, params)

        server_only = [
            ("POST", "/users", {"username": "mallory"}),
            ("GET", "/users", None),
            ("GET", f"/users/{alice}/token", None),
            ("PUT", f"/users/{alice}", {"username": "mallory"}),
            ("DELETE", f"/users/{alice}", None),
            ("DELETE", f"/users/{alice}/logs", None),
            ("POST", "/run/event", {"event": "Fulfillment Updated", "userId": alice}),
        ]
        for method, path, body in server_only:
            resp = client.request(method, path, json=body)
            assert "API key" in refused(resp, 403), (method, path)
    assert usernames(api) == ["alice", "bob"]


def test_a_forged_or_expired_token_is_401(server: Server, api: httpx2.Client) -> None:
    user_id = new_user(api, "gregg")
    now = int(time.time())
    claims = {"sub": user_id, "env": "development", "iss": "solder", "aud": "solder-user"}
    expired = jwt.encode(
        {**claims, "iat": now - 7200, "exp": now - 3600},
        server.services.token_secret,
        algorithm="HS256",
    )
    forged = jwt.encode({**claims, "iat": now, "exp": now + 3600}, b"x" * 32, algorithm="HS256")
    for token, word in ((expired, "expired"), (forged, "invalid")):
        with browser(server, token) as client:
            assert word in refused(client.get(f"/users/{user_id}"), 401)
