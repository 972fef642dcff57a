"""Each connection's calls to an app, spaced to the rate the app declares, across all workers.

An app may declare ``provider.rate_limit.per_second`` (and ``burst``). Every call an app makes
with one credential (an action, a poll, a webhook subscription) first takes a turn here: the
generic cell rate algorithm (GCRA) keeps one timestamp per credential, ``rate_tat``, the
theoretical time of its next call, moved on by one interval per call in a transaction on the
credential's row, so every worker process shares it through the database. A call whose turn is
less than ``MAX_SLEEP`` away waits for it; one further away is not made and raises
``RateLimited``, so its run waits in the queue instead of holding a worker. Other credentials
(other users' connections to the same app) have their own timestamps and never wait for it.
"""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import select, update

from solder.apps.base import App
from solder.errors import RateLimited
from solder.runtime.services import Services
from solder.store.tables import credentials
from solder.store.types import utcnow

MAX_SLEEP = 2.0
"""The longest a worker waits in line for a call; beyond, the run waits in the queue."""


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
