"""The builder's test run: the draft runs once, for real, and is nobody's run."""

from __future__ import annotations

from typing import Any

import httpx2
from sqlalchemy import func, select

from solder.store.tables import runs, trigger_states, workflow_installs
from tests.api.builder import ORDER, manager, order_status, place_order, quickstart, refused
from tests.conftest import Server
from tests.flows import install_quickstart, ok, push_quickstart, workflow_ids


def count_runs(server: Server, workflow_id: str | None = None) -> int:
    q = select(func.count()).select_from(runs)
    if workflow_id is not None:
        q = q.where(runs.c.workflow_id == workflow_id)
    with server.services.engine.connect() as conn:
        return int(conn.execute(q).scalar_one())


def install_state(server: Server, workflow_id: str) -> list[Any]:
    """The workflow's installed copies and trigger states (polling cursors included)."""
    copies = select(workflow_installs).where(workflow_installs.c.workflow_id == workflow_id)
    states = select(trigger_states).where(trigger_states.c.workflow_id == workflow_id)
    with server.services.engine.connect() as conn:
        return [[tuple(r) for r in conn.execute(q)] for q in (copies, states)]


def received(receiver_url: str) -> list[Any]:
    got: list[Any] = ok(httpx2.get(f"{receiver_url}/_received"))["data"]
    return got


def test_a_test_run_sends_for_real_and_keeps_its_answer(server: Server, receiver_url: str) -> None:
    with manager(server) as mgmt:
        wf = quickstart(mgmt)["new-order-to-acmeco"]
        assert ok(mgmt.get(f"/manage/workflows/{wf}/test")) == {"data": None}
        body = {"trigger": ORDER, "fields": {"stream": {"url": f"{receiver_url}/orders"}}}
        answer = ok(mgmt.post(f"/manage/workflows/{wf}/test", json=body))
        assert answer["status"] == "succeeded"
        assert "error" not in answer
        trigger, stream = answer["steps"]
        assert (trigger["blockKey"], trigger["type"], trigger["status"]) == (
            "order-created",
            "appEvent",
            "succeeded",
        )
        assert trigger["output"] == ORDER
        assert stream["input"]["url"] == f"{receiver_url}/orders"
        assert stream["input"]["body"] == {
            "source": "bigcommerce",
            "orderId": 7,
            "status": "Awaiting Payment",
            "total": 12.5,
            "currency": "EUR",
            "customerEmail": "ada@example.com",
        }
        assert stream["output"]["statusCode"] == 200
        assert stream["error"] is None
        for step in answer["steps"]:
            assert step["startedAt"] <= step["finishedAt"]
            assert step["durationMs"] >= 0
        delivered = received(receiver_url)
        assert [d["json"]["orderId"] for d in delivered] == [7]
        kept = ok(mgmt.get(f"/manage/workflows/{wf}/test"))
        assert kept.pop("testedAt")
        assert kept == answer
        assert count_runs(server) == 0


def test_an_app_block_uses_the_named_users_credentials_and_touches_no_install(
    server: Server, api: httpx2.Client, receiver_url: str
) -> None:
    push_quickstart(api)
    ann = install_quickstart(api, "ann", receiver_url)
    placed = place_order(server)
    wf = workflow_ids(api)[
        "When a fulfillment status is updated in AcmeCo, update the order status in BigCommerce"
    ]
    before = install_state(server, wf)
    assert before[0]
    with manager(server) as mgmt:
        body = {"trigger": {"orderId": str(placed), "status": "FULFILLED"}, "userId": "ann"}
        answer = ok(mgmt.post(f"/manage/workflows/{wf}/test", json=body))
        assert answer["status"] == "succeeded", answer
        update = answer["steps"][1]
        assert update["input"] == {"orderId": str(placed), "status": "Shipped"}
        assert update["output"]["status"] == "Shipped"
        # without a user there is no credential: the block fails, and says so
        alone = ok(mgmt.post(f"/manage/workflows/{wf}/test", json={"trigger": body["trigger"]}))
        assert alone["status"] == "failed"
        assert "credential" in alone["error"]
        assert alone["steps"][1]["status"] == "failed"
        assert alone["steps"][1]["error"] == alone["error"]
        refused(mgmt.post(f"/manage/workflows/{wf}/test", json={**body, "userId": ""}), "userId")
        unknown = mgmt.post(f"/manage/workflows/{wf}/test", json={**body, "userId": "bob"})
        assert unknown.status_code == 404
        assert unknown.json()["field"] == "userId"
    assert order_status(server, placed) == "Shipped"
    # the order placed above ran ann's new-order copy; the tested workflow has no run
    assert count_runs(server, wf) == 0
    assert install_state(server, wf) == before
    assert ann["installationId"]


