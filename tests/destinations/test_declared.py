"""What every declared destination must be: a stable key, schemas the builder can draw from,
URL schemes, and an import that builds values only (no client, no connection)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from jsonschema import Draft202012Validator

from solder.destinations import DESTINATIONS
from solder.destinations.base import Destination


@pytest.mark.parametrize("destination", list(DESTINATIONS.values()), ids=list(DESTINATIONS))
def test_a_destination_declares_what_the_builder_and_the_engine_need(
    destination: Destination,
) -> None:
    assert re.fullmatch(r"[a-z][a-z0-9_]*", destination.key)
    assert destination.title
    assert destination.description
    assert destination.schemes
    assert destination.credential == "connection"
    described = destination.describe()
    Draft202012Validator.check_schema(described["inputSchema"])
    Draft202012Validator.check_schema(described["outputSchema"])
    if destination.app is None:
        assert described["inputSchema"]["required"][0] == "connection"
    else:  # connection, or the user's credential for the app (the install modal asks for it)
        assert described["inputSchema"]["allOf"][-1]["else"] == {"required": ["connection"]}
    assert described["inputSchema"].get("additionalProperties") is False


def test_importing_the_destinations_loads_no_client_library() -> None:
    code = (
        "import sys, solder.destinations; "
        "print(sorted(m for m in ('snowflake.connector', 'boto3', 'botocore') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
