"""Slack's Events API in: one request URL for the ISV's Slack app, ``POST /hooks/slack/events``.

Slack posts every event of every workspace that installed the app here, signed with the app's
signing secret (``SOLDER_SLACK_SIGNING_SECRET``; without it the URL is 404). A request that is
unsigned, wrongly signed or more than five minutes old is refused (401). The
``url_verification`` challenge is answered; an ``event_callback`` starts a run of every active
installed workflow triggered by a matching Slack event whose workspace (``teamId`` in its
state) is the event's ``team_id``, deduplicated per workflow by Slack's ``event_id`` (Slack
retries a delivery it thinks failed).
"""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from solder.api.auth import services_of
from solder.apps import slack
from solder.apps.base import WebhookTrigger
from solder.errors import MalformedBody, NotFound, Unauthorized
from solder.runtime.services import Services
from solder.store import installs, runs

router = APIRouter(tags=["app webhooks"])


@router.post("/hooks/slack/events")
async def slack_events(request: Request) -> dict[str, Any]:
    services = services_of(request)
    secret = services.settings.slack_signing_secret
    if secret is None or "slack" not in services.apps:
        raise NotFound("no Slack app is configured (SOLDER_SLACK_SIGNING_SECRET)")
    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    problem = slack.signature_problem(secret.get_secret_value(), headers, body, time.time())
    if problem is not None:
        raise Unauthorized(problem)
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedBody("body: malformed JSON") from exc
    if not isinstance(payload, dict):
        raise MalformedBody("body: expected a JSON object")
    if payload.get("type") == "url_verification":
        return {"challenge": str(payload.get("challenge", ""))}
    if payload.get("type") != "event_callback":
        return {"received": True, "ignored": True}
    return await run_in_threadpool(_start, services, payload)


def _start(services: Services, payload: dict[str, Any]) -> dict[str, Any]:
    app = services.apps["slack"]
    team = payload.get("team_id")
    event_id = payload.get("event_id")
    started: list[str] = []
    duplicate = False
    with services.engine.begin() as conn:
        for install in installs.subscribed_installs(conn, app.key):
            if not team or (install.state or {}).get("teamId") != team:
                continue
            event_key = install.trigger_key.split(":", 2)[2]
            trigger = app.triggers.get(event_key)
            if not isinstance(trigger, WebhookTrigger) or not trigger.matches(payload):
                continue
            _, created, seen = runs.add_app_event(
                conn, install, app.key, event_key, payload, event_id
            )
            started += created
            duplicate = duplicate or seen
    if started:
        services.metrics.accepted("app_webhook", len(started))
        services.dispatch.ready(started)
    return {"received": True, "runs": len(started), "duplicate": duplicate}
