"""Refused installs, credentials, pushes and runs: the answer names the problem and nothing
is stored."""

from __future__ import annotations

from typing import Any

import httpx2

from tests.conftest import STORE_HASH, STORE_TOKEN
from tests.flows import FULFILLMENT, NEW_ORDER, install_quickstart, ok, push_quickstart

CREDENTIAL = {"type": "bigcommerce", "data": {"storeHash": STORE_HASH, "accessToken": STORE_TOKEN}}


def message_of(resp: httpx2.Response, status: int) -> str:
    assert resp.status_code == status, resp.text
    message = resp.json()["message"]
    assert isinstance(message, str)
    return message


def installed(api: httpx2.Client, user_id: str) -> dict[str, bool]:
    integration = ok(api.get("/integrations", params={"userId": user_id}))["data"][0]
    return {w["name"]: w["installed"] for w in integration["workflows"]}


def test_completing_without_a_required_field_installs_nothing(
    api: httpx2.Client, receiver_url: str
) -> None:
    push_quickstart(api)
    user_id = ok(api.post("/users", json={"username": "gregg"}))["userId"]
    integration_id = ok(api.get("/integrations"))["data"][0]["integrationId"]
    credential = {"userId": user_id, "credential": CREDENTIAL}
    credential_id = ok(api.post("/headless/credentials", json=credential))["credentialId"]
    start = {"userId": user_id, "integrationId": integration_id, "credentialIds": [credential_id]}
    started = ok(api.post("/headless/startInstallation", json=start))
    (block,) = started["data"]
    assert [f["name"] for f in block["fields"] if f["required"]] == ["url"]

    answers = [{"workflowId": block["workflowId"], "blockId": block["blockId"], "fields": []}]
    complete = {"installationId": started["installationId"], "data": answers}
    assert "url" in message_of(api.post("/headless/completeInstallation", json=complete), 422)
    assert installed(api, user_id) == {NEW_ORDER: False, FULFILLMENT: False}
    assert ok(api.get("/installations", params={"userId": user_id}))["data"][0]["enabled"] is False

    answers[0]["fields"] = [{"name": "url", "value": f"{receiver_url}/orders"}]
    ok(api.post("/headless/completeInstallation", json=complete))  # the installation is intact
    assert installed(api, user_id) == {NEW_ORDER: True, FULFILLMENT: True}


def test_credentials_are_checked_against_the_app(api: httpx2.Client) -> None:
    user_id = ok(api.post("/users", json={"username": "gregg"}))["userId"]
    unknown = {"userId": user_id, "credential": {**CREDENTIAL, "type": "shopifake"}}
    message = message_of(api.post("/headless/credentials", json=unknown), 422)
    assert "credential.type" in message
    assert "shopifake" in message
    partial = {"userId": user_id, "credential": {"type": "bigcommerce", "data": {"storeHash": "a"}}}
    message = message_of(api.post("/headless/credentials", json=partial), 422)
    assert "accessToken" in message
    assert ok(api.get(f"/users/{user_id}/credentials"))["data"] == []


def integration_file(*blocks: dict[str, Any], trigger: dict[str, Any] | None = None) -> Any:
    workflow = {
        "key": "wf",
        "name": "A workflow",
        "trigger": trigger or {"key": "hook", "type": "webhook"},
        "blocks": list(blocks),
    }
    return {"integration": {"key": "broken", "app": "bigcommerce"}, "workflows": [workflow]}


def test_a_push_reports_every_problem_at_once(api: httpx2.Client) -> None:
    body = integration_file(
        {"key": "a", "type": "appAction", "app": "shopifake", "action": "tag_customer"},
        {"key": "b", "type": "appAction", "app": "bigcommerce", "action": "explode"},
        {
            "key": "c",
            "type": "streamData",
            "inputs": {"url": "http://x", "body": "{{ trigger.( }}"},
        },
    )
    message = message_of(api.put("/manage/integrations", json=body), 422)
    assert "shopifake" in message
    assert "explode" in message
    assert "blocks[2].inputs.body" in message
    assert ok(api.get("/integrations"))["data"] == []
    assert ok(api.get("/workflows"))["data"] == []


def test_a_push_naming_an_unknown_custom_event_is_404(api: httpx2.Client) -> None:
    trigger = {"key": "t", "type": "customEvent", "event": "Order Teleported"}
    body = integration_file(
        {"key": "s", "type": "streamData", "inputs": {"url": "http://x"}}, trigger=trigger
    )
    assert "Order Teleported" in message_of(api.put("/manage/integrations", json=body), 404)
    assert ok(api.get("/workflows"))["data"] == []


def test_run_workflow_refuses_a_custom_event_workflow(
    api: httpx2.Client, receiver_url: str
) -> None:
    push_quickstart(api)
    user_id = install_quickstart(api, "gregg", receiver_url)["userId"]
    flows = {w["name"]: w["workflowId"] for w in ok(api.get("/workflows"))["data"]}
    data = {"orderId": "1", "status": "FULFILLED"}
    body = {"userId": user_id, "workflowId": flows[FULFILLMENT], "data": data}
    assert "webhook" in message_of(api.post("/run/workflow", json=body), 422)
    logs = ok(api.get(f"/workflows/{flows[FULFILLMENT]}/logs", params={"userId": user_id}))
    assert logs["data"] == []
