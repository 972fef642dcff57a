"""What the ISV built as users see it: integrations, versions, upgrades, events, installations."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest
import yaml

from solder.push import push
from tests.conftest import STORE_HASH, STORE_TOKEN
from tests.flows import (
    EXAMPLES,
    FULFILLMENT,
    NEW_ORDER,
    install_quickstart,
    ok,
    push_quickstart,
    runs_of,
    settled,
    wait_until,
    workflow_ids,
)

BLOCK_KEYS = {"name", "id", "type", "icon"}
UPDATE = {"event": "Fulfillment Updated", "data": {"orderId": "123", "status": "FULFILLED"}}


def push_folder(api: httpx2.Client, folder: Path) -> None:
    base = str(api.base_url).rsplit("/2023-12", 1)[0]
    with httpx2.Client(base_url=base, headers=api.headers) as mgmt:
        push(mgmt, folder, release=True)


def release_edited(api: httpx2.Client, tmp_path: Path, change: Callable[[Any], None]) -> None:
    """Push and release the quick start with ``change`` applied to its Stream Data block."""
    folder = tmp_path / f"quickstart-{uuid.uuid4().hex[:6]}"
    shutil.copytree(EXAMPLES, folder)
    file = folder / "bigcommerce.yaml"
    doc = yaml.safe_load(file.read_text())
    workflow = next(w for w in doc["workflows"] if w["name"] == NEW_ORDER)
    change(workflow["blocks"][0])
    file.write_text(yaml.safe_dump(doc, sort_keys=False))
    push_folder(api, folder)


def workflow_of(api: httpx2.Client, name: str, user: str | None = None) -> Any:
    params = {"userId": user} if user else {}
    integration = ok(api.get("/integrations", params=params))["data"][0]
    return next(w for w in integration["workflows"] if w["name"] == name)


def place_order(store_url: str) -> int:
    order = {
        "customer_id": 0,
        "billing_address": {"first_name": "Ada", "email": "ada@example.com"},
        "products": [{"name": "Wire", "quantity": 1, "price_inc_tax": 5, "price_ex_tax": 5}],
    }
    headers = {"X-Auth-Token": STORE_TOKEN}
    resp = httpx2.post(f"{store_url}/stores/{STORE_HASH}/v2/orders", json=order, headers=headers)
    return int(ok(resp)["id"])


def received(receiver_url: str, count: int) -> list[Any]:
    def check() -> list[Any] | None:
        got: list[Any] = ok(httpx2.get(f"{receiver_url}/_received"))["data"]
        return got if len(got) >= count else None

    result: list[Any] = wait_until(f"{count} deliveries", check)
    return result


def test_integrations_have_the_shape_of_the_guide(api: httpx2.Client, receiver_url: str) -> None:
    push_quickstart(api)
    user_id = ok(api.post("/users", json={"username": "ann"}))["userId"]
    installed_id = install_quickstart(api, "gregg", receiver_url)["userId"]
    for user, installed in ((None, False), (user_id, False), (installed_id, True)):
        params = {"userId": user} if user else {}
        (integration,) = ok(api.get("/integrations", params=params))["data"]
        assert {"integrationId", "app", "installed", "icon", "workflows"} <= set(integration)
        assert (integration["app"], integration["installed"]) == ("BigCommerce", installed)
        assert isinstance(integration["icon"], str)
        assert integration["icon"]
        assert [w["name"] for w in integration["workflows"]] == [NEW_ORDER, FULFILLMENT]
        for wf in integration["workflows"]:
            assert {"workflowId", "name", "installed", "version", "active", "blocks"} <= set(wf)
            assert (wf["installed"], wf["active"], wf["version"]) == (installed, installed, 1)
            assert wf.get("installedVersion") == (1 if installed else None)
            assert all(set(block) == BLOCK_KEYS for block in wf["blocks"])
            assert all(uuid.UUID(block["id"]) for block in wf["blocks"])
        blocks = {
            w["name"]: [(b["name"], b["type"]) for b in w["blocks"]]
            for w in integration["workflows"]
        }
        assert blocks == {
            NEW_ORDER: [("BigCommerce Trigger", "bigcommerce"), ("Stream Data", "streamData")],
            FULFILLMENT: [
                ("Custom Event", "customEvent"),
                ("Update an order status", "bigcommerce"),
            ],
        }
    by_app = ok(api.get("/integrations/BigCommerce", params={"userId": installed_id}))["data"]
    assert by_app == integration


def test_block_ids_are_stable_and_an_unchanged_release_is_no_new_version(
    api: httpx2.Client,
) -> None:
    push_quickstart(api)
    first = ok(api.get("/integrations"))["data"]
    push_quickstart(api)
    assert ok(api.get("/integrations"))["data"] == first
    for workflow_id in workflow_ids(api).values():
        versions = ok(api.get(f"/workflows/{workflow_id}/versions"))["data"]
        assert [(v["versionName"], v["status"]) for v in versions] == [("v1", "released")]


def test_a_new_version_waits_for_the_upgrade(
    api: httpx2.Client,
    receiver_url: str,
    sandbox_store: tuple[str, Any],
    tmp_path: Path,
) -> None:
    push_quickstart(api)
    install_quickstart(api, "gregg", receiver_url)
    workflow_id = workflow_ids(api)[NEW_ORDER]
    release_edited(api, tmp_path, lambda block: block["inputs"]["body"].update(channel="web"))

    versions = ok(api.get(f"/workflows/{workflow_id}/versions"))["data"]
    assert [v["versionName"] for v in versions] == ["v2", "v1"]
    assert all(v["status"] == "released" and v["versionId"] for v in versions)
    mine = workflow_of(api, NEW_ORDER, "gregg")
    assert (mine["version"], mine["installedVersion"], mine["active"]) == (2, 1, True)
    assert workflow_of(api, FULFILLMENT, "gregg")["version"] == 1

    ok(api.put(f"/workflows/{workflow_id}/upgrade", params={"userId": "gregg"}))
    mine = workflow_of(api, NEW_ORDER, "gregg")
    assert (mine["version"], mine["installedVersion"], mine["active"]) == (2, 2, True)
    (installer,) = ok(api.get(f"/workflows/{workflow_id}/users"))["data"]
    assert installer["installedVersion"] == 2

    place_order(sandbox_store[0])
    (record,) = received(receiver_url, 1)
    assert record["json"]["channel"] == "web"  # the new version runs


def test_an_upgrade_needing_a_new_answer_is_refused(
    api: httpx2.Client, receiver_url: str, tmp_path: Path
) -> None:
    push_quickstart(api)
    install_quickstart(api, "gregg", receiver_url)
    workflow_id = workflow_ids(api)[NEW_ORDER]
    field = {"name": "apiKey", "displayName": "Your API key", "type": "string", "required": True}
    release_edited(api, tmp_path, lambda block: block["fields"].append(field))

    resp = api.put(f"/workflows/{workflow_id}/upgrade", params={"userId": "gregg"})
    assert resp.status_code == 409, resp.text
    assert "apiKey" in resp.json()["message"]
    assert workflow_of(api, NEW_ORDER, "gregg")["installedVersion"] == 1


def test_an_upgrade_refuses_an_answer_the_new_field_no_longer_accepts(
    api: httpx2.Client, receiver_url: str, tmp_path: Path
) -> None:
    push_quickstart(api)
    install_quickstart(api, "gregg", receiver_url)
    workflow_id = workflow_ids(api)[NEW_ORDER]

    def only_one_url(block: Any) -> None:
        block["fields"][0] |= {"type": "select", "options": ["https://orders.example"]}

    release_edited(api, tmp_path, only_one_url)
    resp = api.put(f"/workflows/{workflow_id}/upgrade", params={"userId": "gregg"})
    assert resp.status_code == 409, resp.text
    assert "'url'" in resp.json()["message"]
    assert workflow_of(api, NEW_ORDER, "gregg")["installedVersion"] == 1


def test_an_upgrade_carries_answers_over_and_fills_defaults(
    api: httpx2.Client,
    receiver_url: str,
    sandbox_store: tuple[str, Any],
    tmp_path: Path,
) -> None:
    push_quickstart(api)
    install_quickstart(api, "gregg", receiver_url)
    workflow_id = workflow_ids(api)[NEW_ORDER]

    def add_channel(block: Any) -> None:
        block["fields"].append({"name": "channel", "type": "string", "default": "web"})
        block["inputs"]["body"]["channel"] = "{{ config.channel }}"

    release_edited(api, tmp_path, add_channel)
    ok(api.put(f"/workflows/{workflow_id}/upgrade", params={"userId": "gregg"}))
    assert workflow_of(api, NEW_ORDER, "gregg")["installedVersion"] == 2

    place_order(sandbox_store[0])
    (record,) = received(receiver_url, 1)
    assert record["path"] == "/acmeco/orders"  # the user's url answer was kept
    assert record["json"]["channel"] == "web"  # the new field got its default


def test_workflow_users_lists_who_installed_it(api: httpx2.Client, receiver_url: str) -> None:
    push_quickstart(api)
    ok(api.post("/users", json={"username": "ann", "fullName": "Ann"}))
    gregg = install_quickstart(api, "gregg", receiver_url)["userId"]
    workflow_id = workflow_ids(api)[NEW_ORDER]
    ok(api.put("/workflows/deactivate", json={"userId": gregg, "workflowId": workflow_id}))

    (row,) = ok(api.get(f"/workflows/{workflow_id}/users"))["data"]
    assert {k: row[k] for k in ("userId", "username", "workflowActive", "installedVersion")} == {
        "userId": gregg,
        "username": "gregg",
        "workflowActive": False,
        "installedVersion": 1,
    }
    assert row["installedAt"].endswith("Z")
    parent = ok(api.get("/users", params={"parentWorkflowId": workflow_id}))["data"]
    assert [u["username"] for u in parent] == ["gregg"]


def test_events_list_the_custom_events_with_their_body(api: httpx2.Client) -> None:
    assert ok(api.get("/events")) == {"data": []}
    push_quickstart(api)
    (event,) = ok(api.get("/events"))["data"]
    assert event["name"] == "Fulfillment Updated"
    assert event["body"] == {"orderId": "String", "status": "String"}
    assert isinstance(event["description"], str)


def test_installations_show_what_the_user_installed(api: httpx2.Client, receiver_url: str) -> None:
    push_quickstart(api)
    ok(api.post("/users", json={"username": "ann"}))
    info = install_quickstart(api, "gregg", receiver_url)
    (listed,) = ok(api.get("/installations"))["data"]
    assert ok(api.get("/installations", params={"userId": "ann"}))["data"] == []
    assert ok(api.get("/installations", params={"userId": "gregg"}))["data"] == [listed]
    assert ok(api.get(f"/installations/{info['installationId']}")) == {"data": listed}
    keys = {"installationId", "integrationId", "userId", "formData", "credentialIds"}
    assert keys | {"workflowIds", "installedAt", "enabled"} <= set(listed)
    assert listed["installationId"] == info["installationId"]
    assert (listed["integrationId"], listed["userId"]) == (info["integrationId"], info["userId"])
    assert listed["credentialIds"] == [info["credentialId"]]
    assert sorted(listed["workflowIds"]) == sorted(workflow_ids(api).values())
    assert listed["enabled"] is True
    assert f"{receiver_url}/acmeco/orders" in str(listed["formData"])
    resp = api.get("/installations/nope")
    assert resp.status_code == 404
    assert "nope" in resp.json()["message"]


@pytest.mark.parametrize("header", ["Idempotency-Key", "idempotency-key"])
def test_an_idempotency_key_runs_a_retried_event_once(
    api: httpx2.Client, receiver_url: str, header: str
) -> None:
    push_quickstart(api)
    user_id = install_quickstart(api, "gregg", receiver_url)["userId"]
    workflow_id = workflow_ids(api)[FULFILLMENT]
    body = {**UPDATE, "userId": user_id}
    for _ in range(2):
        resp = ok(api.post("/run/event", json=body, headers={header: "evt-1"}))
        assert resp == {"message": "Event successfully triggered"}
    assert len(runs_of(api, workflow_id, user_id)) == 1
    ok(api.post("/run/event", json=body, headers={header: "evt-2"}))
    ok(api.post("/run/event", json=body))
    assert len(runs_of(api, workflow_id, user_id)) == 3

    other = {**body, "data": {"orderId": "124", "status": "FULFILLED"}}
    resp = api.post("/run/event", json=other, headers={header: "evt-1"})
    assert resp.status_code == 409, resp.text
    assert "Idempotency-Key" in resp.json()["message"]
    assert len(settled(api, workflow_id, user_id, 3)) == 3
