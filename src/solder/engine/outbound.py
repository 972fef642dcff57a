"""Blocks that send HTTP requests to URLs a workflow names: Stream Data and HTTP request.

Their URLs come from the ISV's definition, an end user's field or a mapping, so they go
through the egress guard (``solder.security.egress``): an address that is loopback, private,
link-local or a cloud metadata service is refused at connect time unless the server's
settings allow it. Requests that may be repeated (every attempt of a block after a crash or
a retry) carry ``Idempotency-Key: <run id>:<step id>``, the same on every attempt.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

from solder.apps import http
from solder.errors import FatalError
from solder.security import signing

if TYPE_CHECKING:
    from solder.engine.blocks import BlockCall

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
MAX_RESPONSE_TEXT = 100_000


def alloy_headers(
    workflow_id: str, user_id: str, block_name: str, block_type: str, execution_id: str
) -> dict[str, str]:
    """The identifying headers of every request Solder sends for a run (the api surface's)."""
    return {
        "X-Alloy-WorkflowId": workflow_id,
        "X-Alloy-UserId": user_id,
        "X-Alloy-BlockName": block_name,
        "X-Alloy-BlockType": block_type,
        "X-Alloy-ExecutionUuid": execution_id,
    }


def identity_headers(call: BlockCall) -> dict[str, str]:
    block = call.block
    return alloy_headers(call.workflow_id, call.user_id, block.name or block.key, block.type,
                         call.run_id)  # fmt: skip


def _url(inp: dict[str, Any]) -> str:
    url = inp.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise FatalError("inputs.url: must be an http(s) URL", field="url")
    return url


def _header_map(value: Any, field: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise FatalError(f"inputs.{field}: must be an object", field=field)
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def _returned(resp: Any) -> Any:
    try:
        return resp.json()
    except (json.JSONDecodeError, ValueError):
        return resp.text[:MAX_RESPONSE_TEXT]


def stream_data(call: BlockCall, inp: dict[str, Any]) -> Any:
    url = _url(inp)
    body = json.dumps(inp.get("body", call.payload), separators=(",", ":")).encode()
    headers = _header_map(inp.get("headers"), "headers")
    headers |= identity_headers(call)
    headers["Content-Type"] = "application/json"
    headers["Idempotency-Key"] = f"{call.run_id}:{call.step_id}"
    headers[signing.SIGNATURE_HEADER] = signing.sign(call.services.signing_key, "POST", url, body)
    egress = call.services.egress
    resp = http.fetch(
        lambda: egress.send_once("POST", url, headers=headers, content=body), url, "stream data"
    )
    return {"statusCode": resp.status_code, "body": _returned(resp)}


def _auth(call: BlockCall, auth: Any, url: str) -> tuple[str, dict[str, str]]:
    """The URL to call and the headers that authenticate it, from ``inputs.auth``."""
    if auth is None:
        return url, {}
    if not isinstance(auth, dict):
        raise FatalError("inputs.auth: must be an object", field="auth")
    kind = auth.get("type", "none")
    if kind == "none":
        return url, {}
    if kind == "basic":
        user, password = auth.get("username"), auth.get("password")
        if not isinstance(user, str) or not isinstance(password, str):
            raise FatalError("inputs.auth: basic needs username and password", field="auth")
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        return url, {"Authorization": f"Basic {token}"}
    if kind == "bearer":
        bearer = auth.get("token")
        if not isinstance(bearer, str) or not bearer:
            raise FatalError("inputs.auth.token: required for bearer auth", field="auth.token")
        return url, {"Authorization": f"Bearer {bearer}"}
    if kind == "credential":
        return _credential_auth(call, auth, url)
    raise FatalError(
        f"inputs.auth.type: {kind!r} is not one of none, basic, bearer, credential",
        field="auth.type",
    )


def _credential_auth(call: BlockCall, auth: dict[str, Any], url: str) -> tuple[str, dict[str, str]]:
    """The installation's own credential for an app, sent only to that app's API.

    A relative URL is resolved under the account's API root; an absolute one must lie under
    it, so a mapping cannot send the user's token to another host.
    """
    key = auth.get("app")
    app = call.services.apps.get(key) if isinstance(key, str) else None
    if app is None or app.api_root is None or app.auth_headers is None:
        raise FatalError(
            f"inputs.auth.app: {key!r} is not an app whose credential an HTTP block can use",
            field="auth.app",
        )
    ctx = call.services.app_context(app, call.credential(app.key))
    root = app.api_root(ctx).rstrip("/")
    if url.startswith("/"):
        url = root + url
    elif url != root and not url.startswith(root + "/"):
        raise FatalError(
            f"inputs.url: {url} is outside {app.name}'s API ({root}); the credential is only "
            "sent there",
            field="url",
        )
    return url, app.auth_headers(ctx)


def http_request(call: BlockCall, inp: dict[str, Any]) -> Any:
    method = str(inp.get("method") or "GET").upper()
    if method not in METHODS:
        raise FatalError(f"inputs.method: {method!r} is not one of {', '.join(METHODS)}",
                         field="method")  # fmt: skip
    raw_url = inp.get("url")
    auth = inp.get("auth")
    trusted = isinstance(auth, dict) and auth.get("type") == "credential"
    relative = trusted and isinstance(raw_url, str) and raw_url.startswith("/")
    url, auth_headers = _auth(call, auth, str(raw_url) if relative else _url(inp))
    headers = _header_map(inp.get("headers"), "headers")
    query = inp.get("query")
    if query is not None and not isinstance(query, dict):
        raise FatalError("inputs.query: must be an object", field="query")
    params = {str(k): v if isinstance(v, list) else str(v) for k, v in (query or {}).items()}
    kwargs: dict[str, Any] = {"params": params}
    body = inp.get("body")
    if body is not None and method not in ("GET", "HEAD"):
        if isinstance(body, str):
            kwargs["content"] = body.encode()
        else:
            kwargs["content"] = json.dumps(body, separators=(",", ":")).encode()
            headers.setdefault("Content-Type", "application/json")
    headers |= identity_headers(call)
    headers |= auth_headers
    headers["Idempotency-Key"] = f"{call.run_id}:{call.step_id}"
    # with the user's credential the URL lies under the app's configured API root: a URL
    # of the server's settings, not of the workflow, so the egress guard does not apply
    client = call.services.http if trusted else call.services.egress
    resp = http.send(client, method, url, f"http request {method} {url}", headers=headers,
                     **kwargs)  # fmt: skip
    return {
        "statusCode": resp.status_code,
        "headers": dict(resp.headers),
        "body": _returned(resp),
    }
