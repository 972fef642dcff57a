"""The error stream: each failed run reaches the ISV's webhook, signed, retried on a schedule.

Delivery is driven with ``errorstream.deliver_due`` on a chosen clock (the server's own loop
is off), so a retry due in ten minutes is tested without waiting ten minutes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest

from solder.config import Settings
from solder.engine import errorstream
from tests.blockflow import Flow
from tests.conftest import Server
from tests.flows import ok


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.engine.background = False
    return settings


def management(server: Server) -> httpx2.Client:
    return server.client(prefix="")


def received(url: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = ok(httpx2.get(f"{url}/_received"))["data"]
    return records


def failing_flow(api: httpx2.Client, tmp_path: Path) -> Flow:
    return Flow(
        api,
        tmp_path,
        [{"key": "halt", "name": "Refuse", "type": "stop",
          "inputs": {"status": "failed", "message": "order {{ trigger.id }} has no email"}}],
    ).install()  # fmt: skip


def test_a_failed_run_is_posted_signed_with_identifying_headers(
    server: Server, api: httpx2.Client, tmp_path: Path, receiver_url: str
) -> None:
    with management(server) as mgmt:
        hook = f"{receiver_url}/errors"
        assert ok(mgmt.put("/manage/settings", json={"errorWebhookUrl": hook}))["data"] == {
            "errorWebhookUrl": hook,
            "frameAncestors": None,
            "errorEventBridge": None,
        }
    flow = failing_flow(api, tmp_path)
    run = flow.run({"id": 12})
    assert errorstream.deliver_due(server.services) == 1
    (got,) = received(receiver_url)
    assert got["verified"] is True
    assert got["json"]["message"] == "order 12 has no email"
    assert got["json"]["executionId"] == run["executionId"]
    assert got["json"]["block"] == "Refuse"
    headers = got["headers"]
    assert headers["x-alloy-workflowid"] == flow.workflow_id
    assert headers["x-alloy-userid"] == flow.user_id
    assert headers["x-alloy-executionuuid"] == run["executionId"]
    assert headers["x-alloy-blockname"] == "Refuse"
    assert headers["x-alloy-blocktype"] == "stop"
    assert errorstream.deliver_due(server.services) == 0  # delivered once
    with management(server) as mgmt:
        (notice,) = ok(mgmt.get("/manage/errors/deliveries"))["data"]
    assert notice["status"] == "delivered"
    assert notice["attempts"] == 1


def test_a_webhook_that_is_down_gets_the_notice_on_the_retry_schedule(
    server: Server, api: httpx2.Client, tmp_path: Path, receiver_url: str
) -> None:
    with management(server) as mgmt:
        ok(mgmt.put("/manage/settings", json={"errorWebhookUrl": f"{receiver_url}/errors"}))
    ok(httpx2.post(f"{receiver_url}/_fail", json={"status": 503, "count": 2}))
    flow = failing_flow(api, tmp_path)
    flow.run({"id": 1})
    now = datetime.now(UTC)
    assert errorstream.deliver_due(server.services, now) == 1  # 503
    assert errorstream.deliver_due(server.services, now + timedelta(seconds=5)) == 0  # not due
    assert errorstream.deliver_due(server.services, now + timedelta(seconds=11)) == 1  # 503
    later = now + timedelta(seconds=11 + 31)
    assert errorstream.deliver_due(server.services, later) == 1  # taken
    statuses = [r["status"] for r in received(receiver_url)]
    assert statuses == [503, 503, 200]
    with management(server) as mgmt:
        (notice,) = ok(mgmt.get("/manage/errors/deliveries"))["data"]
    assert notice["status"] == "delivered"
    assert notice["attempts"] == 3


def test_without_a_webhook_notices_are_skipped(
    server: Server, api: httpx2.Client, tmp_path: Path
) -> None:
    failing_flow(api, tmp_path).run({"id": 1})
    assert errorstream.deliver_due(server.services) == 0
    with management(server) as mgmt:
        (notice,) = ok(mgmt.get("/manage/errors/deliveries"))["data"]
    assert notice["status"] == "skipped"


@pytest.mark.parametrize("url", ["ftp://example.com/x", "not a url", ""])
def test_a_bad_webhook_url_is_refused_naming_the_field(server: Server, url: str) -> None:
    with management(server) as mgmt:
        resp = mgmt.put("/manage/settings", json={"errorWebhookUrl": url})
    assert resp.status_code == 422
    assert "errorWebhookUrl" in resp.json()["message"]


def test_the_gdpr_purge_removes_the_users_notices(
    server: Server, api: httpx2.Client, tmp_path: Path
) -> None:
    flow = failing_flow(api, tmp_path)
    flow.run({"id": 1})
    ok(api.delete(f"/users/{flow.user_id}/logs"))
    with management(server) as mgmt:
        assert ok(mgmt.get("/manage/errors/deliveries"))["data"] == []
