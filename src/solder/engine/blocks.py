"""What each kind of block does when a run reaches it.

A block gets its mapped input and a :class:`BlockCall` describing where it runs; it returns
its output (JSON) or raises a ``StepError``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from solder.apps import http
from solder.engine.definitions import (
    AnyBlock,
    AppActionBlock,
    AppEventTrigger,
    CustomEventTrigger,
    StreamDataBlock,
    WebhookTrigger,
)
from solder.errors import FatalError
from solder.runtime.services import Services
from solder.security import signing


@dataclass(frozen=True)
class BlockCall:
    services: Services
    block: AnyBlock
    run_id: str
    workflow_id: str
    user_id: str
    install: Any
    payload: Any
    credential: Callable[[str], dict[str, Any]]


def run_block(call: BlockCall, inp: dict[str, Any]) -> Any:
    block = call.block
    if isinstance(block, CustomEventTrigger | WebhookTrigger):
        return call.payload
    if isinstance(block, AppEventTrigger):
        app = call.services.apps[block.app]
        ctx = call.services.app_context(app, call.credential(app.key))
        return app.triggers[block.event].enrich(ctx, call.payload)
    if isinstance(block, StreamDataBlock):
        return stream_data(call, inp)
    if isinstance(block, AppActionBlock):
        return app_action(call, block, inp)
    raise FatalError(f"block type {block.type!r} cannot run here")  # pragma: no cover


def has_side_effects(block: AnyBlock) -> bool:
    """Whether running the block again could change something outside Solder.

    Triggers only read (an app trigger fetches the record it was told about), so a crash that
    loses their result costs a repeat of a read; Stream Data and app actions write.
    """
    return isinstance(block, StreamDataBlock | AppActionBlock)


def identity_headers(call: BlockCall) -> dict[str, str]:
    return {
        "X-Alloy-WorkflowId": call.workflow_id,
        "X-Alloy-UserId": call.user_id,
        "X-Alloy-BlockName": call.block.name or call.block.key,
        "X-Alloy-BlockType": call.block.type,
        "X-Alloy-ExecutionUuid": call.run_id,
    }


def stream_data(call: BlockCall, inp: dict[str, Any]) -> Any:
    url = inp.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise FatalError("inputs.url: must be an http(s) URL", field="url")
    body = json.dumps(inp.get("body", call.payload), separators=(",", ":")).encode()
    extra = inp.get("headers") or {}
    if not isinstance(extra, dict):
        raise FatalError("inputs.headers: must be an object", field="headers")
    headers = {str(k): str(v) for k, v in extra.items()}
    headers |= identity_headers(call)
    headers["Content-Type"] = "application/json"
    headers["Idempotency-Key"] = f"{call.run_id}:{call.block.id}"
    headers[signing.SIGNATURE_HEADER] = signing.sign(call.services.signing_key, "POST", url, body)
    resp = http.send(call.services.http, "POST", url, "stream data", content=body, headers=headers)
    try:
        returned: Any = resp.json()
    except (json.JSONDecodeError, ValueError):
        returned = resp.text[:2000]
    return {"statusCode": resp.status_code, "body": returned}


def app_action(call: BlockCall, block: AppActionBlock, inp: dict[str, Any]) -> Any:
    app = call.services.apps[block.app]
    action = app.actions[block.action]
    try:
        model = action.input_model.model_validate(inp)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise FatalError(f"inputs.{where}: {first['msg']}", field=where) from exc
    ctx = call.services.app_context(app, call.credential(app.key))
    return action.run(ctx, model)
