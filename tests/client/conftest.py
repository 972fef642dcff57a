"""A pushed integration with a custom-event and a webhook workflow, and clients on the server.

Both workflows have one Stream Data block posting to the sandbox receiver, whose ``url`` the
user answers at installation.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import yaml

from solder.client import Solder
from solder.push import push
from tests.conftest import Server

EVENT = "Parcel Shipped"
ON_EVENT = "When a parcel ships, tell the ISV"
ON_HOOK = "When the ISV calls, tell the ISV"


def integration(url_field: dict[str, Any] | None = None) -> dict[str, Any]:
    field = url_field or {"name": "url", "type": "url", "required": True}

    def workflow(key: str, name: str, trigger: dict[str, Any]) -> dict[str, Any]:
        block = {"key": "notify", "type": "streamData", "fields": [field]}
        return {"key": key, "name": name, "trigger": trigger, "blocks": [block]}

    return {
        "integration": {"key": "parcels", "app": "bigcommerce", "name": "Parcels"},
        "workflows": [
            workflow("on-event", ON_EVENT, {"key": "t", "type": "customEvent", "event": EVENT}),
            workflow("on-hook", ON_HOOK, {"key": "t", "type": "webhook"}),
        ],
    }


def push_flow(server: Server, directory: Path, document: dict[str, Any]) -> None:
    """Push ``document`` (and the event it uses) and release every workflow."""
    directory.mkdir(parents=True, exist_ok=True)
    events = {"events": [{"name": EVENT, "body": {"n": "Number"}}]}
    (directory / "events.yaml").write_text(yaml.safe_dump(events))
    (directory / "parcels.yaml").write_text(yaml.safe_dump(document))
    with server.client(prefix="") as mgmt:
        push(mgmt, directory, release=True)


@pytest.fixture
def pushed(server: Server, tmp_path: Path) -> Path:
    push_flow(server, tmp_path / "flow", integration())
    return tmp_path / "flow"


@pytest.fixture
def solder(server: Server) -> Iterator[Solder]:
    with Solder(server.url, server.dev_key, backoff=0.01) as client:
        yield client


def fail_next(receiver_url: str, status: int = 400) -> None:
    """Make the receiver refuse the next delivery (a 4xx fails the run at once)."""
    assert httpx2.post(f"{receiver_url}/_fail", json={"status": status}).status_code == 200
