"""Every error response is ``{"message": ...}``; this is the one place statuses are chosen."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException

from solder.errors import SolderError, StepError

log = logging.getLogger("solder.api")


def field_path(loc: tuple[object, ...]) -> str:
    """``("body", "users", 0, "username")`` -> ``users[0].username``."""
    if loc and loc[0] in ("body", "query", "path", "header"):
        loc = loc[1:]
    parts = [str(p) for p in loc if not str(p).startswith("function-")]
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out


def _where(loc: tuple[object, ...]) -> str:
    """The field a request validation error names: ``body`` when the body itself is wrong."""
    return field_path(loc) or ("body" if loc == ("body",) else "")


def validation_message(exc: RequestValidationError) -> tuple[int, str]:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return 400, "body: malformed JSON"
    messages = []
    for err in errors:
        where = _where(tuple(err.get("loc", ())))
        msg = str(err.get("msg", "invalid"))
        if err.get("type") == "missing":
            msg = "required"
        messages.append(f"{where}: {msg}" if where else msg)
    return 422, "; ".join(messages)


def answer(exc: Exception) -> tuple[int, str]:
    """The status and message of the error response to ``exc``, whoever raised it."""
    if isinstance(exc, SolderError):
        return (502 if isinstance(exc, StepError) else exc.status), exc.message
    if isinstance(exc, RequestValidationError):
        return validation_message(exc)
    if isinstance(exc, DataError):
        # The database refused a value the caller sent (a NUL in a path or query parameter,
        # a number out of range): bad input, not a server fault.
        log.warning("database refused a value: %s", str(exc.orig).splitlines()[0])
        return 422, "request: a value in it cannot be stored (NUL character or number out of range)"
    log.exception("unhandled error", exc_info=exc)
    return 500, "internal error"


def body(exc: Exception, message: str) -> dict[str, Any]:
    """``{message}``, with ``field`` when the error names one (and an error's own details,
    such as the builder's list of ``problems``)."""
    out: dict[str, Any] = {"message": message}
    if isinstance(exc, SolderError):
        if exc.field:
            out["field"] = exc.field
        out.update(exc.details or {})
    elif isinstance(exc, RequestValidationError) and exc.errors():
        where = _where(tuple(exc.errors()[0].get("loc", ())))
        if where:
            out["field"] = where
    return out


def install(app: FastAPI) -> None:
    @app.exception_handler(SolderError)
    @app.exception_handler(RequestValidationError)
    @app.exception_handler(DataError)
    @app.exception_handler(Exception)
    async def error(_: Request, exc: Exception) -> JSONResponse:
        status, message = answer(exc)
        return JSONResponse(body(exc, message), status_code=status)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        message = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, exc.detail)
        return JSONResponse(
            {"message": str(message)}, status_code=exc.status_code, headers=exc.headers
        )
