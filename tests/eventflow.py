"""A custom-event workflow of Stream Data blocks: written to YAML, pushed, installed for a user.

The engine tests need a workflow whose only outbound calls go to a receiver the test controls.
``write_flow`` writes one (trigger: the custom event ``EVENT``), ``install_flow`` pushes and
releases it through the management API and installs it headlessly, with no credential (nothing
in it talks to an app), answering each block's ``url`` field.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import yaml

from solder.push import install_headless, push
from tests.flows import ok

EVENT = "Parcel Shipped"
WORKFLOW_NAME = "When a parcel ships, tell the ISV"


@dataclass(frozen=True)
class StreamBlock:
    """A Stream Data block with a fixed id; ``url`` is the answer to its user field."""

    key: str
    id: str
    url: str
    body: Any = None

    def definition(self) -> dict[str, Any]:
        block: dict[str, Any] = {
            "key": self.key,
            "id": self.id,
            "name": self.key.replace("-", " ").title(),
            "type": "streamData",
            "fields": [{"name": "url", "type": "url"}],
        }
        if self.body is not None:
            block["inputs"] = {"body": self.body}
        return block


@dataclass(frozen=True)
class Installed:
    user_id: str
    workflow_id: str


def write_flow(directory: Path, blocks: list[StreamBlock]) -> Path:
    """Write the event and the integration files into ``directory``; return it."""
    directory.mkdir(parents=True, exist_ok=True)
    events = {"events": [{"name": EVENT, "body": {"n": "Number"}}]}
    integration = {
        "integration": {"key": "parcels", "app": "bigcommerce", "name": "Parcels"},
        "workflows": [
            {
                "key": "parcel-shipped",
                "name": WORKFLOW_NAME,
                "trigger": {"key": "shipped", "type": "customEvent", "event": EVENT},
                "blocks": [b.definition() for b in blocks],
            }
        ],
    }
    (directory / "events.yaml").write_text(yaml.safe_dump(events))
    (directory / "parcels.yaml").write_text(yaml.safe_dump(integration))
    return directory


def install_flow(
    api: httpx2.Client, directory: Path, blocks: list[StreamBlock], username: str = "gregg"
) -> Installed:
    """Push and release the flow in ``directory``, then install it for a new user."""
    root = str(api.base_url).rsplit("/2023-12", 1)[0]
    with httpx2.Client(base_url=root, headers=api.headers, timeout=30) as mgmt:
        push(mgmt, directory, release=True)
    user_id = ok(api.post("/users", json={"username": username}))["userId"]
    integration = ok(api.get("/integrations", params={"userId": user_id}))["data"][0]
    urls = {b.id: b.url for b in blocks}
    install_headless(
        api, user_id, integration["integrationId"], [], lambda asked, _f: urls[asked["blockId"]]
    )
    workflow_id = next(w["workflowId"] for w in integration["workflows"])
    return Installed(user_id=user_id, workflow_id=workflow_id)


def fire(api: httpx2.Client, user_id: str, n: int, *, key: str | None = None) -> None:
    """Send one ``EVENT`` carrying ``n``; ``key`` becomes its Idempotency-Key."""
    headers = {"Idempotency-Key": key} if key else {}
    body = {"event": EVENT, "userId": user_id, "data": {"n": n}}
    assert ok(api.post("/run/event", json=body, headers=headers)) == {
        "message": "Event successfully triggered"
    }
