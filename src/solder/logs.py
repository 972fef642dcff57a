"""Logging set-up: plain lines or JSON, run context fields, and secrets masked.

Secrets are masked twice over: by field (any ``extra`` whose name says token, key, secret,
password or authorization) and by shape (Solder API keys, JWTs, bearer credentials, and
``accessToken``-like pairs inside messages), so a provider error that echoes a request does not
leak what it carried.
"""

from __future__ import annotations

import json
import logging
import re
import sys

QUIET_LIBRARIES = ("httpx2", "httpx", "httpcore2", "httpcore")
CONTEXT_FIELDS = ("run_id", "workflow_id", "install_id", "block", "attempt", "app")
MASK = "[redacted]"
SECRET_NAMES = re.compile(r"token|secret|password|passwd|api_?key|authorization|credential", re.I)
SECRET_SHAPES = (
    re.compile(r"solder_sk_(?:dev|live)_[A-Za-z0-9_-]+"),
    re.compile(r"\b(?:sk|rk)_(?:test|live)_[A-Za-z0-9]+|\bwhsec_[A-Za-z0-9]+"),  # Stripe
    re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"),
    re.compile(r"(?i)(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(
        r"(?i)([\"']?(?:access_?token|api_?key|secret|password|x-auth-token)[\"']?\s*[:=]\s*)"
        r"[\"']?[^\"'\s,}]+"
    ),
)


def _keep_label(match: re.Match[str]) -> str:
    label = match.group(1)
    return label + (" " if label[-1:].isalpha() else "") + MASK


def redact(text: str) -> str:
    for shape in SECRET_SHAPES:
        text = shape.sub(_keep_label, text) if shape.groups else shape.sub(MASK, text)
    return text


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's message, arguments and context fields, in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        for name, value in list(vars(record).items()):
            if name in ("msg", "args") or name.startswith("_"):
                continue
            if name not in _STANDARD and SECRET_NAMES.search(name):
                setattr(record, name, MASK)
            elif name not in _STANDARD and isinstance(value, str):
                setattr(record, name, redact(value))
        return True


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            if hasattr(record, name):
                out[name] = getattr(record, name)
        if record.exc_info:
            out["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(out, default=str)


class PlainFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = " ".join(f"{n}={getattr(record, n)}" for n in CONTEXT_FIELDS if hasattr(record, n))
        return redact(f"{line} {extra}" if extra else line)


def setup(*, json_output: bool = False, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(
        JsonFormatter()
        if json_output
        else PlainFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The HTTP client logs every request at INFO: one line per outbound call (with its URL)
    # is noise at this volume, and the run's block results already record each call.
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
