"""``outputOverride``: where one installation's workflow output goes instead.

Alloy's frontend SDK takes ``install({outputOverride})`` so that an ISV can send one
installation's output somewhere other than what the workflow names, typically its own
per-tenant receiver in place of the Stream Data URL. Solder reads it as an object with two
keys, both optional:

- ``url``: the URL every Stream Data block of the installed workflows posts to, in place of
  its ``inputs.url``;
- ``headers``: extra request headers for those posts, over the block's own ``inputs.headers``
  (the identifying ``X-Alloy-*`` headers, the signature and ``Idempotency-Key`` are always
  Solder's).

Anything else is refused, naming the key. It is checked when the installation starts (the URL
also against the egress guard, so an internal address is refused then rather than at its
first run), stored with the installation, copied onto each installed copy, and applied by the
runner each time a Stream Data block runs; the guard checks the URL again at connect time.
Installing again (edit, update) without one keeps the copy's override; ``{}`` clears it.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from solder.errors import BadInput
from solder.security import egress

if TYPE_CHECKING:
    from solder.runtime.services import Services

KEYS = ("url", "headers")
FIELD = "outputOverride"
MAX_URL = 2048
MAX_HEADERS = 20
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$")
RESERVED = ("host", "content-length", "content-type", "idempotency-key", "x-alloy-")


def _bad(where: str, message: str) -> BadInput:
    return BadInput(f"{where}: {message}", field=where)


def _url(value: Any, policy: egress.EgressPolicy, resolver: egress.Resolver) -> str:
    where = f"{FIELD}.url"
    if not isinstance(value, str) or not value:
        raise _bad(where, "must be an http(s) URL")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(value) > MAX_URL:
        raise _bad(where, "must be an http(s) URL with a host, 2048 characters at most")
    if any(c.isspace() for c in value):
        raise _bad(where, "must not contain spaces")
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = resolver(host, port)
    except OSError:
        addresses = []  # a name that does not resolve yet: the runs will say so
    try:
        for address in addresses:
            policy.check_address(host, address)
    except egress.EgressRefused as exc:
        raise _bad(where, f"refused: {exc.reason}") from exc
    return value


def _headers(value: Any) -> dict[str, str]:
    where = f"{FIELD}.headers"
    if not isinstance(value, dict):
        raise _bad(where, "must be an object of header names to text")
    if len(value) > MAX_HEADERS:
        raise _bad(where, f"{MAX_HEADERS} headers at most")
    out: dict[str, str] = {}
    for name, text in value.items():
        at = f"{where}.{name}"
        if not HEADER_NAME.match(name):
            raise _bad(at, "not a header name")
        if name.lower().startswith(RESERVED):
            raise _bad(at, "set by Solder; it cannot be overridden")
        if not isinstance(text, str) or "\r" in text or "\n" in text or len(text) > 4096:
            raise _bad(at, "must be text on one line, 4096 characters at most")
        out[name] = text
    return out


def check(
    value: Any,
    policy: egress.EgressPolicy,
    *,
    streams: bool = True,
    resolver: egress.Resolver = egress.system_resolver,
) -> dict[str, Any] | None:
    """The override (an object, or its JSON text as the modal's query carries it), checked
    and normalised: ``None`` when none was given (a reinstall keeps the copy's override), ``{}``
    for an empty one (a reinstall clears it). ``streams``: whether the workflows it is for
    have a Stream Data block at all (an override with something to override is refused
    otherwise)."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else None
        except ValueError as exc:
            raise _bad(FIELD, "not valid JSON") from exc
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _bad(FIELD, "must be a JSON object")
    unknown = sorted(set(value) - set(KEYS))
    if unknown:
        raise _bad(f"{FIELD}.{unknown[0]}", f"unknown key; the keys are {', '.join(KEYS)}")
    out: dict[str, Any] = {}
    if value.get("url") is not None:
        out["url"] = _url(value["url"], policy, resolver)
    if value.get("headers") is not None:
        out["headers"] = _headers(value["headers"])
    if out and not streams:
        raise _bad(
            FIELD, "none of these workflows has a Stream Data block whose output it could send"
        )
    return out


def check_with(services: Services, value: Any, *, streams: bool) -> dict[str, Any] | None:
    """:func:`check` against the server's egress settings."""
    policy = egress.EgressPolicy.from_settings(services.settings.egress)
    return check(value, policy, streams=streams)


def apply(inp: dict[str, Any], override: dict[str, Any] | None) -> dict[str, Any]:
    """A Stream Data block's mapped input with the installation's override applied."""
    if not override:
        return inp
    out = dict(inp)
    if "url" in override:
        out["url"] = override["url"]
    if "headers" in override:
        given = inp.get("headers")
        out["headers"] = {**(given if isinstance(given, dict) else {}), **override["headers"]}
    return out
