"""Completing an installation installs every workflow or none, and says why it refused."""

from __future__ import annotations

from typing import Any

import httpx2

from solder.sandbox.bigcommerce import StoreState
from tests.conftest import STORE_HASH, STORE_TOKEN, Server
from tests.flows import NEW_ORDER, install_quickstart, ok, push_quickstart, workflow_ids


def _start(api: httpx2.Client, user_id: str, token: str) -> dict[str, Any]:
    integration = ok(api.get("/integrations"))["data"][0]["integrationId"]
    credential = {"type": "bigcommerce", "data": {"storeHash": STORE_HASH, "accessToken": token}}
    cred = ok(api.post("/headless/credentials", json={"userId": user_id, "credential": credential}))
    body = {
        "userId": user_id,
        "integrationId": integration,
        "credentialIds": [cred["credentialId"]],
    }
    started: dict[str, Any] = ok(api.post("/headless/startInstallation", json=body))
    return started


def _complete(api: httpx2.Client, started: dict[str, Any], url: str) -> httpx2.Response:
    answers = [
        {
            "workflowId": b["workflowId"],
            "blockId": b["blockId"],
            "fields": [{"name": "url", "value": url}],
        }
        for b in started["data"]
    ]
    return api.post(
        "/headless/completeInstallation",
        json={"installationId": started["installationId"], "data": answers},
    )


def test_a_refused_credential_installs_nothing_and_can_be_retried(
    api: httpx2.Client, receiver_url: str, sandbox_store: tuple[str, StoreState]
) -> None:
    _, store = sandbox_store
    push_quickstart(api)
    user_id = ok(api.post("/users", json={"username": "gregg"}))["userId"]
    started = _start(api, user_id, STORE_TOKEN)
    store.access_token = "rotated-by-the-merchant"

    resp = _complete(api, started, f"{receiver_url}/in")
    assert resp.status_code == 502
    assert "bigcommerce" in resp.json()["message"]
    assert "401" in resp.json()["message"]
    assert store.hooks == {}
    listed = ok(api.get("/integrations", params={"userId": user_id}))["data"][0]
    assert [w["installed"] for w in listed["workflows"]] == [False, False]
    installation = ok(api.get(f"/installations/{started['installationId']}"))["data"]
    assert installation["status"] == "started"
    # refused again for the same reason, not "already complete"
    assert _complete(api, started, f"{receiver_url}/in").status_code == 502

    store.access_token = STORE_TOKEN  # the merchant reconnects
    retry = _start(api, user_id, STORE_TOKEN)
    assert ok(_complete(api, retry, f"{receiver_url}/in"))["message"] == "Installation completed"
    assert len(store.hooks) == 1


def test_a_refused_reinstall_keeps_the_users_working_copy(
    api: httpx2.Client, receiver_url: str, sandbox_store: tuple[str, StoreState]
) -> None:
    _, store = sandbox_store
    push_quickstart(api)
    info = install_quickstart(api, "gregg", receiver_url)
    hooks_before = [h["destination"] for h in store.hooks.values()]

    started = _start(api, info["userId"], STORE_TOKEN)
    store.access_token = "rotated-by-the-merchant"
    assert _complete(api, started, "http://127.0.0.1:9/elsewhere").status_code == 502
    store.access_token = STORE_TOKEN

    flows = workflow_ids(api)
    wf = ok(api.get(f"/workflows/{flows[NEW_ORDER]}", params={"userId": info["userId"]}))["data"]
    assert (wf["installed"], wf["active"]) == (True, True)
    assert [h["destination"] for h in store.hooks.values()] == hooks_before
    installed = ok(api.get("/installations", params={"userId": info["userId"]}))["data"]
    assert {i["installationId"] for i in installed if i["enabled"]} == {info["installationId"]}


def test_icons_are_absolute_and_served(api: httpx2.Client) -> None:
    push_quickstart(api)
    integration = ok(api.get("/integrations"))["data"][0]
    icons = {integration["icon"]} | {
        b["icon"] for w in integration["workflows"] for b in w["blocks"]
    }
    assert len(icons) == 3  # BigCommerce, the custom event, Stream Data
    for icon in icons:
        assert icon.startswith("http://127.0.0.1:")
        got = httpx2.get(icon)
        assert got.status_code == 200
        assert got.headers["content-type"].startswith("image/svg+xml")
        assert b"<svg" in got.content


def test_a_credential_the_app_refuses_is_not_stored(
    api: httpx2.Client, sandbox_store: tuple[str, StoreState]
) -> None:
    user_id = ok(api.post("/users", json={"username": "gregg"}))["userId"]
    for data, reason in [
        ({"storeHash": STORE_HASH, "accessToken": "not-the-token"}, "HTTP 401"),
        ({"storeHash": "no-such-store", "accessToken": STORE_TOKEN}, "HTTP 404"),
    ]:
        body = {"userId": user_id, "credential": {"type": "bigcommerce", "data": data}}
        resp = api.post("/headless/credentials", json=body)
        assert resp.status_code == 422, resp.text
        message = resp.json()["message"]
        assert message.startswith("credential: bigcommerce refused it: ")
        assert reason in message
        assert "not-the-token" not in message
    assert ok(api.get(f"/users/{user_id}/credentials"))["data"] == []


def test_a_credential_is_stored_when_the_app_cannot_be_reached_to_check_it(
    api: httpx2.Client, sandbox_store: tuple[str, StoreState], server: Server
) -> None:
    user_id = ok(api.post("/users", json={"username": "gregg"}))["userId"]
    server.services.settings.app_base_urls["bigcommerce"] = "http://127.0.0.1:9"  # nothing there
    data = {"storeHash": STORE_HASH, "accessToken": STORE_TOKEN}
    body = {"userId": user_id, "credential": {"type": "bigcommerce", "data": data}}
    cid = ok(api.post("/headless/credentials", json=body))["credentialId"]
    assert [c["credentialId"] for c in ok(api.get(f"/users/{user_id}/credentials"))["data"]] == [
        cid
    ]
