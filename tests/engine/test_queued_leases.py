"""Claimed runs waiting in the worker pool's queue keep their leases, however long the runs
ahead of them take: nobody claims them again and nothing runs twice."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from sqlalchemy import select

from solder.config import Settings
from solder.engine.heartbeat import Heartbeat
from solder.engine.worker import Queued
from solder.store.tables import runs
from tests.blockflow import Flow
from tests.conftest import Server
from tests.processes import SlowReceiver
from tests.servers import run_asgi

RUNS = 8
DELAY = 0.4  # per delivery: the last queued run waits RUNS * DELAY, about three leases


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.engine.workers = 1  # one executor: the other runs wait in its queue
    settings.engine.lease_seconds = 1.0
    return settings


@pytest.fixture
def slow_receiver() -> Iterator[tuple[str, SlowReceiver]]:
    receiver = SlowReceiver(delay=DELAY)
    receiver.gate.set()
    with run_asgi(receiver.app) as url:
        yield url, receiver


def test_runs_waiting_behind_slow_runs_are_claimed_once(
    server: Server, api: httpx2.Client, tmp_path: Path, slow_receiver: tuple[str, SlowReceiver]
) -> None:
    url, receiver = slow_receiver
    flow = Flow(
        api,
        tmp_path,
        [{"key": "send", "type": "streamData",
          "inputs": {"url": f"{url}/in", "body": {"n": "{{ trigger.n }}"}}}],
    ).install()  # fmt: skip
    for n in range(RUNS):
        flow.fire({"n": n})
    done = flow.finished(RUNS, timeout=RUNS * DELAY + 20)
    assert {r["status"] for r in done} == {"succeeded"}, [r["error"] for r in done]
    assert receiver.total() == RUNS
    assert set(receiver.counts.values()) == {1}
    with server.services.engine.connect() as conn:
        fences = list(conn.execute(select(runs.c.fence)).scalars())
    assert fences == [1] * RUNS  # claimed once each: no lease lapsed while its run waited


def test_a_run_watched_while_the_heartbeat_idles_is_renewed_within_its_lease(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With nothing to watch the heartbeat sleeps long (a sixth of a 30 s lease); a run with a
    short lease that arrives meanwhile must wake it, or its lease lapses unrenewed."""
    beat = Heartbeat(engine=None)  # type: ignore[arg-type]  # _renew is replaced below
    renewals: list[str] = []
    monkeypatch.setattr(beat, "_renew", lambda run: renewals.append(run.run_id))
    idle = Queued("idle", 1, time.monotonic(), lease_seconds=30.0)
    beat.watch(idle)
    time.sleep(0.2)
    beat.unwatch(idle)
    time.sleep(0.2)  # the loop has looked at nothing and sleeps for 5 s
    short = Queued("short", 1, time.monotonic(), lease_seconds=0.6)
    beat.watch(short)
    time.sleep(0.5)  # due for renewal after 0.2 s
    beat.unwatch(short)
    assert "short" in renewals
