"""Run any workflow of blocks for one user: push it, install it, fire its custom event.

``Flow`` pushes an integration with one workflow (trigger: the custom event ``Go``, whose
payload is whatever the test sends), installs it headlessly for a new user, answering user
fields from ``answers`` (field name -> value), and returns finished runs from the logs API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import yaml

from solder.push import install_headless, push
from tests.flows import ok, runs_of, wait_until

EVENT = "Go"


@dataclass
class Flow:
    api: httpx2.Client
    directory: Path
    blocks: list[dict[str, Any]]
    trigger: dict[str, Any] | None = None
    answers: dict[str, Any] = field(default_factory=dict)
    credentials: list[dict[str, Any]] = field(default_factory=list)
    username: str = "gregg"
    user_id: str = ""
    workflow_id: str = ""

    def release(self) -> None:
        """Write the files and push them, releasing a version when anything changed."""
        self.directory.mkdir(parents=True, exist_ok=True)
        events = {"events": [{"name": EVENT, "body": {}}]}
        trigger = self.trigger or {"key": "go", "type": "customEvent", "event": EVENT}
        integration = {
            "integration": {"key": "flows", "app": "bigcommerce", "name": "Flows"},
            "workflows": [
                {"key": "flow", "name": "A flow", "trigger": trigger, "blocks": self.blocks}
            ],
        }
        (self.directory / "events.yaml").write_text(yaml.safe_dump(events))
        (self.directory / "flows.yaml").write_text(yaml.safe_dump(integration))
        root = str(self.api.base_url).rsplit("/2023-12", 1)[0]
        with httpx2.Client(base_url=root, headers=self.api.headers, timeout=30) as mgmt:
            push(mgmt, self.directory, release=True)

    def upgrade(self) -> None:
        """Release the current blocks as a new version and upgrade the user to it."""
        self.release()
        ok(self.api.put(f"/workflows/{self.workflow_id}/upgrade",
                        params={"userId": self.user_id}))  # fmt: skip

    def install(self) -> Flow:
        self.release()
        self.user_id = ok(self.api.post("/users", json={"username": self.username}))["userId"]
        integration_view = ok(self.api.get("/integrations", params={"userId": self.user_id}))
        found = integration_view["data"][0]
        install_headless(
            self.api,
            self.user_id,
            found["integrationId"],
            self.credentials,
            lambda _block, asked: self.answers[asked["name"]],
        )
        self.workflow_id = found["workflows"][0]["workflowId"]
        return self

    def fire(self, data: dict[str, Any]) -> None:
        body = {"event": EVENT, "userId": self.user_id, "data": data}
        ok(self.api.post("/run/event", json=body))

    def runs(self) -> list[dict[str, Any]]:
        return runs_of(self.api, self.workflow_id, self.user_id)

    def finished(self, count: int = 1, timeout: float = 15.0) -> list[dict[str, Any]]:
        def check() -> list[dict[str, Any]] | None:
            done = [r for r in self.runs() if r["status"] in ("succeeded", "failed")]
            return done if len(done) >= count else None

        result: list[dict[str, Any]] = wait_until(f"{count} finished runs", check, timeout)
        return result

    def run(self, data: dict[str, Any]) -> dict[str, Any]:
        """Fire one event and return its finished run."""
        before = len(self.runs())
        self.fire(data)
        return self.finished(before + 1)[0]


def outputs(run: dict[str, Any]) -> dict[str, Any]:
    """Block name (its key when unnamed) -> output; iterated blocks -> list by item."""
    out: dict[str, Any] = {}
    for r in run["results"]:
        if "item" in r:
            out.setdefault(r["blockName"], []).append(r["data"])
        else:
            out[r["blockName"]] = r["data"]
    return out
