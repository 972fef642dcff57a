"""Delivery guarantees an ISV relies on: version pinning, poison runs, oversized events."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import select

from solder.config import Settings
from solder.store import runs
from solder.store.tables import events
from solder.store.tables import runs as runs_table
from tests.blockflow import Flow, outputs
from tests.conftest import Server
from tests.flows import ok, wait_until


def received(url: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = ok(httpx2.get(f"{url}/_received"))["data"]
    return records


def test_a_run_finishes_on_the_version_it_started_on(
    api: httpx2.Client, tmp_path: Path, receiver_url: str
) -> None:
    def send(tag: str) -> dict[str, Any]:
        return {"key": "send", "type": "streamData",
                "inputs": {"url": f"{receiver_url}/in", "body": {"version": tag}}}  # fmt: skip

    flow = Flow(
        api,
        tmp_path,
        [{"key": "wait", "type": "delay", "inputs": {"seconds": 1.5}}, send("one")],
    ).install()
    flow.fire({})
    # while the first run waits, version 2 is released and the user upgraded to it
    flow.blocks = [{"key": "wait", "type": "delay", "inputs": {"seconds": 0}}, send("two")]
    flow.upgrade()
    flow.fire({})
    done = flow.finished(2, timeout=20)
    assert {r["status"] for r in done} == {"succeeded"}
    assert sorted(r["json"]["version"] for r in received(receiver_url)) == ["one", "two"]
    assert {outputs(r)["send"]["statusCode"] for r in done} == {200}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.engine.max_claims = 3
    settings.max_body_bytes = 4096
    return settings


def test_a_run_taken_too_often_fails_as_poison_and_blocks_nothing(
    server: Server, api: httpx2.Client, tmp_path: Path, receiver_url: str
) -> None:
    flow = Flow(
        api,
        tmp_path,
        [{"key": "send", "type": "streamData",
          "inputs": {"url": f"{receiver_url}/in", "body": "{{ trigger }}"}}],
    ).install()  # fmt: skip
    # the receiver fails, so the first run waits in the queue for its retry...
    ok(httpx2.post(f"{receiver_url}/_fail", json={"status": 503, "count": 1000}))
    flow.fire({"n": 1})
    wait_until("a retry", lambda: any(r["status"] == "retrying"
                                      for run in flow.runs() for r in run["results"]))  # fmt: skip
    # ...where workers that die on it keep taking it: each claim lapses unfinished
    with server.services.engine.begin() as conn:
        (run,) = conn.execute(select(runs_table)).all()
        fence = run.fence
        for _ in range(3):
            fence = runs.claim(conn, run.id, fence, "dead-worker", timedelta(seconds=-1))
            assert fence is not None
    ok(httpx2.post(f"{receiver_url}/_fail", json={"status": 503, "count": 0}))
    flow.fire({"n": 2})  # a healthy event behind it
    done = flow.finished(2)
    by_n = {r["inputs"]["n"]: r for r in done}
    assert by_n[1]["status"] == "failed"
    assert "without finishing" in by_n[1]["error"]["message"]
    assert by_n[2]["status"] == "succeeded"
    assert [r["json"] for r in received(receiver_url) if r["status"] == 200] == [{"n": 2}]


def test_an_oversized_event_is_refused_and_nothing_is_stored(
    server: Server, api: httpx2.Client, tmp_path: Path
) -> None:
    flow = Flow(api, tmp_path, [{"key": "stop", "type": "stop"}]).install()
    body = {"event": "Go", "userId": flow.user_id, "data": {"blob": "x" * 5000}}
    resp = api.post("/run/event", json=body)
    assert resp.status_code == 413
    assert resp.json()["message"] == "body: larger than the limit of 4096 bytes"
    with server.services.reader.connect() as conn:
        assert conn.execute(select(events)).all() == []
