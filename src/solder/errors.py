"""Solder's error tree.

Every error Solder raises on purpose derives from :class:`SolderError` and carries a stable
``code``. Subclasses are grouped by what must happen next, not by where they came from::

    SolderError
    ├── BadInput              the caller sent something wrong: 400/422, names the field
    │   ├── MalformedBody     the body is not JSON at all: 400
    │   └── NotAllowed        a well-formed value this call refuses (a method, a path
    │                         outside an app's API, a header Solder sets itself): 400
    ├── Unauthorized          no key, or a key we do not know: 401
    ├── Forbidden             a key that may not do this: 403
    ├── NotFound              unknown id (or one in the other environment): 404
    ├── Conflict              the request clashes with stored state: 409
    └── StepError             raised while a run executes a block
        ├── RetryableError    try the block again later (optional ``retry_after`` seconds)
        ├── ReconnectNeeded   the user's credential was refused: fail, tell the user to reconnect
        └── FatalError        the block can never succeed with this input: fail the run

The API maps these to HTTP responses in one place (``solder.api.errors``). Inside the engine,
only ``StepError`` decides a run's fate; any other exception fails the attempt and is retried.
"""

from __future__ import annotations


class SolderError(Exception):
    """Root of every error Solder raises on purpose."""

    code = "solder_error"
    status = 500

    details: dict[str, object] | None = None
    """More of the answer than the message, for the API to add to the error response."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class BadInput(SolderError):
    code = "bad_input"
    status = 422


class MalformedBody(BadInput):
    code = "malformed_body"
    status = 400


class NotAllowed(BadInput):
    code = "not_allowed"
    status = 400


class Unauthorized(SolderError):
    code = "unauthorized"
    status = 401


class Forbidden(SolderError):
    code = "forbidden"
    status = 403


class NotFound(SolderError):
    code = "not_found"
    status = 404


class Conflict(SolderError):
    code = "conflict"
    status = 409


class StepError(SolderError):
    """Raised by a block while it runs; its subclass says what the engine does next."""

    code = "step_error"


class RetryableError(StepError):
    code = "retryable"

    def __init__(
        self, message: str, *, retry_after: float | None = None, field: str | None = None
    ) -> None:
        super().__init__(message, field=field)
        self.retry_after = retry_after


class RateLimited(RetryableError):
    """The app asked (429) not to be called for a while: the run waits, however many attempts
    it made (only the poison bound on claims ends it)."""

    code = "rate_limited"


class ReconnectNeeded(StepError):
    code = "reconnect_needed"


class FatalError(StepError):
    code = "fatal"
