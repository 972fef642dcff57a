"""The version history's diff: a unified diff of the exports and a sentence per block."""

from __future__ import annotations

import copy
from typing import Any

import httpx2

from tests.api.builder import manager, quickstart, refused
from tests.conftest import Server
from tests.flows import ok


def draft_of(mgmt: httpx2.Client, workflow_id: str) -> dict[str, Any]:
    data: dict[str, Any] = ok(mgmt.get(f"/manage/workflows/{workflow_id}/draft"))["data"]
    return data


def save(mgmt: httpx2.Client, doc: dict[str, Any]) -> None:
    path = f"/manage/integrations/bigcommerce-quickstart/workflows/{doc['key']}"
    ok(mgmt.put(path, json=doc))


def test_a_draft_is_compared_with_the_version_before_it(server: Server) -> None:
    with manager(server) as mgmt:
        wf = quickstart(mgmt)["new-order-to-acmeco"]
        ok(mgmt.post(f"/manage/workflows/{wf}/release"))
        doc = copy.deepcopy(draft_of(mgmt, wf))
        stream = doc["blocks"][0]
        stream["inputs"]["body"]["source"] = "shop"
        doc["blocks"] = [
            {"key": "gate", "type": "if", "inputs": {"condition": True}, "then": [stream]},
            {
                "key": "shout",
                "type": "formatter",
                "operation": "text.upper",
                "inputs": {"value": "{{ trigger.id }}"},
            },
        ]
        save(mgmt, doc)
        answer = ok(mgmt.get(f"/manage/workflows/{wf}/diff", params={"from": 1, "to": "draft"}))
        assert answer["from"] == 1
        assert answer["to"] == "draft"
        lines = answer["text"].splitlines()
        assert lines[:2] == ["--- v1", "+++ draft"]
        assert "-            source: bigcommerce" in lines
        assert "+                source: shop" in lines
        assert "+      - key: gate" in lines
        changes = {(c["kind"], c["blockKey"]) for c in answer["changes"]}
        assert changes == {("added", "gate"), ("added", "shout"), ("changed", "stream")}
        stream_change = next(c for c in answer["changes"] if c["blockKey"] == "stream")
        assert "inputs body changed" in stream_change["what"]
        assert "moved from blocks[0] to blocks[0].then[0]" in stream_change["what"]
        # "from" left out: the newest version
        assert ok(mgmt.get(f"/manage/workflows/{wf}/diff"))["changes"] == answer["changes"]


def test_two_versions_and_a_removed_block(server: Server) -> None:
    with manager(server) as mgmt:
        wf = quickstart(mgmt)["new-order-to-acmeco"]
        ok(mgmt.post(f"/manage/workflows/{wf}/release"))
        doc = draft_of(mgmt, wf)
        extra = {
            "key": "shout",
            "type": "formatter",
            "operation": "text.upper",
            "inputs": {"value": "{{ trigger.id }}"},
        }
        save(mgmt, {**doc, "blocks": [*doc["blocks"], extra]})
        ok(mgmt.post(f"/manage/workflows/{wf}/release"))
        save(mgmt, {**doc, "name": "Renamed"})
        ok(mgmt.post(f"/manage/workflows/{wf}/release"))
        answer = ok(mgmt.get(f"/manage/workflows/{wf}/diff", params={"from": 2, "to": 3}))
        assert answer["to"] == 3
        kinds = [(c["kind"], c["blockKey"]) for c in answer["changes"]]
        assert kinds == [("changed", None), ("removed", "shout")]
        assert "Renamed" in answer["changes"][0]["what"]
        same = ok(mgmt.get(f"/manage/workflows/{wf}/diff", params={"from": 3, "to": "draft"}))
        assert same["text"] == ""
        assert same["changes"] == []


def test_bad_versions_are_refused_naming_the_parameter(server: Server) -> None:
    with manager(server) as mgmt:
        wf = quickstart(mgmt)["new-order-to-acmeco"]
        refused(mgmt.get(f"/manage/workflows/{wf}/diff"), "from")
        ok(mgmt.post(f"/manage/workflows/{wf}/release"))
        path = f"/manage/workflows/{wf}/diff"
        refused(mgmt.get(path, params={"from": 2}), "from")
        refused(mgmt.get(path, params={"from": "one"}), "from")
        refused(mgmt.get(path, params={"from": 1, "to": "7"}), "to")
        refused(mgmt.get(path, params={"from": 1, "to": "latest"}), "to")
        resp = mgmt.get("/manage/workflows/nope/diff")
        assert resp.status_code == 404


def test_a_branch_path_change_is_told_on_its_block(server: Server) -> None:
    with manager(server) as mgmt:
        integration = ok(
            mgmt.post("/manage/integrations/new", json={"key": "shop", "app": "bigcommerce"})
        )["integrationId"]
        doc: dict[str, Any] = {
            "key": "routes",
            "name": "Routes",
            "trigger": {"key": "hook", "type": "webhook"},
            "blocks": [
                {
                    "key": "route",
                    "type": "branch",
                    "paths": [{"key": "paid", "condition": "{{ trigger.paid }}"}],
                    "default": [{"key": "done", "type": "stop"}],
                }
            ],
        }
        path = f"/manage/integrations/{integration}/workflows/routes"
        wf = ok(mgmt.put(path, json=doc))["workflowId"]
        ok(mgmt.post(f"/manage/workflows/{wf}/release"))
        doc["blocks"][0]["paths"][0]["condition"] = "{{ trigger.settled }}"
        doc["trigger"]["name"] = "Incoming"
        ok(mgmt.put(path, json=doc))
        answer = ok(mgmt.get(f"/manage/workflows/{wf}/diff", params={"from": 1}))
        assert [(c["kind"], c["blockKey"], c["what"]) for c in answer["changes"]] == [
            ("changed", "hook", "Trigger 'hook' (webhook): name added"),
            ("changed", "route", "Path 'paid' of block 'route': condition changed"),
        ]
        assert "-            condition: '{{ trigger.paid }}'" in answer["text"].splitlines()
