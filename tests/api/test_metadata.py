"""/metadata: the apps this server has and the credential fields they ask for, never a value."""

from __future__ import annotations

import httpx2
import pytest

from solder.apps.registry import APPS
from tests.conftest import STORE_HASH, STORE_TOKEN, Server
from tests.flows import ok

BIGCOMMERCE_CREDENTIAL = {
    "connector": "bigcommerce",
    "isOauth": False,
    "properties": [
        {
            "name": "storeHash",
            "displayName": "Store hash",
            "description": "the part after /stores/ in your API path",
            "secret": False,
        },
        {
            "name": "accessToken",
            "displayName": "Access token",
            "description": "an API account's token",
            "secret": True,
        },
    ],
}


def test_apps_lists_every_app_with_its_triggers_and_actions(
    server: Server, api: httpx2.Client
) -> None:
    data = ok(api.get("/metadata/apps"))["data"]
    assert [a["app"] for a in data] == list(APPS)
    (bigcommerce,) = [a for a in data if a["app"] == "bigcommerce"]
    assert bigcommerce == {
        "app": "bigcommerce",
        "name": "BigCommerce",
        "icon": f"{server.url}/static/icons/bigcommerce.svg",
        "triggers": [
            {"key": "order_created", "name": "Order Created", "delivery": "webhook"},
            {
                "key": "order_placed_polling",
                "name": "Order placed (polling)",
                "delivery": "polling",
            },
        ],
        "actions": [{"key": "update_order_status", "name": "Update an order status"}],
    }


def test_credentials_describe_fields_and_never_carry_a_value(
    server: Server, api: httpx2.Client
) -> None:
    expected = {**BIGCOMMERCE_CREDENTIAL, "icon": f"{server.url}/static/icons/bigcommerce.svg"}
    user_id = ok(api.post("/users", json={"username": "gregg"}))["userId"]
    saved = {"type": "bigcommerce", "data": {"storeHash": STORE_HASH, "accessToken": STORE_TOKEN}}
    ok(api.post("/headless/credentials", json={"userId": user_id, "credential": saved}))

    every = api.get("/metadata/credentials")
    data = ok(every)["data"]
    assert [c["connector"] for c in data] == list(APPS)
    assert expected in data
    for connector in data:
        for prop in connector["properties"]:
            assert set(prop) == {"name", "displayName", "description", "secret"}
    one = api.get("/metadata/credentials/bigcommerce")
    assert ok(one) == {"data": [expected]}
    for resp in (every, one):
        assert STORE_TOKEN not in resp.text
        assert STORE_HASH not in resp.text


def test_the_app_name_is_case_insensitive_and_an_unknown_app_is_404(api: httpx2.Client) -> None:
    assert ok(api.get("/metadata/credentials/BigCommerce"))["data"][0]["connector"] == (
        "bigcommerce"
    )
    resp = api.get("/metadata/credentials/shopifake")
    assert resp.status_code == 404, resp.text
    assert list(resp.json()) == ["message"]
    assert "app" in resp.json()["message"]
    assert "shopifake" in resp.json()["message"]


@pytest.mark.parametrize("path", ["/metadata/apps", "/metadata/credentials"])
def test_any_valid_key_or_user_token_may_read_metadata(
    server: Server, api: httpx2.Client, path: str
) -> None:
    with server.client(server.prod_key) as prod:
        assert ok(prod.get(path)) == ok(api.get(path))
    user_id = ok(api.post("/users", json={"username": "gregg"}))["userId"]
    token = ok(api.get(f"/users/{user_id}/token"))["token"]
    headers = {"x-alloy-user-token": token}
    with httpx2.Client(base_url=server.url + "/2023-12", headers=headers, timeout=10) as browser:
        assert ok(browser.get(path)) == ok(api.get(path))
    with httpx2.Client(base_url=server.url + "/2023-12", timeout=10) as anonymous:
        assert anonymous.get(path).status_code == 401
    with server.client("not-a-key") as wrong:
        assert wrong.get(path).status_code == 401
