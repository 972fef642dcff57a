"""Building a workflow: a new integration, checks placed on blocks and fields, saved drafts."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx2

from tests.api.builder import manager, quickstart, refused
from tests.conftest import Server
from tests.flows import ok

GOOD: dict[str, Any] = {
    "key": "orders",
    "name": "Orders to the warehouse",
    "trigger": {
        "key": "placed",
        "type": "appEvent",
        "app": "bigcommerce",
        "event": "order_created",
    },
    "blocks": [
        {
            "key": "send",
            "type": "streamData",
            "inputs": {"body": {"id": "{{ trigger.id }}"}},
            "fields": [{"name": "url", "type": "url"}],
        },
    ],
}


def new_integration(mgmt: httpx2.Client, key: str = "shop") -> str:
    answer = ok(mgmt.post("/manage/integrations/new", json={"key": key, "app": "bigcommerce"}))
    integration_id: str = answer["integrationId"]
    return integration_id


def check(mgmt: httpx2.Client, integration: str, workflow: Any) -> dict[str, Any]:
    body = {"integrationId": integration, "workflow": workflow}
    resp = mgmt.post("/manage/workflows/check", json=body)
    assert resp.status_code == 200, resp.text
    answer: dict[str, Any] = resp.json()
    return answer


def test_a_new_integration_is_made_once_and_starts_empty(server: Server) -> None:
    with manager(server) as mgmt:
        first = new_integration(mgmt)
        assert new_integration(mgmt) == first
        exported = mgmt.get(f"/manage/integrations/{first}/export").text
        assert (
            exported == "integration:\n  key: shop\n  app: bigcommerce\n  name: bigcommerce\n"
            "workflows: []\n"
        )
        named = {"key": "other", "app": "bigcommerce", "name": "My shop"}
        other = ok(mgmt.post("/manage/integrations/new", json=named))["integrationId"]
        assert other != first
        refused(mgmt.post("/manage/integrations/new", json={"key": "Bad Key", "app": "x"}), "key")
        refused(mgmt.post("/manage/integrations/new", json={"key": "k", "app": "nope"}), "app")
        refused(mgmt.post("/manage/integrations/new", json={"app": "bigcommerce"}), "key")
        clash = mgmt.post("/manage/integrations/new", json={"key": "shop", "app": "slack"})
        assert clash.status_code == 409
        assert clash.json()["field"] == "app"


def test_a_good_workflow_checks_clean(server: Server) -> None:
    with manager(server) as mgmt:
        integration = new_integration(mgmt)
        assert check(mgmt, integration, GOOD) == {"ok": True, "problems": []}


def test_every_problem_is_placed_on_its_block_and_field(server: Server) -> None:
    with manager(server) as mgmt:
        integration = new_integration(mgmt)
        bad = {
            **GOOD,
            "trigger": {
                "key": "placed",
                "type": "appEvent",
                "app": "bigcommerce",
                "event": "order_teleported",
            },
            "blocks": [
                {"key": "send", "type": "streamData", "inputs": {"body": "{{ trigger.( }}"}},
                {"key": "call", "type": "http", "inputs": {"method": "GET"}},
                {
                    "key": "gate",
                    "type": "if",
                    "inputs": {"condition": True},
                    "then": [{"key": "act", "type": "appAction", "app": "bigcommerce"}],
                },
            ],
        }
        answer = check(mgmt, integration, bad)
        assert answer["ok"] is False
        # the shape is checked first: the missing action is the one problem pydantic sees
        assert answer["problems"] == [
            {
                "path": "workflows[0].blocks[2].then[0].action",
                "blockKey": "act",
                "field": "action",
                "message": "required",
            }
        ]
        bad["blocks"][2]["then"][0]["action"] = "fly"
        problems = check(mgmt, integration, bad)["problems"]
        placed = {(p["path"], p["blockKey"], p["field"]) for p in problems}
        assert placed == {
            ("workflows[0].trigger.event", None, "event"),
            ("workflows[0].blocks[0].inputs.body", "send", "body"),
            ("workflows[0].blocks[0].inputs.url", "send", "url"),
            ("workflows[0].blocks[1].inputs.url", "call", "url"),
            ("workflows[0].blocks[2].then[0].action", "act", "action"),
        }
        assert all(p["message"] for p in problems)


def test_workflow_level_problems_name_no_block(server: Server) -> None:
    with manager(server) as mgmt:
        integration = new_integration(mgmt)
        twice = {**GOOD, "blocks": [GOOD["blocks"][0], GOOD["blocks"][0]]}
        problems = check(mgmt, integration, twice)["problems"]
        assert len(problems) == 1
        assert problems[0]["path"] == "workflows[0]"
        assert problems[0]["blockKey"] is None
        assert "send" in problems[0]["message"]
        unknown_event = {**GOOD, "trigger": {"key": "t", "type": "customEvent", "event": "Nope"}}
        problems = check(mgmt, integration, unknown_event)["problems"]
        assert [(p["path"], p["field"]) for p in problems] == [
            ("workflows[0].trigger.event", "event")
        ]
        assert check(mgmt, integration, [1, 2])["ok"] is False


def test_check_refuses_a_bad_request_not_a_bad_workflow(server: Server) -> None:
    with manager(server) as mgmt:
        refused(mgmt.post("/manage/workflows/check", json={"workflow": GOOD}), "integrationId")
        resp = mgmt.post(
            "/manage/workflows/check", json={"integrationId": "nope", "workflow": GOOD}
        )
        assert resp.status_code == 404
        assert resp.json()["field"] == "integrationId"


def test_a_draft_is_saved_checked_and_read_back(server: Server) -> None:
    with manager(server) as mgmt:
        integration = new_integration(mgmt)
        path = f"/manage/integrations/{integration}/workflows/orders"
        saved = ok(mgmt.put(path, json=GOOD))
        assert saved["key"] == "orders"
        assert saved["changed"] is True
        assert ok(mgmt.put(path, json=GOOD))["changed"] is False
        draft = ok(mgmt.get(f"/manage/workflows/{saved['workflowId']}/draft"))["data"]
        assert draft["name"] == GOOD["name"]
        assert draft["blocks"][0]["id"]  # ids are given as push gives them
        # the draft read back saves as unchanged: the builder's load-edit-save loop is stable
        assert ok(mgmt.put(path, json=draft))["changed"] is False
        # the key may be left out of the body (the path names it)
        body = {k: v for k, v in GOOD.items() if k != "key"}
        body["name"] = "Renamed"
        renamed = ok(mgmt.put(path, json=body))
        assert renamed == {"workflowId": saved["workflowId"], "key": "orders", "changed": True}
        # a second workflow beside it; the first is kept
        ok(
            mgmt.put(
                f"/manage/integrations/{integration}/workflows/more", json={**GOOD, "key": "more"}
            )
        )
        exported = mgmt.get(f"/manage/integrations/{integration}/export").text
        assert "key: orders" in exported
        assert "key: more" in exported


def test_a_refused_draft_names_its_first_problem_and_keeps_the_old_one(server: Server) -> None:
    with manager(server) as mgmt:
        integration = new_integration(mgmt)
        path = f"/manage/integrations/{integration}/workflows/orders"
        saved = ok(mgmt.put(path, json=GOOD))
        bad = {
            **GOOD,
            "name": "Broken",
            "blocks": [{"key": "call", "type": "http", "inputs": {"method": "GET"}}],
        }
        body = refused(mgmt.put(path, json=bad), "url")
        assert body["problems"] == check(mgmt, integration, bad)["problems"]
        assert body["message"].startswith("workflows[0].blocks[0].inputs.url: ")
        draft = ok(mgmt.get(f"/manage/workflows/{saved['workflowId']}/draft"))["data"]
        assert draft["name"] == GOOD["name"]
        refused(mgmt.put(path, json={**GOOD, "key": "other"}), "key")
        refused(mgmt.put(path, json={**GOOD, "name": ""}), "name")


def test_push_keeps_the_workflows_the_builder_added(server: Server) -> None:
    with manager(server) as mgmt:
        quickstart(mgmt)
        path = "/manage/integrations/bigcommerce-quickstart/workflows/orders"
        ok(mgmt.put(path, json=GOOD))
        quickstart(mgmt)
        exported = mgmt.get("/manage/integrations/bigcommerce-quickstart/export").text
        assert exported.count("\n  - key: ") == 3


def test_a_new_integration_asked_at_once_by_many_is_made_once(server: Server) -> None:
    def ask(_: int) -> httpx2.Response:
        with manager(server) as mgmt:
            return mgmt.post("/manage/integrations/new", json={"key": "race", "app": "bigcommerce"})

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, range(8)))
    assert [a.status_code for a in answers] == [200] * 8
    assert len({a.json()["integrationId"] for a in answers}) == 1
