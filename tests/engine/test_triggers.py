"""Schedules, polling and "on installation" triggers, driven on a fake clock.

The background loop is the server's own, but these tests call ``triggers.run_due`` with the
time they choose, so a cron tick an hour away is due at once and nothing waits on the wall
clock. Runs are executed by the server's workers and read back through the logs API.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest

from solder.config import Settings
from solder.engine import schedule, triggers
from solder.errors import BadInput
from solder.sandbox.bigcommerce import StoreState
from solder.store import triggers as trigger_store
from solder.store.tables import events
from tests.blockflow import Flow
from tests.conftest import STORE_HASH, STORE_TOKEN, Server
from tests.flows import ok, wait_until

NY = "America/New_York"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The server's own background loop stays off: the tests decide when triggers run."""
    settings.engine.background = False
    return settings


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# -- cron arithmetic ----------------------------------------------------------------------


def test_next_tick_is_computed_in_the_schedule_time_zone() -> None:
    daily = schedule.parse("0 9 * * *", NY)
    # 13:30 UTC on a winter day is 08:30 in New York: the tick is 09:00 local, 14:00 UTC
    assert daily.next_after(at("2026-01-15T13:30:00+00:00")) == at("2026-01-15T14:00:00+00:00")
    # in summer New York is UTC-4, so the same local time is 13:00 UTC
    assert daily.next_after(at("2026-07-15T12:30:00+00:00")) == at("2026-07-15T13:00:00+00:00")


def test_a_tick_in_the_skipped_spring_hour_runs_when_clocks_jump() -> None:
    nightly = schedule.parse("30 2 * * *", NY)
    # 2026-03-08: clocks go from 02:00 to 03:00 in New York; 02:30 does not exist
    tick = nightly.next_after(at("2026-03-08T05:00:00+00:00"))  # 00:00 local
    assert tick == at("2026-03-08T07:00:00+00:00")  # 03:00 EDT


def test_the_next_tick_is_strictly_after_the_moment() -> None:
    hourly = schedule.parse("0 * * * *", "UTC")
    assert hourly.next_after(at("2026-01-01T10:00:00+00:00")) == at("2026-01-01T11:00:00+00:00")


@pytest.mark.parametrize(
    ("cron", "zone", "field"),
    [
        ("61 * * * *", "UTC", "cron"),
        ("* * * *", "UTC", "cron"),
        ("0 9 * * *", "Mars/Olympus", "timeZone"),
    ],
)
def test_bad_schedules_name_the_field(cron: str, zone: str, field: str) -> None:
    with pytest.raises(BadInput) as caught:
        schedule.parse(cron, zone)
    assert caught.value.field == field


def test_a_bad_cron_is_refused_at_push(api: httpx2.Client, tmp_path: Path) -> None:
    flow = Flow(
        api,
        tmp_path,
        [{"key": "stop", "type": "stop"}],
        trigger={"key": "tick", "type": "schedule", "cron": "0 25 * * *"},
    )
    with pytest.raises(BadInput, match=r"workflows\[0\]\.trigger\.cron"):
        flow.install()


# -- schedules on a server ----------------------------------------------------------------


def schedule_flow(api: httpx2.Client, tmp_path: Path, url: str) -> Flow:
    return Flow(
        api,
        tmp_path,
        [{"key": "send", "type": "streamData",
          "inputs": {"url": url, "body": {"at": "{{ trigger.scheduledAt }}"}}}],
        trigger={"key": "tick", "type": "schedule", "cron": "0 9 * * *", "timeZone": NY},
    ).install()  # fmt: skip


def state(server: Server, flow: Flow) -> Any:
    with server.services.reader.connect() as conn:
        return trigger_store.state_of(conn, flow.user_id, flow.workflow_id)


