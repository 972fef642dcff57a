"""Acceptance for the scaled-out tier: PostgreSQL, RabbitMQ, ``solder serve`` and several
``solder worker`` processes, all real.

Each test gets a fresh PostgreSQL database and a broker queue of its own. The receiver counts
the ``Idempotency-Key`` (``{run id}:{block id}``) of every delivery, and the store is read
directly afterwards, so "nothing lost, nothing finished twice" is checked against the truth.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text

from tests.eventflow import StreamBlock, fire, install_flow, write_flow
from tests.flows import wait_until
from tests.processes import (
    BROKER,
    SlowReceiver,
    Solder,
    all_runs,
    broker_queue,
    client,
    finished_stream_blocks,
    free_port,
    fresh_postgres,
    stored_counts,
)
from tests.servers import run_asgi

pytestmark = pytest.mark.e2e

BLOCK = StreamBlock("record-parcel", "0d5e7a10-0000-4000-8000-0000000000c1", "")


@pytest.fixture
def database() -> Iterator[str]:
    if os.environ.get("SOLDER_TEST_DATABASE_URL"):
        pytest.skip("runs once, in the first pass (it always uses PostgreSQL)")
    with fresh_postgres() as url:
        yield url


@pytest.fixture
def queue() -> Iterator[str]:
    with broker_queue() as name:
        yield name


@pytest.fixture
def solder(tmp_path: Path, database: str, queue: str) -> Solder:
    processes = Solder(tmp_path, database)
    processes.env |= {
        "SOLDER_BROKER_URL": BROKER,
        "SOLDER_BROKER_QUEUE": queue,
        "SOLDER_ENGINE__WORKERS": "4",
    }
    processes.run("db", "upgrade")
    return processes


def settle(api: Any, workflow_id: str, events: int, timeout: float) -> list[dict[str, Any]]:
    def all_terminal() -> list[dict[str, Any]] | None:
        found = all_runs(api, workflow_id)
        done = [r for r in found if r["status"] in ("succeeded", "failed")]
        return found if len(done) == len(found) == events else None

    result: list[dict[str, Any]] = wait_until(f"{events} finished runs", all_terminal, timeout)
    return result


def check_once(runs: list[dict[str, Any]], receiver: SlowReceiver, events: int) -> None:
    """Every event ran once and succeeded, and its block reached the receiver."""
    assert sorted(r["inputs"]["n"] for r in runs) == list(range(events))
    assert {r["status"] for r in runs} == {"succeeded"}, [r["error"] for r in runs]
    expected = {f"{r['executionId']}:{BLOCK.id}" for r in runs}
    assert set(receiver.counts) == expected


def test_several_workers_run_every_event_once(tmp_path: Path, solder: Solder) -> None:
    events = 120
    receiver = SlowReceiver(delay=0.01)
    receiver.gate.set()
    with run_asgi(receiver.app) as receiver_url:
        block = StreamBlock(BLOCK.key, BLOCK.id, f"{receiver_url}/in")
        key = solder.run("keys", "create", "--env", "development").strip().splitlines()[-1]
        ports = [free_port() for _ in range(3)]
        try:
            with (
                solder.serve() as (url, _),
                solder.workers(3, metrics_ports=ports),
                client(url, key) as api,
            ):
                info = install_flow(api, write_flow(tmp_path / "flow", [block]), [block])
                for n in range(events):
                    fire(api, info.user_id, n, key=f"parcel-{n}")
                runs = settle(api, info.workflow_id, events, timeout=60)
                scraped = [worker_metrics(port) for port in ports]
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{solder.output()}") from exc
    check_once(runs, receiver, events)
    assert set(receiver.counts.values()) == {1}  # nothing crashed: each block once
    assert stored_counts(solder.env["SOLDER_DATABASE_URL"]) == (events, events)
    # the runs were shared: more than one worker process finished some (all three listened on
    # the broker before the first event; one may still have been slower to take any)
    engine = create_engine(solder.env["SOLDER_DATABASE_URL"])
    with engine.connect() as conn:
        owners = conn.execute(text("SELECT DISTINCT lease_owner FROM runs")).scalars().all()
    engine.dispose()
    assert len(owners) >= 2, owners
    # each worker counts the blocks it ran, on its own metrics port: together, every delivery
    delivered = sample(scraped, "solder_deliveries_total", kind="stream_data", outcome="ok")
    assert delivered == events
    ran = sample(scraped, "solder_block_duration_seconds_count", block_type="streamData",
                 outcome="succeeded")  # fmt: skip
    assert ran == events


def worker_metrics(port: int) -> str:
    resp = httpx2.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert resp.status_code == 200
    return resp.text


def sample(expositions: list[str], name: str, **labels: str) -> float:
    """The sum over ``expositions`` (Prometheus text) of the samples ``name{labels...}``."""
    total = 0.0
    for exposition in expositions:
        for family in text_string_to_metric_families(exposition):
            for found in family.samples:
                if found.name == name and labels.items() <= found.labels.items():
                    total += found.value
    return total


def rabbitmq(action: str) -> None:
    done = subprocess.run(["rabbitmqctl", action], capture_output=True, text=True, timeout=120,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_broker_restart_during_load_loses_nothing(tmp_path: Path, solder: Solder) -> None:
    events = 60
    receiver = SlowReceiver(delay=0.01)
    receiver.gate.set()
    with run_asgi(receiver.app) as receiver_url:
        block = StreamBlock(BLOCK.key, BLOCK.id, f"{receiver_url}/in")
        key = solder.run("keys", "create", "--env", "development").strip().splitlines()[-1]
        try:
            with solder.serve() as (url, _), solder.workers(2), client(url, key) as api:
                info = install_flow(api, write_flow(tmp_path / "flow", [block]), [block])
                for n in range(events // 2):
                    fire(api, info.user_id, n, key=f"parcel-{n}")
                rabbitmq("stop_app")
                try:
                    # accepted while the broker is down: stored, dispatched later
                    for n in range(events // 2, events):
                        fire(api, info.user_id, n, key=f"parcel-{n}")
                finally:
                    rabbitmq("start_app")
                runs = settle(api, info.workflow_id, events, timeout=90)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{solder.output()}") from exc
    check_once(runs, receiver, events)
    assert stored_counts(solder.env["SOLDER_DATABASE_URL"]) == (events, events)


def test_a_killed_worker_loses_its_runs_to_the_others(tmp_path: Path, solder: Solder) -> None:
    events = 40
    receiver = SlowReceiver(delay=0.05)
    solder.env["SOLDER_ENGINE__LEASE_SECONDS"] = "3"
    with run_asgi(receiver.app) as receiver_url:
        block = StreamBlock(BLOCK.key, BLOCK.id, f"{receiver_url}/in")
        key = solder.run("keys", "create", "--env", "development").strip().splitlines()[-1]
        try:
            with solder.serve() as (url, _), solder.workers(3) as workers, \
                    client(url, key) as api:  # fmt: skip
                info = install_flow(api, write_flow(tmp_path / "flow", [block]), [block])
                for n in range(events):
                    fire(api, info.user_id, n, key=f"parcel-{n}")
                receiver.gate.set()
                receiver.wait_for(10, timeout=30)
                os.kill(workers[0].pid, signal.SIGKILL)
                workers[0].wait(10)
                finished_at_kill = finished_stream_blocks(solder.env["SOLDER_DATABASE_URL"])
                runs = settle(api, info.workflow_id, events, timeout=90)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{solder.output()}") from exc
    check_once(runs, receiver, events)
    repeated = {k: receiver.counts[k] for k in finished_at_kill if receiver.counts[k] != 1}
    assert repeated == {}
