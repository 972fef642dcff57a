"""The client's errors: one per kind of answer, each carrying what the server said.

::

    SolderAPIError            any refusal; ``status``, ``message``, ``field``, ``response``
    ├── BadRequest            400: malformed body, a value this call refuses
    ├── ValidationError       422: invalid input (``field`` names it)
    ├── AuthenticationError   401: no key or an unknown key or token
    ├── PermissionDenied      403: a caller that may not do this
    ├── NotFound              404: unknown id, or one of the other environment
    ├── Conflict              409: taken username, upgrade that needs a reinstall, reused key
    ├── RateLimited           429: ``retry_after`` seconds, when the server said
    ├── ServerError           5xx, once the retries (if the call may be retried) ran out
    └── ConnectionFailed      no answer at all (refused connection, timeout)

The server writes every error as ``{"message": "<field>: <problem>"}``; ``field`` is that
leading name (``users[0].username``, ``executionId``, ``Idempotency-Key``) or ``None``.
"""

from __future__ import annotations

import re
from typing import Any

import httpx2

_FIELD = re.compile(r"^([A-Za-z_][\w.\[\]-]*): ")


class SolderAPIError(Exception):
    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        field: str | None = None,
        response: httpx2.Response | None = None,
    ) -> None:
        super().__init__(message if status is None else f"HTTP {status}: {message}")
        self.message = message
        self.status = status
        self.field = field
        self.response = response


class BadRequest(SolderAPIError):
    pass


class ValidationError(SolderAPIError):
    pass


class AuthenticationError(SolderAPIError):
    pass


class PermissionDenied(SolderAPIError):
    pass


class NotFound(SolderAPIError):
    pass


class Conflict(SolderAPIError):
    pass


class RateLimited(SolderAPIError):
    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServerError(SolderAPIError):
    pass


class ConnectionFailed(SolderAPIError):
    pass


_BY_STATUS: dict[int, type[SolderAPIError]] = {
    400: BadRequest,
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    422: ValidationError,
}


def retry_after(response: httpx2.Response) -> float | None:
    """``Retry-After`` in seconds (the server sends a number), or ``None``."""
    try:
        return max(0.0, float(response.headers["retry-after"]))
    except (KeyError, ValueError):
        return None


def error_for(response: httpx2.Response) -> SolderAPIError:
    """The exception for a refused call, with the server's own message."""
    named = None
    try:
        body = response.json()
        message = str(body["message"]) if isinstance(body, dict) else response.text
        named = body.get("field") if isinstance(body, dict) else None
    except (ValueError, KeyError):
        message = response.text or response.reason_phrase
    found = _FIELD.match(message)
    kw: dict[str, Any] = {
        "status": response.status_code,
        "field": named if isinstance(named, str) else (found.group(1) if found else None),
        "response": response,
    }
    if response.status_code == 429:
        return RateLimited(message, retry_after=retry_after(response), **kw)
    if response.status_code >= 500:
        return ServerError(message, **kw)
    return _BY_STATUS.get(response.status_code, SolderAPIError)(message, **kw)
