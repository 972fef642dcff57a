"""What every registered destination promises, checked for each one in the registry.

* ``describe()`` is complete and its schemas are valid JSON Schema (the builder draws the form
  from ``inputSchema``); ``connection`` (unless the block uses the installation's credential,
  where a destination offers it) and the destination's required inputs are required;
* a missing required input fails naming that field, before anything is sent;
* a connection nobody answers is a ``RetryableError`` that names the connection and neither
  its error nor the logs hold the password.

A destination gets sample inputs from ``SAMPLES``, or, when it has none there, one made from
its schema's required properties.
"""

from __future__ import annotations

import logging
import re
import socket
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import SecretStr

from solder.destinations import DESTINATIONS, sending
from solder.destinations.base import Destination
from solder.errors import FatalError, RetryableError

CANARY = "canary-Pw-5e0d2b"
SAMPLES: dict[str, dict[str, Any]] = {
    "rabbitmq": {"exchange": "orders", "routingKey": "order.created", "message": {"id": 1}},
    "redis_streams": {"stream": "orders", "message": {"id": 1}},
    "nats_jetstream": {"subject": "orders.created", "message": {"id": 1}},
    "eventbridge": {"source": "acme.orders", "detailType": "Order Created", "events": [{"id": 1}]},
    "snowflake": {"table": "ORDERS", "rows": [{"id": 1}]},
}
REGISTERED = sorted(DESTINATIONS)


def sample(destination: Destination) -> dict[str, Any]:
    if destination.key in SAMPLES:
        return dict(SAMPLES[destination.key])
    props = destination.input.get("properties", {})
    made: dict[str, Any] = {}
    for name in destination.input.get("required", []):
        kind = props.get(name, {}).get("type", "string")
        kind = kind[0] if isinstance(kind, list) else kind
        made[name] = {"integer": 1, "number": 1, "boolean": True, "array": [{"id": 1}],
                      "object": {"id": 1}}.get(kind, "x")  # fmt: skip
    return made


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the socket is


UNREACHABLE = {
    # an account's host and port are query parameters (fakesnow and private links use them)
    "snowflake": "snowflake://writer:{secret}@acct/db/sc?host=127.0.0.1&port={port}&protocol=http",
    # the host is the region; the endpoint says where its API is
    "eventbridge": "eventbridge://writer:{secret}@us-east-1?endpoint=http://127.0.0.1:{port}",
}
BAD_URLS = {
    "snowflake": ["snowflake://", "snowflake://u:{secret}@acct/db/sc?port=port"],
    "eventbridge": ["eventbridge://", "eventbridge://u:{secret}@not a region"],
}


def unreachable(destination: Destination) -> dict[str, SecretStr]:
    form = UNREACHABLE.get(
        destination.key, destination.schemes[0] + "://writer:{secret}@127.0.0.1:{port}/x"
    )
    return {"dead": SecretStr(form.format(secret=CANARY, port=closed_port()))}


def send(destination: Destination, inputs: dict[str, Any], connections: Any) -> Any:
    return sending.send(
        destination.key,
        {"connection": "dead", **inputs},
        connections,
        run_id="run-1",
        step_id="block-1",
        workflow_id="wf",
        user_id="user",
    )


@pytest.mark.parametrize("key", REGISTERED)
def test_describe_is_complete_and_its_schemas_are_valid(key: str) -> None:
    destination = DESTINATIONS[key]
    described = destination.describe()
    assert set(described) - {"app"} == {
        "destination", "title", "description", "credential", "credentials", "schemes",
        "idempotent", "inputSchema", "outputSchema",
    }  # fmt: skip
    assert described["credentials"][0] == described["credential"]
    assert re.fullmatch(r"[a-z][a-z0-9_]*", described["destination"])
    assert described["title"]
    assert described["description"]
    assert described["credential"]
    assert described["schemes"]
    assert all(isinstance(s, str) and s for s in described["schemes"])
    assert isinstance(described["idempotent"], bool)
    for name in ("inputSchema", "outputSchema"):
        Draft202012Validator.check_schema(described[name])
    schema = described["inputSchema"]
    assert set(schema["required"]) <= set(schema["properties"])
    check = Draft202012Validator(schema)
    assert check.is_valid({"connection": "bus", **sample(destination)})
    assert not check.is_valid(sample(destination))  # a connection is needed...
    if "installation" in described["credentials"]:  # ...unless the user's credential is used
        assert described["app"]
        assert check.is_valid({"credential": "installation", **sample(destination)})
        both = {"credential": "installation", "connection": "bus", **sample(destination)}
        assert not check.is_valid(both)


@pytest.mark.parametrize("key", REGISTERED)
def test_a_missing_required_input_is_named_before_anything_is_sent(key: str) -> None:
    destination = DESTINATIONS[key]
    for name in destination.input.get("required", []):
        inputs = {k: v for k, v in sample(destination).items() if k != name}
        with pytest.raises(FatalError) as caught:  # not Retryable: the server was never asked
            send(destination, inputs, unreachable(destination))
        assert caught.value.field == name
        assert caught.value.message == f"inputs.{name}: required"


@pytest.mark.parametrize("key", REGISTERED)
def test_a_connection_url_without_a_host_or_with_a_bad_port_is_named(key: str) -> None:
    destination = DESTINATIONS[key]
    scheme = destination.schemes[0]
    for form in BAD_URLS.get(destination.key, [f"{scheme}://", f"{scheme}://u:{{secret}}@h:port/"]):
        url = form.format(secret=CANARY)
        with pytest.raises(FatalError) as caught:
            send(destination, sample(destination), {"dead": SecretStr(url)})
        assert caught.value.field == "connection"
        assert CANARY not in str(caught.value)


@pytest.mark.parametrize("key", REGISTERED)
def test_a_connection_nobody_answers_is_retryable_and_keeps_its_password(
    key: str, caplog: pytest.LogCaptureFixture
) -> None:
    destination = DESTINATIONS[key]
    caplog.set_level(logging.DEBUG)
    with pytest.raises(RetryableError) as caught:
        send(destination, sample(destination), unreachable(destination))
    assert "'dead'" in caught.value.message
    assert CANARY not in str(caught.value)
    assert CANARY not in repr(caught.value.args)
    assert CANARY not in caplog.text
