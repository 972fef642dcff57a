"""Outbound HTTP for connectors and blocks: one place maps a response to an error class.

* network errors, timeouts and 5xx -> ``RetryableError``
* 429 -> ``RateLimited`` (a ``RetryableError`` keeping ``Retry-After``): the connection waits
* 401 and 403 -> ``ReconnectNeeded`` (the user's credential was refused)
* any other 4xx, and a URL that cannot be parsed -> ``FatalError`` carrying the reason

``watching()`` collects the responses the shared client receives in the current context
(``observe`` is its response hook), so the engine can read an app's rate-limit headers after
an action without every connector passing its responses back.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import httpx2

from solder.errors import FatalError, RateLimited, ReconnectNeeded, RetryableError

_seen: ContextVar[list[httpx2.Response] | None] = ContextVar("solder_http_seen", default=None)


def observe(response: httpx2.Response) -> None:
    """Response hook of the connectors' client: note ``response`` for ``watching``."""
    seen = _seen.get()
    if seen is not None:
        seen.append(response)


@contextmanager
def watching() -> Iterator[list[httpx2.Response]]:
    """The responses received in this context while the ``with`` body runs, in order."""
    seen: list[httpx2.Response] = []
    token = _seen.set(seen)
    try:
        yield seen
    finally:
        _seen.reset(token)


def retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _provider_message(response: httpx2.Response) -> str:
    text = response.text[:500]
    try:
        body = response.json()
    except (json.JSONDecodeError, ValueError):
        return text
    if isinstance(body, list) and body and isinstance(body[0], dict):
        body = body[0]
    if isinstance(body, dict):
        for key in ("message", "title", "error", "detail"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return text


def check(response: httpx2.Response, what: str) -> httpx2.Response:
    status = response.status_code
    if status < 400:
        return response
    message = f"{what}: HTTP {status}: {_provider_message(response)}"
    if status == 429:
        wait = retry_after_seconds(response.headers.get("retry-after"))
        raise RateLimited(message, retry_after=wait)
    if status >= 500:
        raise RetryableError(
            message, retry_after=retry_after_seconds(response.headers.get("retry-after"))
        )
    if status in (401, 403):
        raise ReconnectNeeded(message)
    raise FatalError(message)


def send(client: httpx2.Client, method: str, url: str, what: str, **kwargs: Any) -> httpx2.Response:
    return fetch(lambda: client.request(method, url, **kwargs), url, what)


def fetch(request: Callable[[], httpx2.Response], url: str, what: str) -> httpx2.Response:
    """``request()``'s response, its failures mapped to the error classes above."""
    return check(reach(request, url, what), what)


def reach(request: Callable[[], httpx2.Response], url: str, what: str) -> httpx2.Response:
    """``request()``'s response whatever its status; only failures to get one are mapped."""
    try:
        return request()
    except httpx2.InvalidURL as exc:
        raise FatalError(f"{what}: {url} is not a valid URL: {exc}", field="url") from exc
    except httpx2.LocalProtocolError as exc:
        # a header Solder will not send (a line break or control character, a bad name); the
        # value is not repeated here, as it may be a credential
        raise FatalError(
            f"{what}: a request header cannot be sent: names must be HTTP tokens and values "
            "plain text without line breaks or control characters",
            field="headers",
        ) from exc
    except httpx2.TransportError as exc:
        raise RetryableError(f"{what}: {type(exc).__name__}: {exc}") from exc


def json_body(response: httpx2.Response, what: str) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, ValueError) as exc:
        raise FatalError(f"{what}: response is not JSON") from exc
