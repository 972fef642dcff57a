"""The EventBridge destination through boto3 (SigV4, real HTTP) against moto's server.

Events put on the bus reach an SQS queue through a rule, and the tests read them there: what a
consumer of the bus would get. Partial failures are injected in front of moto with the
per-entry ``ErrorCode`` EventBridge answers with (``emulators.Faults``).
"""

from __future__ import annotations

import collections
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx2
import pytest
from pydantic import SecretStr

from solder.config import Settings
from solder.destinations import DESTINATIONS
from solder.destinations.base import DestinationCall
from solder.destinations.eventbridge import parse_url
from solder.errors import FatalError, RetryableError
from tests.blockflow import Flow, outputs
from tests.destinations.emulators import SECRET_KEY, FakeAws, moto_server


@pytest.fixture
def aws() -> Iterator[FakeAws]:
    with moto_server() as emulator:
        yield emulator


def call(url: str, key: str = "run-1:step-1", **inputs: Any) -> DestinationCall:
    return DestinationCall(
        connection=url, connection_name="bus", inputs=inputs, idempotency_key=key,
        run_id="run-1", step_id="step-1", workflow_id="wf-1", user_id="user-1",
    )  # fmt: skip


def put(url: str, key: str | None = None, **inputs: Any) -> Any:
    """Send as one step; each test's steps are new (accepted entries are remembered per step)."""
    return DESTINATIONS["eventbridge"].send(call(url, key or f"run-{uuid.uuid4()}:s", **inputs))


def test_events_reach_the_bus_in_calls_of_ten_each_with_a_stable_id(aws: FakeAws) -> None:
    queue = aws.bus_to_queue("orders")
    records = [{"orderId": n} for n in range(23)]
    result = put(aws.url(), "run-1:step-1", source="com.acme.shop", detailType="Order Placed",
                 eventBus="orders", events=records)  # fmt: skip
    assert result["events"] == 23
    assert len(set(result["eventIds"])) == 23
    assert aws.faults.calls == [10, 10, 3]
    got = aws.drain(queue)
    assert sorted(e["detail"]["orderId"] for e in got) == list(range(23))
    first = next(e for e in got if e["detail"]["orderId"] == 0)
    assert first["source"] == "com.acme.shop"
    assert first["detail-type"] == "Order Placed"
    assert first["detail"]["solderEventId"] == "run-1:step-1/0"


def test_a_partial_failure_resends_only_the_entries_that_failed(aws: FakeAws) -> None:
    queue = aws.bus_to_queue("default")
    failures = collections.Counter[int]()

    def throttle_odd_ones_twice(entry: dict[str, Any]) -> str | None:
        n = json.loads(entry["Detail"])["n"]
        if n % 2 and failures[n] < 2:
            failures[n] += 1
            return "ThrottlingException"
        return None

    aws.faults.fault = throttle_odd_ones_twice
    result = put(aws.url(), source="s", detailType="d", events=[{"n": n} for n in range(12)])
    assert result["events"] == 12
    # 12 entries (10 + 2), then the 6 odd ones twice more, alone
    assert aws.faults.calls == [10, 2, 6, 6]
    got = aws.drain(queue)
    assert sorted(e["detail"]["n"] for e in got) == list(range(12))  # none twice


def test_entries_still_failing_are_retried_later_without_the_accepted_ones(
    aws: FakeAws,
) -> None:
    queue = aws.bus_to_queue("default")
    down = {"on": True}
    aws.faults.fault = lambda e: (
        "InternalFailure" if down["on"] and '"n":2' in e["Detail"] else None
    )
    step = f"run-{uuid.uuid4()}:s"
    with pytest.raises(RetryableError) as caught:
        put(aws.url(), step, source="s", detailType="d", events=[{"n": n} for n in range(4)])
    assert "1 of 4 events not accepted" in caught.value.message
    down["on"] = False
    aws.faults.calls.clear()
    result = put(aws.url(), step, source="s", detailType="d", events=[{"n": n} for n in range(4)])
    assert aws.faults.calls == [1]  # the engine's retry of the step sends only events[2]
    assert len(result["eventIds"]) == 4
    assert sorted(e["detail"]["n"] for e in aws.drain(queue)) == [0, 1, 2, 3]


