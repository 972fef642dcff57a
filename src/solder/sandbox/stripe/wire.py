"""Stripe's wire format: form-encoded parameters, the error body, list pages, signatures.

Errors are ``{"error": {"type", "message", "code"?, "param"?, "doc_url"?}}``; like Stripe, the
optional keys appear only when they apply.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from typing import Any
from urllib.parse import parse_qsl

Json = dict[str, Any]

DOCS = "https://stripe.com/docs/error-codes"
ID_ALPHABET = string.ascii_letters + string.digits


class StripeError(Exception):
    """An error answered in Stripe's shape. ``saved``: whether an idempotency key keeps it (Stripe
    keeps no result for a request that failed validation before the endpoint ran)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        saved: bool = True,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.saved = saved
        self.body: Json = {"type": type, "message": message, **extra}
        if code is not None:
            self.body.update(code=code, doc_url=f"{DOCS}#{code.replace('_', '-')}")
        if param is not None:
            self.body["param"] = param

    def as_json(self) -> Json:
        return {"error": self.body}


def missing(param: str) -> StripeError:
    return StripeError(
        400, f"Missing required param: {param}.", code="parameter_missing", param=param, saved=False
    )


def invalid(param: str, message: str, code: str = "parameter_invalid_string") -> StripeError:
    return StripeError(400, message, code=code, param=param, saved=False)


def no_such(kind: str, object_id: str, param: str = "id", status: int = 404) -> StripeError:
    return StripeError(
        status, f"No such {kind}: '{object_id}'", code="resource_missing", param=param
    )


def new_id(prefix: str, length: int = 14) -> str:
    return f"{prefix}_" + "".join(secrets.choice(ID_ALPHABET) for _ in range(length))


# --- form-encoded parameters -----------------------------------------------------------------

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def decode_form(body: str) -> Json:
    """``a=1&metadata[k]=v&items[0][x]=y&events[]=e`` as nested values; dicts keyed ``0..n``
    become lists (except under ``metadata``, whose keys are the user's)."""
    root: Json = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        match = _KEY.match(key)
        if match is None:
            raise invalid(key, f"Invalid parameter name: {key}")
        name, node = match.group(1), root
        for sub in re.findall(r"\[([^\[\]]*)\]", match.group(2)):
            child = node.get(name)
            if not isinstance(child, dict):
                child = node[name] = {}
            node, name = child, sub or str(len(child))
        node[name] = value
    return {k: listify(v, k == "metadata") for k, v in root.items()}


def listify(value: Any, keep: bool) -> Any:
    if not isinstance(value, dict):
        return value
    items = {k: v if keep else listify(v, k == "metadata") for k, v in value.items()}
    if not keep and items and all(k.isdigit() for k in items):
        return [items[k] for k in sorted(items, key=int)]
    return items


def reject_unknown(params: Json, allowed: set[str]) -> None:
    for name in params:
        if name not in allowed and name != "expand":
            raise StripeError(
                400,
                f"Received unknown parameter: {name}",
                code="parameter_unknown",
                param=name,
                saved=False,
            )


def integer(params: Json, name: str, default: int | None = None, low: int = 0) -> int | None:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise invalid(name, "Invalid integer: " + str(raw), "parameter_invalid_integer") from None
    if value < low:
        raise invalid(
            name, f"This value must be greater than or equal to {low}.", "parameter_invalid_integer"
        )
    return value


def boolean(params: Json, name: str, default: bool) -> bool:
    raw = params.get(name)
    if raw is None:
        return default
    if raw not in ("true", "false"):
        raise invalid(name, f"Invalid boolean: {raw}", "parameter_invalid_string")
    return bool(raw == "true")


def text(params: Json, name: str) -> str | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise invalid(name, f"Invalid string: {raw!r}")
    return raw


def merge_metadata(current: Json, params: Json) -> Json:
    """Stripe's rules: keys merge, ``metadata[k]=`` unsets ``k``, ``metadata=`` unsets all."""
    if "metadata" not in params:
        return current
    given = params["metadata"]
    if given == "":
        return {}
    if not isinstance(given, dict):
        raise invalid("metadata", "Invalid metadata: must be a hash")
    merged = {**current, **given}
    return {k: v for k, v in merged.items() if v != ""}


# --- list objects ----------------------------------------------------------------------------


def page(items: list[Json], params: Json, url: str) -> Json:
    """One page of ``items`` (newest first), by ``limit``, ``starting_after``, ``ending_before``."""
    limit = integer(params, "limit", 10, low=1)
    assert limit is not None
    if limit > 100:
        raise invalid(
            "limit",
            f"This value must be less than or equal to 100 (it currently is '{limit}').",
            "parameter_invalid_integer",
        )
    after, before = params.get("starting_after"), params.get("ending_before")
    if after and before:
        raise StripeError(
            400,
            "You may only specify one of these parameters: ending_before, starting_after.",
            saved=False,
        )
    ids = [item["id"] for item in items]
    kind = url.rsplit("/", 1)[-1].rstrip("s").replace("_", " ")
    if after:
        if after not in ids:
            raise no_such(kind, str(after), "starting_after", 400)
        rest = items[ids.index(after) + 1 :]
        chunk, has_more = rest[:limit], len(rest) > limit
    elif before:
        if before not in ids:
            raise no_such(kind, str(before), "ending_before", 400)
        rest = items[: ids.index(before)]
        chunk, has_more = rest[-limit:], len(rest) > limit
    else:
        chunk, has_more = items[:limit], len(items) > limit
    return {"object": "list", "data": chunk, "has_more": has_more, "url": url}


# --- webhook signatures ----------------------------------------------------------------------


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """``Stripe-Signature`` for ``body`` sent at ``timestamp``: ``t=...,v1=...``."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
