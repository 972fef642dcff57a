"""An integration that needs two apps, for the install modal's tests.

"Items" has one workflow on the custom event ``Item Requested``: it reads the item the user
picked (OAuth2 sandbox, a live dropdown) and sets an order of the user's BigCommerce store
(API-key app) to the status the user picked (another live dropdown). Installing it takes an
OAuth2 connection, an API-key form and two dropdowns: everything the modal does.
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

EVENT = "Item Requested"
WORKFLOW = "When an item is requested, mark the order"

INTEGRATION: dict[str, Any] = {
    "integration": {"key": "items", "app": "oauth2_sandbox", "name": "Items"},
    "workflows": [
        {
            "key": "item-requested",
            "name": WORKFLOW,
            "trigger": {"key": "requested", "type": "customEvent", "event": EVENT},
            "blocks": [
                {
                    "key": "get-item",
                    "name": "Get the item",
                    "type": "appAction",
                    "app": "oauth2_sandbox",
                    "action": "get_item",
                    "fields": [{"name": "item", "displayName": "Which item", "type": "select"}],
                },
                {
                    "key": "set-status",
                    "name": "Mark the order",
                    "type": "appAction",
                    "app": "bigcommerce",
                    "action": "update_order_status",
                    "inputs": {"orderId": "{{ trigger.orderId }}"},
                    "fields": [
                        {"name": "status", "displayName": "Status to set", "type": "select"},
                        {
                            "name": "note",
                            "displayName": "A note for your team",
                            "required": False,
                            "default": "from the modal",
                        },
                    ],
                },
            ],
        }
    ],
}


@dataclass(frozen=True)
class Items:
    integration_id: str
    workflow_id: str
    user_id: str
    token: str


def release(api: httpx2.Client, directory: Path, integration: dict[str, Any]) -> None:
    """Push ``integration`` (and the event) and release it: a new version when it changed."""
    directory.mkdir(parents=True, exist_ok=True)
    events = {"events": [{"name": EVENT, "body": {"orderId": "Number"}}]}
    (directory / "events.yaml").write_text(yaml.safe_dump(events))
    (directory / "items.yaml").write_text(yaml.safe_dump(integration))
    root = str(api.base_url).rsplit("/2023-12", 1)[0]
    with httpx2.Client(base_url=root, headers=api.headers, timeout=30) as mgmt:
        push(mgmt, directory, release=True)


def with_new_field(field: dict[str, Any]) -> dict[str, Any]:
    """ "Items" with one more field on its last block: its next version."""
    changed = copy.deepcopy(INTEGRATION)
    changed["workflows"][0]["blocks"][-1]["fields"].append(field)
    return changed


def push_items(api: httpx2.Client, directory: Path, username: str = "gregg") -> Items:
    """Push and release "Items", make ``username`` and mint their token."""
    release(api, directory, INTEGRATION)
    integration = ok(api.get("/integrations/items"))["data"]
    user_id = ok(api.post("/users", json={"username": username}))["userId"]
    token = ok(api.get(f"/users/{user_id}/token"))["token"]
    return Items(
        integration["integrationId"], integration["workflows"][0]["workflowId"], user_id, token
    )
