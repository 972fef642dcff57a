"""Passthrough: one request to an app's own API, made with a user's stored credential.

The wire shape is Alloy's ``POST /passthrough?credentialId=...`` with
``{method, path, body, query, extraHeaders}`` (docs.runalloy.com/embedded/passthrough-api).
Alloy's docs say ``body``, ``query`` and ``extraHeaders`` may be "stringified JSON"; both the
string and the plain JSON value are accepted here.

Checked before anything is sent, each refusal a 400 naming the field (``NotAllowed``):

* ``method``: GET, POST, PUT, PATCH or DELETE (any case);
* ``path``: a path under the account's API root (``App.api_root``, else the app's base URL),
  e.g. ``/v2/orders`` for BigCommerce; never a URL (scheme, ``//host``, backslashes), no
  ``..`` segment (also percent-encoded), no query or fragment (``query`` carries those), no
  spaces or control characters. The joined URL must still have the root's scheme, host, port
  and path prefix, so the credential only ever goes to the app;
* ``query``: an object whose values are strings, numbers, booleans or lists of those (a list
  repeats the key); booleans are sent as ``true``/``false``;
* ``extraHeaders``: an object of header names to strings (numbers and booleans are turned into
  text); names the app's auth sets (for BigCommerce ``X-Auth-Token`` and ``Accept``),
  ``Authorization``, ``Host``, ``Content-Length`` and hop-by-hop headers are refused as
  ``extraHeaders.<name>``;
* ``body``: any JSON, sent as JSON (``Content-Type: application/json`` unless
  ``extraHeaders`` names another); a GET with a body is refused rather than silently dropped.

The request goes through the egress guard (an account root that resolves to an internal
address is refused: a 400 naming ``path``). The answer (decided here, Alloy documents only
that it returns "headers, statusCode and data"): the provider's own status code, with the body
``{"statusCode", "headers", "data"}``. ``data`` is the parsed JSON body, or the body as text
when it is not JSON (``headers["content-type"]`` tells which); hop-by-hop, length, encoding and
``Set-Cookie`` headers are left out. A 204 or 304 is answered as such, with no body. Every
secret credential value is replaced by ``[redacted]`` in the answer's headers and body, so a
provider that echoes a request cannot hand the user's token to the caller.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import httpx2

from solder.apps import http
from solder.apps.base import App, AppContext
from solder.errors import FatalError, NotAllowed
from solder.logs import SECRET_NAMES
from solder.security.egress import EgressRefused

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
REFUSED_HEADERS = HOP_BY_HOP | {"authorization", "host", "content-length", "expect"}
DROPPED_ANSWER_HEADERS = HOP_BY_HOP | {"content-length", "content-encoding", "set-cookie"}
MASK = "[redacted]"
MIN_MASKED = 4  # shorter secret values are not searched for (they would mangle the answer)

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(frozen=True)
class Outbound:
    method: str
    url: str
    params: tuple[tuple[str, str], ...]
    headers: dict[str, str]
    content: bytes | None


def _refuse(field: str, problem: str) -> NotAllowed:
    return NotAllowed(f"{field}: {problem}", field)


def _strict_json(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def _decoded(value: Any, field: str) -> Any:
    """``value``, or the JSON a string holds (Alloy's "stringified JSON")."""
    if not isinstance(value, str):
        return value
    try:
        return _strict_json(value)
    except ValueError:
        raise _refuse(field, "a string here must hold JSON (or send the value itself)") from None


def method_of(raw: str) -> str:
    method = raw.strip().upper()
    if method not in METHODS:
        raise _refuse("method", f"{raw!r} is not one of {', '.join(METHODS)}")
    return method


def url_of(app: App, root: str, path: str) -> str:
    """``path`` joined under ``root``; refused unless the result stays under it."""
    outside = f"must be a path under {app.name}'s API root (like /v2/orders), not a URL"
    if _CONTROL.search(path) or any(c.isspace() for c in path):
        raise _refuse("path", "must not contain spaces or control characters")
    if _SCHEME.match(path) or path.startswith("//") or "\\" in path:
        raise _refuse("path", outside)
    if "?" in path or "#" in path:
        raise _refuse("path", "must not carry a query or fragment; send query parameters in query")
    if ".." in unquote(path).replace("\\", "/").split("/"):
        raise _refuse("path", "'..' segments are not allowed")
    url = root.rstrip("/") + "/" + path.lstrip("/")
    try:
        base, joined = httpx2.URL(root), httpx2.URL(url)
    except httpx2.InvalidURL:
        raise _refuse("path", outside) from None
    prefix = base.raw_path.rstrip(b"/") + b"/"
    same_origin = (joined.scheme, joined.host, joined.port) == (base.scheme, base.host, base.port)
    if not same_origin or not (joined.raw_path + b"/").startswith(prefix):
        raise _refuse("path", outside)
    return url


def _text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return json.dumps(value)
    return None


def params_of(raw: Any) -> list[tuple[str, str]]:
    query = _decoded(raw, "query")
    if query is None:
        return []
    if not isinstance(query, dict):
        raise _refuse("query", "must be an object of names to values")
    params: list[tuple[str, str]] = []
    for name, value in query.items():
        for item in value if isinstance(value, list) else [value]:
            text = _text(item)
            if text is None:
                problem = "must be a string, number, boolean or a list of those"
                raise _refuse(f"query.{name}", problem)
            params.append((str(name), text))
    return params


def headers_of(raw: Any, app: App, set_by_app: Mapping[str, str]) -> dict[str, str]:
    extra = _decoded(raw, "extraHeaders")
    if extra is None:
        return {}
    if not isinstance(extra, dict):
        raise _refuse("extraHeaders", "must be an object of header names to values")
    own = {name.lower() for name in set_by_app}
    headers: dict[str, str] = {}
    for name, value in extra.items():
        where = f"extraHeaders.{name}"
        lowered = name.lower()
        if not _TOKEN.match(name):
            raise _refuse(where, "is not a valid header name")
        if lowered in own:
            raise _refuse(where, f"Solder sets this header itself for {app.name}")
        if lowered in REFUSED_HEADERS:
            raise _refuse(where, "may not be set (authentication, Host, length or hop-by-hop)")
        text = _text(value)
        if text is None:
            raise _refuse(where, "must be a string")
        if _CONTROL.search(text):
            raise _refuse(where, "must not contain control characters")
        headers[name] = text
    return headers


def content_of(raw: Any, method: str) -> bytes | None:
    body = _decoded(raw, "body")
    if body is None:
        return None
    if method == "GET":
        raise _refuse("body", "a GET request carries no body; send null")
    return json.dumps(body, separators=(",", ":")).encode()


def prepare(
    app: App, ctx: AppContext, method: str, path: str, body: Any, query: Any, extra: Any
) -> Outbound:
    """The request to send, every field checked; the app's auth headers win over the rest."""
    verb = method_of(method)
    root = app.api_root(ctx) if app.api_root is not None else ctx.base_url
    url = url_of(app, root, path)
    params = params_of(query)
    auth = app.auth_headers(ctx) if app.auth_headers is not None else {}
    headers = headers_of(extra, app, auth)
    content = content_of(body, verb)
    if content is not None and not any(h.lower() == "content-type" for h in headers):
        headers["Content-Type"] = "application/json"
    return Outbound(verb, url, tuple(params), headers | auth, content)


def send(client: httpx2.Client, app: App, out: Outbound) -> httpx2.Response:
    """Send ``out``; an egress refusal is the caller's 400, no answer at all a 502."""
    what = f"passthrough to {app.name}"
    try:
        return http.reach(
            lambda: client.request(
                out.method, out.url, params=out.params, headers=out.headers, content=out.content
            ),
            out.url,
            what,
        )
    except EgressRefused as exc:
        raise _refuse("path", f"the request to {app.name} was refused: {exc.reason}") from None
    except FatalError as exc:  # the URL could not be parsed after all
        raise _refuse("path", f"not a valid path for {app.name}") from exc


def secrets_of(app: App, credential: Mapping[str, Any]) -> list[str]:
    """The credential's secret values, longest first, as they may appear in an answer: the
    fields the app declares secret, and any whose name says token, key, secret or password
    (an OAuth2 credential's ``accessToken`` and ``refreshToken``)."""
    declared = {spec.name for spec in app.credential_fields if spec.secret}
    found: set[str] = set()
    for name, value in credential.items():
        secret = name in declared or SECRET_NAMES.search(name) is not None
        if secret and isinstance(value, str) and len(value) >= MIN_MASKED:
            found |= {value, json.dumps(value)[1:-1]}
    return sorted(found, key=len, reverse=True)


def masked(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


def answer(response: httpx2.Response, secrets: list[str]) -> tuple[int, dict[str, Any] | None]:
    """The status to answer with, and the body (``None`` for a 204 or 304)."""
    status = response.status_code
    if status in (204, 304):
        return status, None
    headers = {
        name: masked(value, secrets)
        for name, value in response.headers.items()
        if name.lower() not in DROPPED_ANSWER_HEADERS
    }
    text = masked(response.text, secrets)
    data: Any = None
    if text:
        try:
            data = _strict_json(text)
        except ValueError:
            data = text
    return status, {"statusCode": status, "headers": headers, "data": data}