NESTED: dict[str, Any] = {
    "key": "nested",
    "name": "Nested",
    "trigger": {"key": "hook", "type": "webhook"},
    "blocks": [
        {
            "key": "each",
            "type": "iterate",
            "inputs": {"items": "{{ trigger.names }}"},
            "blocks": [
                {
                    "key": "big",
                    "type": "if",
                    "inputs": {"condition": "{{ $length(item) > 3 }}"},
                    "then": [
                        {
                            "key": "upper",
                            "type": "formatter",
                            "operation": "text.upper",
                            "inputs": {"value": "{{ item }}"},
                        }
                    ],
                },
            ],
        },
        {"key": "wait", "type": "delay", "inputs": {"seconds": 3600}},
        {
            "key": "check",
            "type": "code",
            "code": "function main(input) { return input.n * 2; }",
            "inputs": {"n": "{{ $count(trigger.names) }}"},
        },
        {
            "key": "end",
            "type": "stop",
            "inputs": {"status": "failed", "message": "{{ 'seen ' & $string(blocks.check) }}"},
        },
        {"key": "never", "type": "formatter", "operation": "text.upper", "inputs": {"value": "x"}},
    ],
}


def test_nested_blocks_run_in_order_with_their_index(server: Server) -> None:
    with manager(server) as mgmt:
        integration = ok(
            mgmt.post("/manage/integrations/new", json={"key": "shop", "app": "bigcommerce"})
        )["integrationId"]
        wf = ok(mgmt.put(f"/manage/integrations/{integration}/workflows/nested", json=NESTED))
        answer = ok(
            mgmt.post(
                f"/manage/workflows/{wf['workflowId']}/test",
                json={"trigger": {"names": ["ada", "grace"]}},
            )
        )
        seen = [(s["blockKey"], s.get("index"), s["status"]) for s in answer["steps"]]
        assert seen == [
            ("hook", None, "succeeded"),
            ("each", None, "succeeded"),
            ("big", 0, "succeeded"),
            ("big", 1, "succeeded"),
            ("upper", 1, "succeeded"),
            ("wait", None, "succeeded"),
            ("check", None, "succeeded"),
            ("end", None, "succeeded"),
        ]
        outputs = {(s["blockKey"], s.get("index")): s["output"] for s in answer["steps"]}
        assert outputs[("big", 0)] == {"result": False}
        assert outputs[("upper", 1)] == "GRACE"
        assert outputs[("wait", None)]["until"] > answer["steps"][0]["startedAt"]
        assert outputs[("check", None)] == 4
        assert answer["status"] == "failed"
        assert answer["error"] == "seen 4"


def test_bad_test_requests_name_the_field(server: Server) -> None:
    with manager(server) as mgmt:
        wf = quickstart(mgmt)["new-order-to-acmeco"]
        path = f"/manage/workflows/{wf}/test"
        refused(mgmt.post(path, json={}), "trigger")
        refused(
            mgmt.post(path, json={"trigger": {}, "fields": {"nope": {"url": "x"}}}), "fields.nope"
        )
        refused(
            mgmt.post(path, json={"trigger": {}, "fields": {"stream": {"color": 1}}}),
            "fields.stream.color",
        )
        refused(mgmt.post(path, json={"trigger": {}, "fields": {"stream": 5}}), "fields.stream")
        assert mgmt.post("/manage/workflows/nope/test", json={"trigger": {}}).status_code == 404
        assert ok(mgmt.get(path)) == {"data": None}
        assert count_runs(server) == 0