def test_a_schedule_fires_each_tick_once_however_often_it_is_checked(
    server: Server, api: httpx2.Client, tmp_path: Path, receiver_url: str
) -> None:
    flow = schedule_flow(api, tmp_path, f"{receiver_url}/tick")
    armed = state(server, flow)
    tick = armed.next_at
    assert tick > datetime.now(UTC)
    assert tick.astimezone(schedule.parse("0 9 * * *", NY).zone).hour == 9
    later = tick + timedelta(seconds=1)
    # several processes (here: calls) check at once; one fires
    fired = [triggers.run_due(server.services, later) for _ in range(3)]
    assert sum(fired) == 1
    run = flow.finished(1)[0]
    assert run["status"] == "succeeded"
    got = ok(httpx2.get(f"{receiver_url}/_received"))["data"]
    assert [r["json"] for r in got] == [{"at": tick.strftime("%Y-%m-%dT%H:%M:%S.000Z")}]
    assert state(server, flow).next_at == tick + timedelta(days=1)


def test_a_deactivated_schedule_does_not_fire_and_resumes_on_activation(
    server: Server, api: httpx2.Client, tmp_path: Path, receiver_url: str
) -> None:
    flow = schedule_flow(api, tmp_path, f"{receiver_url}/tick")
    tick = state(server, flow).next_at
    body = {"userId": flow.user_id, "workflowId": flow.workflow_id}
    ok(api.put("/workflows/deactivate", json=body))
    assert state(server, flow).next_at is None
    assert triggers.run_due(server.services, tick + timedelta(days=3)) == 0
    ok(api.put("/workflows/activate", json=body))
    assert state(server, flow).next_at is not None
    assert flow.runs() == []


# -- polling ------------------------------------------------------------------------------


def poll_flow(api: httpx2.Client, tmp_path: Path, url: str) -> Flow:
    flow = Flow(
        api,
        tmp_path,
        [{"key": "send", "type": "streamData",
          "inputs": {"url": url, "body": {"order": "{{ trigger.id }}"}}}],
        trigger={"key": "placed", "type": "appEvent", "app": "bigcommerce",
                 "event": "order_placed_polling"},
    )  # fmt: skip
    return flow


SANDBOX_CREDENTIAL = {
    "type": "bigcommerce",
    "data": {"storeHash": STORE_HASH, "accessToken": STORE_TOKEN},
}


def install_with_store(flow: Flow) -> Flow:
    """Install the flow with a BigCommerce credential for the sandbox store."""
    flow.credentials = [SANDBOX_CREDENTIAL]
    return flow.install()


def place_order(store: StoreState, order_id: int) -> None:
    store.orders[order_id] = {"id": order_id, "status_id": 11, "customer_id": 0}


def poll_now(server: Server) -> int:
    return triggers.run_due(server.services, datetime.now(UTC) + timedelta(hours=1))


def test_polling_runs_once_per_new_record_and_keeps_its_cursor(
    server: Server,
    api: httpx2.Client,
    tmp_path: Path,
    receiver_url: str,
    sandbox_store: tuple[str, StoreState],
) -> None:
    store = sandbox_store[1]
    place_order(store, 100)  # before installing: history, not news
    flow = install_with_store(poll_flow(api, tmp_path, f"{receiver_url}/orders"))
    assert poll_now(server) == 1  # the first poll finds where "now" is
    assert state(server, flow).cursor == {"lastId": 100}
    place_order(store, 101)
    place_order(store, 102)
    assert poll_now(server) == 1
    flow.finished(2)
    assert state(server, flow).cursor == {"lastId": 102}
    assert poll_now(server) == 1  # nothing new
    got = ok(httpx2.get(f"{receiver_url}/_received"))["data"]
    assert sorted(r["json"]["order"] for r in got) == [101, 102]


def test_a_repeated_poll_stores_each_record_once(
    server: Server,
    api: httpx2.Client,
    tmp_path: Path,
    receiver_url: str,
    sandbox_store: tuple[str, StoreState],
) -> None:
    store = sandbox_store[1]
    flow = install_with_store(poll_flow(api, tmp_path, f"{receiver_url}/orders"))
    poll_now(server)
    place_order(store, 7)
    poll_now(server)
    # a crash after the events were stored but before the cursor moved: rewind the cursor
    with server.services.engine.begin() as conn:
        row = trigger_store.state_of(conn, flow.user_id, flow.workflow_id)
        trigger_store.save_cursor(conn, row.id, {"lastId": 0}, row.next_at, row.next_at)
    poll_now(server)
    flow.finished(1)
    with server.services.reader.connect() as conn:
        stored = conn.execute(events.select().where(events.c.kind == "poll")).all()
    assert len(stored) == 1
    assert len(flow.runs()) == 1


