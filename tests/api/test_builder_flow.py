"""The quick start built from scratch through the builder API, then installed and run.

What the builder's browser test will do through the pages, done here through the routes:
the two workflows end up exactly as the quick start's file defines them (``solder push``
of that file then changes nothing), test-run, released with a note, installed, and run.
"""

from __future__ import annotations

import httpx2
import yaml

from solder.push import push
from tests.api.builder import ORDER, QUICKSTART_FILES, manager, order_status, place_order
from tests.conftest import Server
from tests.flows import EXAMPLES, FULFILLMENT, NEW_ORDER, install_quickstart, ok, settled


def test_the_quick_start_built_in_the_builder_is_the_quick_start(
    server: Server, api: httpx2.Client, receiver_url: str
) -> None:
    events, file = (yaml.safe_load(p.read_text()) for p in QUICKSTART_FILES)
    with manager(server) as mgmt:
        ok(mgmt.put("/manage/events", json=events))
        head = file["integration"]
        integration = ok(mgmt.post("/manage/integrations/new", json=head))["integrationId"]
        ids = {}
        for workflow in file["workflows"]:
            body = {"integrationId": integration, "workflow": workflow}
            assert ok(mgmt.post("/manage/workflows/check", json=body)) == {
                "ok": True,
                "problems": [],
            }
            path = f"/manage/integrations/{integration}/workflows/{workflow['key']}"
            ids[workflow["key"]] = ok(mgmt.put(path, json=workflow))["workflowId"]
        order_flow = ids["new-order-to-acmeco"]
        fields = {"stream": {"url": f"{receiver_url}/acmeco/orders"}}
        tested = ok(
            mgmt.post(
                f"/manage/workflows/{order_flow}/test", json={"trigger": ORDER, "fields": fields}
            )
        )
        assert tested["status"] == "succeeded"
        for wf in ids.values():
            released = ok(mgmt.post(f"/manage/workflows/{wf}/release", json={"note": "v1"}))
            assert released["version"] == 1
        # the file in git and the builder's work are the same definitions
        lines = push(mgmt, EXAMPLES, release=True).lines
        assert sum("draft unchanged, already v1" in line for line in lines) == 2
    user = install_quickstart(api, "ann", receiver_url)
    workflows = {w["name"]: w["workflowId"] for w in ok(api.get("/workflows"))["data"]}
    assert workflows[NEW_ORDER] == ids["new-order-to-acmeco"]
    placed = place_order(server)
    (run,) = settled(api, workflows[NEW_ORDER], user["userId"], 1)
    assert run["status"] == "succeeded"
    delivered = ok(httpx2.get(f"{receiver_url}/_received"))["data"]
    # the test run's delivery, then the installed copy's
    assert [d["json"]["orderId"] for d in delivered] == [7, placed]
    event = {
        "event": "Fulfillment Updated",
        "userId": user["userId"],
        "data": {"orderId": str(placed), "status": "FULFILLED"},
    }
    ok(api.post("/run/event", json=event))
    (run,) = settled(api, workflows[FULFILLMENT], user["userId"], 1)
    assert run["status"] == "succeeded"
    assert order_status(server, placed) == "Shipped"
