"""The error stream's second target: each failed run also put on the ISV's EventBridge bus.

The bus is moto's server over real HTTP (``tests/destinations/emulators.py``); delivery is
driven with ``errorstream.deliver_due`` on a chosen clock, as in ``test_error_stream.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx2
import pytest
from pydantic import SecretStr

from solder.config import Settings
from solder.engine import errorstream
from tests.conftest import Server
from tests.destinations.emulators import SECRET_KEY, FakeAws, moto_server
from tests.engine.test_error_stream import failing_flow, received
from tests.flows import ok


@pytest.fixture
def aws() -> Iterator[FakeAws]:
    with moto_server() as emulator:
        yield emulator


@pytest.fixture
def settings(settings: Settings, aws: FakeAws) -> Settings:
    settings.engine.background = False
    settings.destination_connections = {
        "alerts": SecretStr(aws.url()),
        "warehouse": SecretStr("snowflake://u:pw@acct/db"),
    }
    return settings


def test_a_failed_run_reaches_the_webhook_and_the_bus_retried_on_the_schedule(
    server: Server, api: httpx2.Client, tmp_path: Path, receiver_url: str, aws: FakeAws
) -> None:
    queue = aws.bus_to_queue("ops")
    bus = {"connection": "alerts", "eventBus": "ops"}
    with server.client(prefix="") as mgmt:
        shown = ok(mgmt.put("/manage/settings", json={"errorWebhookUrl": f"{receiver_url}/e",
                                                      "errorEventBridge": bus}))  # fmt: skip
    assert shown["data"]["errorEventBridge"] == {**bus, "source": "solder",
                                                 "detailType": "Workflow Failed"}  # fmt: skip
    aws.faults.fault = lambda _entry: "InternalFailure"  # the bus refuses, for now
    flow = failing_flow(api, tmp_path)
    run = flow.run({"id": 7})
    now = datetime.now(UTC)
    assert errorstream.deliver_due(server.services, now) == 2
    (hooked,) = received(receiver_url)
    assert aws.drain(queue) == []
    with server.client(prefix="") as mgmt:
        notices = ok(mgmt.get("/manage/errors/deliveries"))["data"]
    status = {n["target"]: n["status"] for n in notices}
    assert status == {"webhook": "delivered", "eventbridge": "pending"}
    (waiting,) = [n for n in notices if n["target"] == "eventbridge"]
    assert "not accept" in waiting["lastError"]
    assert SECRET_KEY not in str(notices)
    assert quote(SECRET_KEY, safe="") not in str(notices)

    aws.faults.fault = None
    assert errorstream.deliver_due(server.services, now + timedelta(seconds=5)) == 0
    assert errorstream.deliver_due(server.services, now + timedelta(seconds=11)) == 1
    (event,) = aws.drain(queue)
    assert event["source"] == "solder"
    assert event["detail-type"] == "Workflow Failed"
    assert event["detail"] == hooked["json"]
    assert event["detail"]["executionId"] == run["executionId"]
    assert event["detail"]["message"] == "order 7 has no email"


@pytest.mark.parametrize("connection", ["nowhere", "warehouse"])
def test_a_bus_connection_the_server_lacks_is_refused_naming_the_field(
    server: Server, connection: str
) -> None:
    with server.client(prefix="") as mgmt:
        resp = mgmt.put("/manage/settings", json={"errorEventBridge": {"connection": connection}})
    assert resp.status_code in (400, 422)
    message = resp.json()["message"]
    assert message.startswith(f"errorEventBridge.connection: {connection!r} is not an eventbridge")
    assert "(alerts)" in message
    assert "pw" not in message


def test_without_a_bus_only_the_webhook_notice_is_stored(
    server: Server, api: httpx2.Client, tmp_path: Path
) -> None:
    failing_flow(api, tmp_path).run({"id": 1})
    with server.client(prefix="") as mgmt:
        (notice,) = ok(mgmt.get("/manage/errors/deliveries"))["data"]
    assert notice["target"] == "webhook"