def test_the_cursor_survives_an_upgrade(
    server: Server,
    api: httpx2.Client,
    tmp_path: Path,
    receiver_url: str,
    sandbox_store: tuple[str, StoreState],
) -> None:
    store = sandbox_store[1]
    flow = install_with_store(poll_flow(api, tmp_path, f"{receiver_url}/orders"))
    poll_now(server)
    place_order(store, 5)
    poll_now(server)
    flow.finished(1)
    flow.blocks[0]["name"] = "Send it"
    flow.upgrade()
    assert state(server, flow).cursor == {"lastId": 5}
    poll_now(server)
    assert len(flow.runs()) == 1  # order 5 did not run again


# -- on installation ----------------------------------------------------------------------


def test_an_installation_workflow_runs_on_install_and_on_upgrade(
    api: httpx2.Client, tmp_path: Path, receiver_url: str
) -> None:
    flow = Flow(
        api,
        tmp_path,
        [{"key": "hello", "type": "streamData",
          "inputs": {"url": f"{receiver_url}/welcome",
                     "body": {"reason": "{{ trigger.reason }}", "v": "{{ trigger.version }}",
                              "user": "{{ user.username }}"}}}],
        trigger={"key": "installed", "type": "installation"},
    ).install()  # fmt: skip
    flow.finished(1)
    got = ok(httpx2.get(f"{receiver_url}/_received"))["data"]
    assert [r["json"] for r in got] == [{"reason": "installed", "v": 1, "user": "gregg"}]
    # a new version, then an upgrade: the workflow runs again
    flow.blocks[0]["name"] = "Hello again"
    flow.upgrade()
    flow.finished(2)
    got = ok(httpx2.get(f"{receiver_url}/_received"))["data"]
    assert got[-1]["json"] == {"reason": "upgraded", "v": 2, "user": "gregg"}
    # deactivating and activating again is not an installation
    body = {"userId": flow.user_id, "workflowId": flow.workflow_id}
    ok(api.put("/workflows/deactivate", json=body))
    ok(api.put("/workflows/activate", json=body))
    wait_until("no third run", lambda: len(flow.runs()) == 2)
    assert len(flow.runs()) == 2


# -- incoming webhook ---------------------------------------------------------------------


def test_an_installation_has_its_own_incoming_webhook_url(
    server: Server, api: httpx2.Client, tmp_path: Path, receiver_url: str
) -> None:
    flow = Flow(
        api,
        tmp_path,
        [{"key": "send", "type": "streamData",
          "inputs": {"url": f"{receiver_url}/in", "body": {"got": "{{ trigger.n }}"}}}],
        trigger={"key": "hook", "type": "webhook"},
    ).install()  # fmt: skip
    (shown,) = ok(api.get("/workflows", params={"userId": flow.user_id}))["data"]
    url = shown["webhookUrl"]
    assert url.startswith(f"{server.url}/webhooks/")
    headers = {"Idempotency-Key": "delivery-1"}
    assert ok(httpx2.post(url, json={"n": 1}, headers=headers))["duplicate"] is False
    assert ok(httpx2.post(url, json={"n": 1}, headers=headers))["duplicate"] is True
    assert ok(httpx2.post(url, json={"n": 2}))["message"] == "success"
    runs = flow.finished(2)
    assert len(flow.runs()) == 2
    assert all(r["status"] == "succeeded" for r in runs)
    got = ok(httpx2.get(f"{receiver_url}/_received"))["data"]
    assert sorted(r["json"]["got"] for r in got) == [1, 2]
    # a wrong token, a body that is not an object, a deactivated copy
    assert httpx2.post(url[:-4] + "AAAA", json={}).status_code == 404
    assert httpx2.post(url, content=b"[1]").status_code == 400
    body = {"userId": flow.user_id, "workflowId": flow.workflow_id}
    ok(api.put("/workflows/deactivate", json=body))
    refused = httpx2.post(url, json={"n": 3})
    assert refused.status_code == 409
    assert "deactivated" in refused.json()["message"]
