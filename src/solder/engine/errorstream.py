"""The error stream: every failed run, POSTed in real time to the ISV's webhook.

A notice is stored in the transaction that fails the run (``notice``), then delivered by the
background loop (``deliver_due``): signed like Stream Data (``X-Alloy-Signature`` over method,
URL and body) with the ``X-Alloy-*`` identifying headers, and retried on ``SCHEDULE`` until
the webhook answers 2xx or the schedule runs out. The webhook is set per environment with
``PUT /manage/settings`` (``errorWebhookUrl``); without one, notices are marked ``skipped``.

The second target, when the environment sets ``errorEventBridge``, is an EventBridge bus: a
notice of kind ``error_bus`` is stored beside the webhook's, with its own attempts on the same
schedule, and put on the bus with the payload as its detail (``destinations.eventbridge``).
The bus's credentials are a named server connection, never in the environment's settings.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from solder.apps import http
from solder.config import Settings
from solder.destinations import eventbridge
from solder.engine.outbound import alloy_headers
from solder.errors import BadInput, SolderError
from solder.runtime.metrics import DeliveryOutcome
from solder.runtime.services import Services
from solder.security import signing
from solder.store import outbox
from solder.store.types import iso, utcnow

log = logging.getLogger("solder.errorstream")

SCHEDULE = (10, 30, 120, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 24 * 3600)
"""Seconds to wait after each failed attempt; after the last, the notice is given up."""
HOLD = timedelta(seconds=60)
"""How long one process holds a notice it is delivering."""
WEBHOOK, BUS = "error", "error_bus"
TARGETS = {BUS: "eventbridge"}
"""The target an outbox kind is shown as; every other kind goes to the webhook."""


def check_bus_connection(name: str, settings: Settings) -> None:
    """Refuse a bus connection the server does not have (named, its URL never shown)."""
    found = settings.destination_connections.get(name)
    if found is None or not found.get_secret_value().startswith("eventbridge://"):
        known = sorted(
            k
            for k, v in settings.destination_connections.items()
            if v.get_secret_value().startswith("eventbridge://")
        )
        raise BadInput(
            f"errorEventBridge.connection: {name!r} is not an eventbridge:// connection in "
            f"the server's destination_connections ({', '.join(known) or 'none configured'})",
            field="errorEventBridge.connection",
        )


def notice(
    conn: Connection, *, env: str, run_id: str, user_id: str, workflow_id: str,
    block: dict[str, Any], message: str,
) -> None:  # fmt: skip
    """Store the notice of a failed run (call inside the transaction that fails it)."""
    payload = {
        "workflowId": workflow_id,
        "userId": user_id,
        "executionId": run_id,
        "block": block.get("name") or block.get("key"),
        "blockId": block.get("id"),
        "blockType": block.get("type"),
        "message": message,
        "errorOccurredAt": iso(utcnow()),
    }
    kinds = [WEBHOOK]
    if outbox.settings_of(conn, env).get("errorEventBridge"):
        kinds.append(BUS)
    for kind in kinds:
        outbox.add(conn, env=env, kind=kind, run_id=run_id, user_id=user_id, payload=payload)


def deliver_due(services: Services, now: datetime | None = None, limit: int = 50) -> int:
    """Deliver the notices due at ``now``; return how many attempts were made."""
    now = now or utcnow()
    with services.reader.connect() as conn:
        due = outbox.due(conn, now, limit)
    made = 0
    settings: dict[str, dict[str, Any]] = {}
    for row in due:
        with services.engine.begin() as conn:
            if not outbox.take(conn, row.id, row.next_attempt_at, now + HOLD):
                continue
            if row.environment not in settings:
                settings[row.environment] = outbox.settings_of(conn, row.environment)
        found = settings[row.environment]
        target = found.get("errorEventBridge" if row.kind == BUS else "errorWebhookUrl")
        if not target:
            with services.engine.begin() as conn:
                outbox.settle(conn, row.id, status="skipped", attempts=row.attempts)
            continue
        made += 1
        if row.kind == BUS:
            error = _put_on_bus(services, dict(target), row.payload)
        else:  # failed runs and credential notices go to the webhook
            error = _post(services, str(target), row.payload)
        attempts = row.attempts + 1
        gave_up = error is not None and attempts > len(SCHEDULE)
        outcome: DeliveryOutcome = "ok" if error is None else "failed" if gave_up else "retry"
        services.metrics.delivery("error_stream", None, outcome)
        with services.engine.begin() as conn:
            if error is None:
                outbox.settle(conn, row.id, status="delivered", attempts=attempts)
            elif attempts > len(SCHEDULE):
                outbox.settle(conn, row.id, status="failed", attempts=attempts, error=error)
                log.error("error stream: gave up on notice %s: %s", row.id, error)
            else:
                at = now + timedelta(seconds=SCHEDULE[attempts - 1])
                outbox.settle(conn, row.id, status="pending", attempts=attempts,
                              next_attempt_at=at, error=error)  # fmt: skip
                log.warning("error stream: attempt %d failed, again at %s: %s", attempts,
                            iso(at), error)  # fmt: skip
    return made


def _post(services: Services, url: str, payload: dict[str, Any]) -> str | None:
    """POST one notice; return None when the webhook took it, else why not."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = alloy_headers(
        str(payload.get("workflowId", "")),
        str(payload.get("userId", "")),
        str(payload.get("block") or ""),
        str(payload.get("blockType") or ""),
        str(payload.get("executionId", "")),
    )
    headers["Content-Type"] = "application/json"
    headers[signing.SIGNATURE_HEADER] = signing.sign(services.signing_key, "POST", url, body)
    try:
        http.send(services.egress, "POST", url, "error stream", content=body, headers=headers)
    except SolderError as exc:
        return exc.message
    return None


def _put_on_bus(services: Services, bus: dict[str, Any], payload: dict[str, Any]) -> str | None:
    """Put one notice on the environment's bus; return None when it went on, else why not."""
    name = str(bus.get("connection", ""))
    found = services.settings.destination_connections.get(name)
    if found is None:
        return f"errorEventBridge.connection: {name!r} is no longer a destination connection"
    try:
        eventbridge.put_detail(
            found.get_secret_value(),
            name,
            source=str(bus.get("source") or "solder"),
            detail_type=str(bus.get("detailType") or "Workflow Failed"),
            bus=str(bus.get("eventBus") or "default"),
            detail=payload,
        )
    except SolderError as exc:
        return exc.message
    return None
