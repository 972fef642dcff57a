"""/metadata: the apps this server has and the credential fields they ask for, never a value."""

from __future__ import annotations

import httpx2
import pytest

from solder.sandbox.bigcommerce import StoreState
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
    assert (
        [a["app"] for a in data]
        == list(server.services.apps)
        == ["bigcommerce", "slack", "stripe", "hubspot", "shopify"]
    )
    (bigcommerce,) = [a for a in data if a["app"] == "bigcommerce"]
    assert bigcommerce == {
        "app": "bigcommerce",
        "name": "BigCommerce",
        "icon": f"{server.url}/static/icons/bigcommerce.svg",
        "triggers": [
            {"key": "order_created", "name": "Order Created", "delivery": "webhook"},
            {"key": "order_updated", "name": "Order Updated", "delivery": "webhook"},
            {
                "key": "order_placed_polling",
                "name": "Order placed (polling)",
                "delivery": "polling",
            },
        ],
        "actions": [
            {
                "key": "update_order_status",
                "name": "Update an order status",
                "description": "",
                "idempotent": True,
                "inputSchema": bigcommerce["actions"][0]["inputSchema"],
                "outputSchema": bigcommerce["actions"][0]["outputSchema"],
                "sample": {
                    "id": 100,
                    "status_id": 2,
                    "status": "Shipped",
                    "total_inc_tax": "25.0000",
                },
            },
            *bigcommerce["actions"][1:],
        ],
        "version": "1.2.0",
        "description": "Orders, customers and products of a BigCommerce store; new and changed "
        "orders as triggers.",
        "auth": "api_key",
        "options": ["order_statuses"],
        "categories": ["ecommerce"],
    }
    assert [a["key"] for a in bigcommerce["actions"]] == [
        "update_order_status", "get_order", "list_orders", "create_customer",
        "update_customer", "find_customer_by_email", "list_products",
    ]  # fmt: skip
    assert all(a["idempotent"] is True for a in bigcommerce["actions"])
    action = bigcommerce["actions"][0]
    assert action["inputSchema"]["required"] == ["orderId", "status"]
    assert action["inputSchema"]["properties"]["status"]["options"] == "order_statuses"
    assert set(action["outputSchema"]["required"]) == {"id", "status_id", "status"}


def test_credentials_describe_fields_and_never_carry_a_value(
    server: Server, api: httpx2.Client
) -> None:
    expected = {**BIGCOMMERCE_CREDENTIAL, "icon": f"{server.url}/static/icons/bigcommerce.svg"}
    user_id = ok(api.post("/users", json={"username": "gregg"}))["userId"]
    saved = {"type": "bigcommerce", "data": {"storeHash": STORE_HASH, "accessToken": STORE_TOKEN}}
    ok(api.post("/headless/credentials", json={"userId": user_id, "credential": saved}))

    every = api.get("/metadata/credentials")
    data = ok(every)["data"]
    assert [c["connector"] for c in data] == list(server.services.apps)
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
    assert set(resp.json()) - {"field"} == {"message"}
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


def _bigcommerce_credential(
    api: httpx2.Client, username: str, token: str = STORE_TOKEN
) -> tuple[str, str]:
    user_id = ok(api.post("/users", json={"username": username}))["userId"]
    saved = {"type": "bigcommerce", "data": {"storeHash": STORE_HASH, "accessToken": token}}
    body = {"userId": user_id, "credential": saved}
    return user_id, ok(api.post("/headless/credentials", json=body))["credentialId"]


def test_a_dropdown_is_filled_from_the_app_with_the_users_own_credential(
    server: Server, api: httpx2.Client
) -> None:
    user_id, cid = _bigcommerce_credential(api, "gregg")
    path = "/metadata/apps/bigcommerce/options/order_statuses"
    data = ok(api.get(path, params={"credentialId": cid, "userId": user_id}))["data"]
    assert {"value": "2", "label": "Shipped"} in data
    assert len(data) == 15  # the sandbox store's standard statuses
    token = ok(api.get(f"/users/{user_id}/token"))["token"]
    headers = {"x-alloy-user-token": token}
    with httpx2.Client(base_url=server.url + "/2023-12", headers=headers, timeout=10) as browser:
        assert ok(browser.get(path, params={"credentialId": cid}))["data"] == data
        _, other_cid = _bigcommerce_credential(api, "someone-else")
        foreign = browser.get(path, params={"credentialId": other_cid})
        assert foreign.status_code == 404, foreign.text
        assert "credentialId" in foreign.json()["message"]


@pytest.mark.parametrize(
    ("path", "params", "status", "named"),
    [
        ("/metadata/apps/nope/options/x", {"credentialId": "c"}, 404, "app"),
        ("/metadata/apps/bigcommerce/options/colours", {"credentialId": "c"}, 404, "name"),
        ("/metadata/apps/bigcommerce/options/order_statuses", {}, 422, "credentialId"),
        ("/metadata/apps/bigcommerce/options/order_statuses", {"credentialId": "c"}, 422, "userId"),
    ],
)
def test_dropdown_errors_name_the_field(
    api: httpx2.Client, path: str, params: dict[str, str], status: int, named: str
) -> None:
    resp = api.get(path, params=params)
    assert resp.status_code == status, resp.text
    assert named in resp.json()["message"]


def test_a_refused_credential_fails_the_dropdown_with_the_apps_reason_not_the_secret(
    api: httpx2.Client, sandbox_store: tuple[str, StoreState]
) -> None:
    _, store = sandbox_store
    canary = "canary-token-0f3e"
    store.access_token = canary
    user_id, cid = _bigcommerce_credential(api, "gregg", token=canary)
    store.access_token = "rotated"  # the merchant revoked the token Solder holds
    resp = api.get(
        "/metadata/apps/bigcommerce/options/order_statuses",
        params={"credentialId": cid, "userId": user_id},
    )
    assert resp.status_code == 502, resp.text
    assert "HTTP 401" in resp.json()["message"]
    assert canary not in resp.text