def test_an_entry_refused_for_good_fails_the_block_naming_it(aws: FakeAws) -> None:
    aws.faults.fault = lambda e: "MalformedDetail" if '"n":1' in e["Detail"] else None
    with pytest.raises(FatalError) as caught:
        put(aws.url(), source="s", detailType="d", events=[{"n": 0}, {"n": 1}])
    assert caught.value.message.startswith("inputs.events[1]: EventBridge refused it: Malformed")


def test_an_unknown_bus_and_refused_keys_are_named(aws: FakeAws) -> None:
    with pytest.raises(FatalError) as caught:
        put(aws.url(), source="s", detailType="d", eventBus="nowhere", events={"n": 1})
    assert caught.value.field == "eventBus"
    assert "nowhere" in caught.value.message


def test_an_unreachable_endpoint_is_retryable_and_keeps_the_secret() -> None:
    url = f"eventbridge://AKIAX:{quote(SECRET_KEY, safe='')}@eu-west-1?endpoint=http://127.0.0.1:9"
    with pytest.raises(RetryableError) as caught:
        put(url, source="s", detailType="d", events={"n": 1})
    assert caught.value.message.startswith("EventBridge (eu-west-1) is not reachable through")
    assert SECRET_KEY not in caught.value.message


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("eventbridge://AKIAX:hunter2@nowhere", "needs a region"),
        ("eventbridge://AKIAX:hunter2@us-east-1?colour=red", "unknown parameter 'colour'"),
        ("eventbridge://AKIAX@us-east-1", "both an access key id and a secret"),
        ("eventbridge://AKIAX:hunter2@us-east-1?endpoint=file:///etc", "not an http(s) URL"),
    ],
)
def test_a_bad_connection_url_is_named_and_its_secret_kept(url: str, says: str) -> None:
    with pytest.raises(FatalError) as caught:
        parse_url(url, "bus")
    assert caught.value.field == "connection"
    assert says in caught.value.message
    assert "hunter2" not in caught.value.message


def test_the_id_field_is_reserved() -> None:
    with pytest.raises(FatalError) as caught:
        put("eventbridge://us-east-1", source="s", detailType="d",
            events=[{"n": 1}, {"solderEventId": "mine"}])  # fmt: skip
    assert caught.value.message == "inputs.events[1].solderEventId: is set by Solder"


@pytest.fixture
def settings(settings: Settings, aws: FakeAws) -> Settings:
    settings.destination_connections = {"bus": SecretStr(aws.url())}
    return settings


def test_a_workflow_puts_one_event_per_item_with_the_step_id(
    api: httpx2.Client, tmp_path: Path, aws: FakeAws
) -> None:
    queue = aws.bus_to_queue("default")
    block = {
        "key": "publish", "type": "destination", "destination": "eventbridge",
        "inputs": {"connection": "bus", "source": "com.acme", "detailType": "Order",
                   "events": "{{ trigger.orders }}"},
    }  # fmt: skip
    flow = Flow(api, tmp_path, [block]).install()
    run = flow.run({"orders": [{"id": 1}, {"id": 2}]})
    assert run["status"] == "succeeded", run["error"]
    assert len(outputs(run)["publish"]["eventIds"]) == 2
    ids = sorted(e["detail"]["solderEventId"] for e in aws.drain(queue))
    prefix = run["executionId"] + ":"
    assert [i.startswith(prefix) for i in ids] == [True, True]
    assert [i.rsplit("/", 1)[1] for i in ids] == ["0", "1"]
    assert SECRET_KEY not in str(run)
