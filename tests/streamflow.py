"""An integration with two released versions of a Stream Data workflow, for choosing a version
and overriding where the output goes.

"Notes" has two workflows on the custom event ``Note Added``: "Send notes" streams the note to
the URL the user gives (version 1 sends ``{"version": "one", ...}``, version 2 ``"two"``), and
"Keep quiet" only stops (no Stream Data block: nothing an ``outputOverride`` could change).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import yaml

from solder.push import push
from tests.flows import ok

EVENT = "Note Added"
SEND = "Send notes"
QUIET = "Keep quiet"


def integration(marker: str) -> dict[str, Any]:
    return {
        "integration": {"key": "notes", "app": "bigcommerce", "name": "Notes"},
        "workflows": [
            {
                "key": "send-notes",
                "name": SEND,
                "trigger": {"key": "added", "type": "customEvent", "event": EVENT},
                "blocks": [
                    {
                        "key": "stream",
                        "name": "Stream Data",
                        "type": "streamData",
                        "inputs": {"body": {"version": marker, "note": "{{ trigger.note }}"}},
                        "fields": [
                            {"name": "url", "displayName": "Where to send notes", "type": "url"}
                        ],
                    }
                ],
            },
            {
                "key": "keep-quiet",
                "name": QUIET,
                "trigger": {"key": "added", "type": "customEvent", "event": EVENT},
                "blocks": [{"key": "stop", "type": "stop", "inputs": {"status": "succeeded"}}],
            },
        ],
    }


@dataclass(frozen=True)
class Notes:
    integration_id: str
    send: str  # workflow ids
    quiet: str
    v1: str  # version ids of "Send notes"
    v2: str
    quiet_v1: str
    user_id: str
    token: str


def _release(api: httpx2.Client, directory: Path, marker: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    events = {"events": [{"name": EVENT, "body": {"note": "String"}}]}
    (directory / "events.yaml").write_text(yaml.safe_dump(events))
    (directory / "notes.yaml").write_text(yaml.safe_dump(copy.deepcopy(integration(marker))))
    root = str(api.base_url).rsplit("/2023-12", 1)[0]
    with httpx2.Client(base_url=root, headers=api.headers, timeout=30) as mgmt:
        push(mgmt, directory, release=True)


def push_notes(api: httpx2.Client, directory: Path, username: str = "nora") -> Notes:
    """Release "Notes" twice (versions "one" and "two"), make ``username``, mint a token."""
    _release(api, directory / "v1", "one")
    _release(api, directory / "v2", "two")
    found = ok(api.get("/integrations/notes"))["data"]
    ids = {w["name"]: w["workflowId"] for w in found["workflows"]}

    def versions(workflow_id: str) -> dict[str, str]:
        listed = ok(api.get(f"/workflows/{workflow_id}/versions"))["data"]
        return {v["versionName"]: v["versionId"] for v in listed if v["versionId"]}

    send, quiet = versions(ids[SEND]), versions(ids[QUIET])
    user_id = ok(api.post("/users", json={"username": username}))["userId"]
    token = ok(api.get(f"/users/{user_id}/token"))["token"]
    return Notes(
        found["integrationId"], ids[SEND], ids[QUIET], send["v1"], send["v2"], quiet["v1"],
        user_id, token,
    )  # fmt: skip
