"""What each kind of leaf block does when a run reaches it.

A block gets its mapped input and a :class:`BlockCall` describing where it runs; it returns
its output (JSON) or raises a ``StepError``. Control blocks (``if``, ``branch``,
``iterate``) are walked by the runner; ``delay`` and ``stop`` compute their output here and
the runner acts on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from solder.apps import http as app_http
from solder.apps.base import PollingTrigger
from solder.destinations import sending
from solder.engine import code, formatters, outbound, ratelimit, sql
from solder.engine.definitions import (
    AnyBlock,
    AppActionBlock,
    AppEventTrigger,
    CodeBlock,
    DelayBlock,
    DestinationBlock,
    FormatterBlock,
    HttpBlock,
    SqlBlock,
    StopBlock,
    StreamDataBlock,
)
from solder.errors import FatalError, RateLimited, ReconnectNeeded
from solder.runtime.services import Services
from solder.store.types import iso, utcnow

MAX_DELAY = timedelta(days=365)


@dataclass(frozen=True)
class BlockCall:
    services: Services
    block: AnyBlock
    run_id: str
    step_id: str
    workflow_id: str
    user_id: str
    install: Any
    payload: Any
    credential: Callable[..., dict[str, Any]]
    """``credential(app, refresh=False)``: the user's credential for ``app``; ``refresh=True``
    gets a new OAuth2 access token first (the app refused the one it had)."""
    pause: Callable[[str, float], None] | None = None
    """``pause(app, seconds)``: the app answered 429; hold the connection's runs."""


def run_block(call: BlockCall, inp: dict[str, Any]) -> Any:
    block = call.block
    if isinstance(block, AppEventTrigger):
        app = call.services.apps[block.app]
        trigger = app.triggers[block.event]
        if isinstance(trigger, PollingTrigger):
            return call.payload  # the poll fetched the whole record
        ctx = call.services.app_context(app, call.credential(app.key))
        return trigger.enrich(ctx, call.payload)
    if block.type in ("customEvent", "webhook", "schedule", "installation"):
        return call.payload
    if isinstance(block, StreamDataBlock):
        return outbound.stream_data(call, inp)
    if isinstance(block, HttpBlock):
        return outbound.http_request(call, inp)
    if isinstance(block, AppActionBlock):
        return app_action(call, block, inp)
    if isinstance(block, SqlBlock):
        return sql_write(call, inp)
    if isinstance(block, DestinationBlock):
        return sending.send(
            block.destination,
            inp,
            call.services.settings.destination_connections,
            run_id=call.run_id,
            step_id=call.step_id,
            workflow_id=call.workflow_id,
            user_id=call.user_id,
            credential=lambda app: call.credential(app),
            endpoints=call.services.settings.app_base_urls,
        )
    if isinstance(block, CodeBlock):
        cfg = call.services.settings.engine
        result = code.run_code(
            block.code,
            inp,
            timeout_ms=cfg.code_timeout_ms,
            memory_bytes=cfg.code_memory_mb * 2**20,
        )
        return result.output
    if isinstance(block, FormatterBlock):
        return formatters.run(block.operation, inp)
    if isinstance(block, DelayBlock):
        return delay(inp)
    if isinstance(block, StopBlock):
        return stop(inp)
    raise FatalError(f"block type {block.type!r} cannot run here")  # pragma: no cover


SIDE_EFFECTS = (StreamDataBlock, AppActionBlock, HttpBlock, SqlBlock, DestinationBlock)


def has_side_effects(block: AnyBlock) -> bool:
    """Whether running the block again could change something outside Solder.

    Triggers only read (an app trigger fetches the record it was told about), and logic,
    code and formatters compute, so a crash that loses their result costs a repeat of a
    read or a computation; Stream Data, HTTP requests, app actions, SQL and destinations write.
    """
    return isinstance(block, SIDE_EFFECTS)


def app_action(call: BlockCall, block: AppActionBlock, inp: dict[str, Any]) -> Any:
    app = call.services.apps[block.app]
    action = app.actions[block.action]
    try:
        model = action.input_model.model_validate(inp)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise FatalError(f"inputs.{where}: {first['msg']}", field=where) from exc
    with app_http.watching() as answers:
        try:
            ctx = call.services.app_context(app, call.credential(app.key))
            try:
                return action.run(ctx, model)
            except ReconnectNeeded:
                if not app.is_oauth:
                    raise
            # a 401 on an OAuth2 token that looked fresh (revoked, expired early): one refresh
            ctx = call.services.app_context(app, call.credential(app.key, refresh=True))
            return action.run(ctx, model)
        except RateLimited as exc:
            if call.pause is not None and exc.retry_after is not None:
                call.pause(app.key, exc.retry_after)  # the connection's other runs wait too
            raise
        finally:
            # the app's headers said the quota is spent: hold the connection before a 429
            spent = ratelimit.quota_spent(app, answers[-1].headers) if answers else None
            if spent and call.pause is not None:
                call.pause(app.key, spent)


def sql_write(call: BlockCall, inp: dict[str, Any]) -> Any:
    """Rows into a table of a database named in the server's ``sql_connections`` setting.

    The connection is named, not given as a URL, so the database password stays in the
    server's settings and never enters a workflow definition or a run's stored input.
    """
    name = inp.get("connection")
    connections = call.services.settings.sql_connections
    if not isinstance(name, str) or name not in connections:
        known = ", ".join(sorted(connections)) or "none configured"
        raise FatalError(
            f"inputs.connection: {name!r} is not a configured SQL connection ({known})",
            field="connection",
        )
    table = inp.get("table")
    if not isinstance(table, str) or not table:
        raise FatalError("inputs.table: required", field="table")
    rows = inp.get("rows")
    if isinstance(rows, dict):
        rows = [rows]
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise FatalError("inputs.rows: must be an object or a list of objects", field="rows")
    mode = inp.get("mode", "insert")
    if mode not in ("insert", "upsert"):
        raise FatalError(f"inputs.mode: {mode!r} is not insert or upsert", field="mode")
    keys = inp.get("keyColumns")
    return sql.write_rows(
        connections[name].get_secret_value(),
        table,
        rows,
        mode=mode,
        key_columns=keys,
        schema=inp.get("schema"),
        batch_size=inp.get("batchSize", sql.DEFAULT_BATCH),
    )


def delay(inp: dict[str, Any]) -> dict[str, Any]:
    """When the run goes on: ``seconds`` from now, or the time ``until`` (ISO 8601)."""
    now = utcnow()
    if inp.get("until") is not None:
        raw = inp["until"]
        try:
            at = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        except ValueError:
            raise FatalError(
                f"inputs.until: {raw!r} is not an ISO 8601 date-time", field="until"
            ) from None
        if at.tzinfo is None:
            raise FatalError(f"inputs.until: {raw!r} has no time zone", field="until")
    else:
        seconds = inp.get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise FatalError(
                "inputs.seconds: must be a number of seconds, 0 or more (or give inputs.until)",
                field="seconds",
            )
        at = now + timedelta(seconds=seconds)
    if at - now > MAX_DELAY:
        raise FatalError("inputs: a delay may last at most 365 days", field="seconds")
    return {"until": iso(max(at, now))}


def delay_until(output: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(output["until"]).replace("Z", "+00:00"))


def stop(inp: dict[str, Any]) -> dict[str, Any]:
    status = inp.get("status", "succeeded")
    if status not in ("succeeded", "failed"):
        raise FatalError(f"inputs.status: {status!r} is not succeeded or failed", field="status")
    message = inp.get("message")
    if message is None:
        message = "stopped by the workflow"
    return {"status": status, "message": str(message)}
