"""Each connection's calls to an app, spaced to the rate the app declares, across all workers.

An app may declare ``provider.rate_limit.per_second`` (and ``burst``). Every call an app makes
with one credential (an action, a poll, a webhook subscription) first takes a turn here: the
generic cell rate algorithm (GCRA) keeps one timestamp per credential, ``rate_tat``, the
theoretical time of its next call, moved on by one interval per call in a transaction on the
credential's row, so every worker process shares it through the database. A call whose turn is
less than ``MAX_SLEEP`` away waits for it; one further away is not made and raises
``RateLimited``, so its run waits in the queue instead of holding a worker. Other credentials
(other users' connections to the same app) have their own timestamps and never wait for it.

An app may also declare the headers that tell how much of its quota is left
(``remaining_header``, a count or, with ``remaining_format: "used/size"``, Shopify's
``32/40``; and ``reset_header`` with ``reset_unit``: seconds, milliseconds, or a Unix time).
When an answer says nothing is left, ``quota_spent`` gives how long to hold the connection,
and the engine pauses it as after a 429, before the app has to refuse anything.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import timedelta

from sqlalchemy import select, update

from solder.apps.base import App
from solder.errors import RateLimited
from solder.runtime.services import Services
from solder.store.tables import credentials
from solder.store.types import utcnow

MAX_SLEEP = 2.0
"""The longest a worker waits in line for a call; beyond, the run waits in the queue."""

SPENT_WAIT = 1.0
"""How long to hold a connection whose quota is spent when the app gives no reset time."""

SPENT_WAIT_MAX = 3600.0
"""The longest hold a reset header can ask for (a wrong unit must not stop a connection)."""


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _remaining(value: str | None, form: str) -> float | None:
    """What is left of the quota: a count, or ``size - used`` from ``"used/size"``."""
    if form != "used/size" or value is None:
        return _number(value)
    before, _, after = value.partition("/")
    used, size = _number(before.strip()), _number(after.strip())
    return None if used is None or size is None else size - used


def quota_spent(app: App, headers: Mapping[str, str]) -> float | None:
    """Seconds to hold the connection if ``headers`` say its quota is used up, else None."""
    facts = app.provider.get("rate_limit") or {}
    name = facts.get("remaining_header")
    form = facts.get("remaining_format", "count")
    remaining = _remaining(headers.get(name), form) if name else None
    if remaining is None or remaining > 0:
        return None
    reset = _number(headers.get(facts["reset_header"])) if "reset_header" in facts else None
    if reset is None:
        return SPENT_WAIT
    unit = facts.get("reset_unit", "s")
    seconds = {"s": reset, "ms": reset / 1000, "epoch": reset - time.time()}[unit]
    return min(max(seconds, 0.0), SPENT_WAIT_MAX)


def take_turn(services: Services, app: App, credential_id: str) -> float:
    """Wait for this connection's next turn to call ``app``; the seconds waited."""
    facts = app.provider.get("rate_limit") or {}
    per_second = facts.get("per_second")
    if not per_second:
        return 0.0
    interval = timedelta(seconds=1.0 / float(per_second))
    burst = int(facts.get("burst", 1))
    with services.engine.begin() as conn:
        tat = conn.execute(
            select(credentials.c.rate_tat)
            .where(credentials.c.id == credential_id)
            .with_for_update()
        ).scalar_one_or_none()
        now = utcnow()
        tat = max(tat or now, now)
        wait = (tat - (burst - 1) * interval - now).total_seconds()
        if wait > MAX_SLEEP:
            raise RateLimited(
                f"{app.key}: this connection is over the app's rate of {per_second}/s",
                retry_after=wait,
            )
        conn.execute(
            update(credentials)
            .where(credentials.c.id == credential_id)
            .values(rate_tat=tat + interval)
        )
    if wait > 0:
        time.sleep(wait)
    return max(wait, 0.0)
