"""Steps many tests share: push the quick start, make a user, install for them."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2

from solder.push import install_headless, push
from tests.conftest import STORE_HASH, STORE_TOKEN

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "quickstart"
NEW_ORDER = "When a new order is created in BigCommerce, create a new record in AcmeCo"
FULFILLMENT = (
    "When a fulfillment status is updated in AcmeCo, update the order status in BigCommerce"
)


def ok(resp: httpx2.Response) -> Any:
    assert resp.status_code < 400, f"{resp.request.method} {resp.request.url}: {resp.text}"
    return resp.json()


def push_quickstart(api: httpx2.Client) -> None:
    mgmt = httpx2.Client(base_url=str(api.base_url).rsplit("/2023-12", 1)[0], headers=api.headers)
    with mgmt:
        push(mgmt, EXAMPLES, release=True)


def workflow_ids(api: httpx2.Client) -> dict[str, str]:
    data = ok(api.get("/workflows"))["data"]
    return {w["name"]: w["workflowId"] for w in data}


def install_quickstart(api: httpx2.Client, username: str, receiver_url: str) -> dict[str, Any]:
    """Create ``username`` and install both quick-start workflows for them."""
    user_id = ok(api.post("/users", json={"username": username}))["userId"]
    integration = ok(api.get("/integrations", params={"userId": user_id}))["data"][0]
    credential = {
        "type": "bigcommerce",
        "data": {"storeHash": STORE_HASH, "accessToken": STORE_TOKEN},
    }
    installed = install_headless(
        api,
        user_id,
        integration["integrationId"],
        [credential],
        lambda _block, _field: f"{receiver_url}/acmeco/orders",
    )
    return {
        "userId": user_id,
        "integrationId": integration["integrationId"],
        "credentialId": installed.credential_ids[0],
        "installationId": installed.installation_id,
        "fields": installed.asked,
    }


def wait_until(what: str, check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def runs_of(api: httpx2.Client, workflow_id: str, user_id: str) -> list[dict[str, Any]]:
    logs = ok(api.get(f"/workflows/{workflow_id}/logs", params={"userId": user_id, "limit": 30}))
    runs: list[dict[str, Any]] = logs["data"]
    return runs


def settled(api: httpx2.Client, workflow_id: str, user_id: str, count: int) -> list[Any]:
    """Wait for ``count`` runs of the workflow to reach a terminal state."""

    def check() -> list[Any] | None:
        runs = runs_of(api, workflow_id, user_id)
        done = [r for r in runs if r["status"] in ("succeeded", "failed")]
        return runs if len(done) >= count else None

    result: list[Any] = wait_until(f"{count} finished runs", check)
    return result
