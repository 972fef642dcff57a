"""What the builder API tests share: a management client and the quick start pushed to it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2
import yaml

from tests.conftest import Server
from tests.flows import EXAMPLES, ok

QUICKSTART_FILES = (EXAMPLES / "events.yaml", EXAMPLES / "bigcommerce.yaml")


@contextmanager
def manager(server: Server) -> Iterator[httpx2.Client]:
    """A client on the server's root (``/manage/...``) with the development key."""
    with server.client(prefix="") as client:
        yield client


def quickstart(mgmt: httpx2.Client) -> dict[str, str]:
    """Push the quick start's event and integration as drafts; its workflows' ids by key."""
    events, integration = (yaml.safe_load(p.read_text()) for p in QUICKSTART_FILES)
    ok(mgmt.put("/manage/events", json=events))
    pushed = ok(mgmt.put("/manage/integrations", json=integration))
    return {w["key"]: w["workflowId"] for w in pushed["workflows"]}


def refused(resp: httpx2.Response, field: str) -> dict[str, Any]:
    """The 422 answer, checked to name ``field``."""
    assert resp.status_code == 422, resp.text
    body: dict[str, Any] = resp.json()
    assert body["field"] == field, body
    assert field in body["message"], body
    return body
