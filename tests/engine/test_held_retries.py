"""Short retries that the worker pool waits out itself, without a claim on the way back.

A block that fails with a backoff shorter than a third of the lease keeps its run (status
``running``, same fence, the lease renewed) and the pool queues it again when due; a longer
backoff puts the run back in the store (``queued``, no lease). Stopping the pool gives a held
run back, still due at its retry time.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import select

from solder.config import EgressSettings, EngineSettings, Settings
from solder.engine.worker import WorkerPool
from solder.runtime.services import Services
from solder.store.tables import runs
from solder.store.types import utcnow
from tests.engine.test_retries import BLOCK_ID, fail_next, received
from tests.eventflow import StreamBlock, fire, install_flow, write_flow
from tests.flows import settled, wait_until

BACKOFF = 1.5  # the first retry waits 0.75-1.5 s


@pytest.fixture
def settings(database_url: str, secret_key: str, request: pytest.FixtureRequest) -> Settings:
    lease: float = getattr(request, "param", 30.0)
    return Settings(
        database_url=database_url,
        secret_key=secret_key,
        egress=EgressSettings(allow_networks=["127.0.0.1/32"]),
        engine=EngineSettings(
            workers=2,
            poll_interval=0.05,
            backoff_base=BACKOFF,
            backoff_max=BACKOFF,
            lease_seconds=lease,
            max_attempts=3,
            http_timeout=5,
        ),
    )


def start_failing_run(api: httpx2.Client, tmp_path: Path, receiver_url: str) -> Any:
    """Install a one-block flow whose receiver answers 503 once; fire; return the install."""
    block = StreamBlock("notify-isv", BLOCK_ID, f"{receiver_url}/parcels", None)
    info = install_flow(api, write_flow(tmp_path / "flow", [block]), [block])
    fail_next(receiver_url, 503, 1)
    fire(api, info.user_id, 1)
    wait_until("the first attempt", lambda: len(received(receiver_url)) == 1, timeout=10)
    return info


def the_run(services: Services) -> Any:
    with services.engine.connect() as conn:
        (row,) = conn.execute(select(runs)).all()
    return row


def waiting_for_retry(services: Services) -> Any:
    """The run once its failed attempt is stored (attempt 1, due in the future)."""
    found: list[Any] = []

    def stored() -> bool:
        found[:] = [the_run(services)]
        return bool(found[0].attempt == 1 and found[0].next_attempt_at > utcnow())

    wait_until("the failed attempt stored", stored, timeout=10)
    return found[0]


def test_a_short_retry_keeps_its_run_and_lease_and_comes_back_on_time(
    api: httpx2.Client, services: Services, receiver_url: str, tmp_path: Path
) -> None:
    info = start_failing_run(api, tmp_path, receiver_url)
    held = waiting_for_retry(services)
    assert (held.status, held.fence) == ("running", 1)  # no one gave it up or claimed it
    assert held.lease_owner is not None
    assert held.lease_expires_at > held.next_attempt_at
    due = held.next_attempt_at

    (run,) = settled(api, info.workflow_id, info.user_id, 1)
    assert run["status"] == "succeeded", run
    assert run["results"][1]["attempts"] == 2
    first, second = received(receiver_url)
    assert (first["status"], second["status"]) == (503, 200)
    assert BACKOFF / 2 <= second["at"] - first["at"] < BACKOFF + 0.5
    assert second["at"] >= due.timestamp()  # never before the stored retry time
    assert the_run(services).fence == 1  # run to the end without a second claim


@pytest.mark.parametrize("settings", [2.0], indirect=True)  # a third: 0.67 s < 0.75 s
def test_a_retry_longer_than_a_third_of_the_lease_goes_back_to_the_store(
    api: httpx2.Client, services: Services, receiver_url: str, tmp_path: Path
) -> None:
    info = start_failing_run(api, tmp_path, receiver_url)
    waiting = waiting_for_retry(services)
    assert (waiting.status, waiting.lease_owner) == ("queued", None)

    (run,) = settled(api, info.workflow_id, info.user_id, 1)
    assert run["status"] == "succeeded", run
    assert the_run(services).fence == 2  # claimed again when due


@pytest.fixture
def pool(server: Any, services: Services) -> WorkerPool:
    """The worker pool of the server under test, the one that holds the run."""
    executors = services.dispatch.executors  # type: ignore[attr-defined]
    assert isinstance(executors, WorkerPool)
    return executors


def test_stopping_the_pool_gives_a_held_run_back_due_at_its_retry_time(
    api: httpx2.Client,
    services: Services,
    pool: WorkerPool,
    receiver_url: str,
    tmp_path: Path,
) -> None:
    info = start_failing_run(api, tmp_path, receiver_url)
    held = waiting_for_retry(services)
    assert held.status == "running"

    pool.stop()
    given_back = the_run(services)
    assert (given_back.status, given_back.lease_owner, given_back.fence) == ("queued", None, 1)
    assert given_back.next_attempt_at == held.next_attempt_at

    again = WorkerPool(services)
    again.start()
    try:
        (run,) = settled(api, info.workflow_id, info.user_id, 1)
    finally:
        again.stop()
    assert run["status"] == "succeeded", run
    assert run["results"][1]["attempts"] == 2
    first, second = received(receiver_url)
    assert second["at"] >= held.next_attempt_at.timestamp()
    assert time.time() - first["at"] < 10
