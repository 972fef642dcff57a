"""The destination block inside real runs: lookup, connection, input checks, idempotency key.

A recording destination stands in for a real one here, so these tests pin what every
destination gets from the engine; each real destination has its own tests against its server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest
from pydantic import SecretStr

from solder.config import Settings
from solder.destinations import DESTINATIONS
from solder.destinations.base import Destination, DestinationCall
from solder.errors import BadInput, FatalError
from tests.blockflow import Flow, outputs

SECRET_URL = "memory://writer:hunter2@bus/"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.destination_connections = {
        "bus": SecretStr(SECRET_URL),
        "web": SecretStr("https://example.com/"),
    }
    return settings


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[DestinationCall]:
    calls: list[DestinationCall] = []

    def send(call: DestinationCall) -> dict[str, Any]:
        calls.append(call)
        if call.inputs["topic"] == "refuse":
            raise FatalError("inputs.topic: the bus refused it", field="topic")
        return {"accepted": len(call.inputs["messages"])}

    monkeypatch.setitem(
        DESTINATIONS,
        "memory",
        Destination(
            key="memory",
            title="Memory bus",
            description="records what it is sent",
            input={
                "type": "object",
                "properties": {
                    "topic": {"type": "string", "minLength": 1},
                    "messages": {"type": "array", "maxItems": 3},
                },
                "required": ["topic", "messages"],
                "additionalProperties": False,
            },
            output={"type": "object", "properties": {"accepted": {"type": "integer"}}},
            schemes=("memory",),
            idempotent=True,
            send=send,
        ),
    )
    return calls


def block(**inputs: Any) -> dict[str, Any]:
    return {"key": "out", "type": "destination", "destination": "memory", "inputs": inputs}


def test_mapped_inputs_reach_the_destination_with_a_stable_key(
    api: httpx2.Client, tmp_path: Path, sent: list[DestinationCall]
) -> None:
    flow = Flow(
        api, tmp_path, [block(connection="bus", topic="orders", messages="{{ trigger.items }}")]
    ).install()
    run = flow.run({"items": [{"id": 1}, {"id": 2}]})
    assert run["status"] == "succeeded", run["error"]
    (call,) = sent
    assert call.inputs == {"topic": "orders", "messages": [{"id": 1}, {"id": 2}]}
    assert call.connection == SECRET_URL
    assert call.connection_name == "bus"
    assert call.idempotency_key.startswith(run["executionId"] + ":")
    assert call.user_id == flow.user_id
    assert outputs(run)["out"] == {"accepted": 2}
    assert "hunter2" not in str(run)


def test_a_bad_mapped_input_fails_the_run_naming_the_field(
    api: httpx2.Client, tmp_path: Path, sent: list[DestinationCall]
) -> None:
    flow = Flow(
        api, tmp_path, [block(connection="bus", topic="t", messages="{{ trigger.items }}")]
    ).install()
    run = flow.run({"items": [1, 2, 3, 4]})
    assert run["status"] == "failed"
    assert run["error"]["message"].startswith("inputs.messages:")
    assert sent == []


@pytest.mark.parametrize(
    ("connection", "says"),
    [
        ("nowhere", "'nowhere' is not a configured destination connection (bus, web)"),
        ("web", "'web' is a https connection; memory needs memory"),
    ],
)
def test_a_connection_that_does_not_fit_is_named_and_its_secret_kept(
    api: httpx2.Client, tmp_path: Path, sent: list[DestinationCall], connection: str, says: str
) -> None:
    flow = Flow(
        api,
        tmp_path,
        [block(connection="{{ trigger.c }}", topic="t", messages=[])],
    ).install()
    run = flow.run({"c": connection})
    assert run["status"] == "failed"
    assert run["error"]["message"] == f"inputs.connection: {says}"
    assert run["results"][-1]["attempts"] == 1  # fatal: not retried
    assert sent == []


def test_push_reports_every_problem_of_a_destination_block(
    api: httpx2.Client, tmp_path: Path, sent: list[DestinationCall]
) -> None:
    blocks = [
        {"key": "a", "type": "destination", "destination": "carrier-pigeon", "inputs": {}},
        {"key": "b", "type": "destination", "destination": "memory",
         "inputs": {"topic": "", "colour": "red"}},
    ]  # fmt: skip
    with pytest.raises(BadInput) as caught:
        Flow(api, tmp_path, blocks).release()
    text = str(caught.value)
    assert "blocks[0].destination: unknown destination 'carrier-pigeon'" in text
    assert "blocks[1].inputs.connection: required" in text
    assert "blocks[1].inputs.messages: required (as an input or a user field)" in text
    assert "blocks[1].inputs.topic:" in text
    assert "blocks[1].inputs.colour: memory takes no input 'colour'" in text


def test_the_block_catalog_lists_each_destination_with_its_schema(
    api: httpx2.Client, sent: list[DestinationCall]
) -> None:
    root = str(api.base_url).rsplit("/2023-12", 1)[0]
    with httpx2.Client(base_url=root, headers=api.headers) as mgmt:
        kinds = mgmt.get("/manage/blocks").json()["data"]
    (kind,) = [k for k in kinds if k["type"] == "destination"]
    (memory,) = [d for d in kind["destinations"] if d["destination"] == "memory"]
    assert memory["idempotent"] is True
    assert memory["credential"] == "connection"
    assert memory["inputSchema"]["required"] == ["connection", "topic", "messages"]
