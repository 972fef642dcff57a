"""How a failing block ends: retried with backoff while the failure may pass, failed otherwise.

Every test runs a real server in this process; the Stream Data block posts to the sandbox
receiver, whose ``POST /_fail`` makes its next requests answer an error.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest

from solder.config import EgressSettings, EngineSettings, Settings
from solder.runtime.services import Services
from solder.sandbox import receiver
from solder.security import signing
from tests.eventflow import StreamBlock, fire, install_flow, write_flow
from tests.flows import ok, settled
from tests.servers import run_asgi

MAX_ATTEMPTS = 3
BLOCK_ID = "6f0c6b51-0000-4000-8000-000000000001"


@pytest.fixture
def settings(database_url: str, secret_key: str) -> Settings:
    """Fast retries and few attempts, so giving up takes well under a second."""
    return Settings(
        database_url=database_url,
        secret_key=secret_key,
        egress=EgressSettings(allow_networks=["127.0.0.1/32"]),
        engine=EngineSettings(
            workers=2,
            poll_interval=0.05,
            backoff_base=0.05,
            backoff_max=2.0,
            max_attempts=MAX_ATTEMPTS,
            http_timeout=5,
        ),
    )


def received(url: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = ok(httpx2.get(f"{url}/_received"))["data"]
    return records


def fail_next(url: str, status: int, count: int, retry_after: float | None = None) -> None:
    body: dict[str, Any] = {"status": status, "count": count}
    if retry_after is not None:
        body["retry_after"] = retry_after
    ok(httpx2.post(f"{url}/_fail", json=body))


def run_one(api: httpx2.Client, tmp_path: Path, block: StreamBlock) -> dict[str, Any]:
    """Install a one-block flow, fire one event, return its finished run from the logs."""
    info = install_flow(api, write_flow(tmp_path / "flow", [block]), [block])
    fire(api, info.user_id, 1)
    (run,) = settled(api, info.workflow_id, info.user_id, 1)
    run["workflowId"] = info.workflow_id
    return dict(run)


def stream(receiver_url: str, body: Any = None) -> StreamBlock:
    return StreamBlock("notify-isv", BLOCK_ID, f"{receiver_url}/parcels", body)


def test_server_errors_are_retried_until_the_block_succeeds(
    api: httpx2.Client, receiver_url: str, tmp_path: Path
) -> None:
    fail_next(receiver_url, 503, 2)
    run = run_one(api, tmp_path, stream(receiver_url))

    assert run["status"] == "succeeded", run
    _, block = run["results"]
    assert (block["status"], block["attempts"], block["error"]) == ("succeeded", 3, None)
    got = received(receiver_url)
    assert [r["status"] for r in got] == [503, 503, 200]
    keys = {r["headers"]["idempotency-key"] for r in got}
    assert keys == {f"{run['executionId']}:{BLOCK_ID}"}  # one key across the attempts
    assert ok(api.get(f"/workflows/{run['workflowId']}/errors"))["data"] == []


def test_too_many_requests_waits_for_retry_after(
    api: httpx2.Client, receiver_url: str, tmp_path: Path
) -> None:
    fail_next(receiver_url, 429, 1, retry_after=1)
    run = run_one(api, tmp_path, stream(receiver_url))

    assert run["status"] == "succeeded", run
    assert run["results"][1]["attempts"] == 2
    first, second = received(receiver_url)
    assert (first["status"], second["status"]) == (429, 200)
    # without Retry-After the first retry would come after at most backoff_base (0.05 s)
    assert second["at"] - first["at"] >= 0.95


def test_a_client_error_fails_the_run_at_once(
    api: httpx2.Client, receiver_url: str, tmp_path: Path
) -> None:
    fail_next(receiver_url, 400, 1)  # a retry would succeed: only not retrying fails the run
    run = run_one(api, tmp_path, stream(receiver_url))

    assert run["status"] == "failed", run
    _, block = run["results"]
    assert (block["status"], block["attempts"]) == ("failed", 1)
    assert "HTTP 400" in block["error"]
    assert len(received(receiver_url)) == 1
    (error,) = ok(api.get(f"/workflows/{run['workflowId']}/errors"))["data"]
    assert error["workflowId"] == run["workflowId"]
    assert error["executionId"] == run["executionId"]
    assert error["block"] == "Notify Isv"
    assert "HTTP 400" in error["message"]
    assert datetime.fromisoformat(error["errorOccurredAt"]) >= datetime.fromisoformat(
        run["startedAt"]
    )
    assert run["error"]["message"] == error["message"]


def test_a_block_that_keeps_failing_fails_the_run_after_max_attempts(
    api: httpx2.Client, receiver_url: str, tmp_path: Path
) -> None:
    fail_next(receiver_url, 503, 100)
    run = run_one(api, tmp_path, stream(receiver_url))

    assert run["status"] == "failed", run
    _, block = run["results"]
    assert (block["status"], block["attempts"]) == ("failed", MAX_ATTEMPTS)
    assert "HTTP 503" in block["error"]
    assert len(received(receiver_url)) == MAX_ATTEMPTS
    (error,) = ok(api.get(f"/workflows/{run['workflowId']}/errors"))["data"]
    assert error["block"] == "Notify Isv"
    assert "HTTP 503" in error["message"]
    assert run["error"]["block"] == "Notify Isv"


def test_a_mapping_that_fails_at_run_time_fails_the_run_naming_the_input(
    api: httpx2.Client, receiver_url: str, tmp_path: Path
) -> None:
    block = stream(receiver_url, body={"weight": '{{ $number("heavy") }}'})
    run = run_one(api, tmp_path, block)

    assert run["status"] == "failed", run
    _, result = run["results"]
    assert (result["status"], result["attempts"]) == ("failed", 1)
    assert "inputs.body.weight" in result["error"]
    assert "inputs.body.weight" in run["error"]["message"]
    assert received(receiver_url) == []


@pytest.fixture
def second_receiver(services: Services) -> Iterator[str]:
    app = receiver.create_app(signing.public_key_pem(services.signing_key))
    with run_asgi(app) as url:
        yield url


def test_a_retried_run_does_not_repeat_blocks_that_finished(
    api: httpx2.Client, receiver_url: str, second_receiver: str, tmp_path: Path
) -> None:
    first = StreamBlock("archive", "6f0c6b51-0000-4000-8000-000000000002", f"{second_receiver}/a")
    then = stream(receiver_url)
    fail_next(receiver_url, 503, 2)
    info = install_flow(api, write_flow(tmp_path / "flow", [first, then]), [first, then])
    fire(api, info.user_id, 1)
    (run,) = settled(api, info.workflow_id, info.user_id, 1)

    assert run["status"] == "succeeded", run
    assert [r["attempts"] for r in run["results"]] == [1, 1, 3]
    assert len(received(second_receiver)) == 1
    assert [r["status"] for r in received(receiver_url)] == [503, 503, 200]


def test_too_many_requests_never_uses_up_the_attempts(
    api: httpx2.Client, receiver_url: str, tmp_path: Path
) -> None:
    fail_next(receiver_url, 429, MAX_ATTEMPTS + 1, retry_after=0.05)
    run = run_one(api, tmp_path, stream(receiver_url))

    assert run["status"] == "succeeded", run  # a 503 this many times would have failed it
    assert run["results"][1]["attempts"] == MAX_ATTEMPTS + 2
    statuses = [r["status"] for r in received(receiver_url)]
    assert statuses == [429] * (MAX_ATTEMPTS + 1) + [200]
