"""Secrets never reach a log line: masked by shape in messages and by name in fields."""

from __future__ import annotations

import io
import json
import logging

import pytest

from solder.logs import JsonFormatter, PlainFormatter, RedactingFilter, redact

KEY = "solder_sk_live_Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXBhcnQ"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"auth failed for {KEY}", KEY),
        (f"token {JWT} rejected", JWT),
        ("Authorization: Bearer abc.DEF-123", "abc.DEF-123"),
        ('provider said {"access_token": "s3cr3t-value", "ok": false}', "s3cr3t-value"),
        ("X-Auth-Token: store-token-42 refused", "store-token-42"),
        ("accessToken=abcdef123", "abcdef123"),
        ("stripe key sk_live_51AbCdEf0123 refused", "sk_live_51AbCdEf0123"),
        ("endpoint whsec_Zy9Xw8Vu7 made", "whsec_Zy9Xw8Vu7"),
    ],
)
def test_redact_masks_secret_shapes(text: str, secret: str) -> None:
    out = redact(text)
    assert secret not in out
    assert "[redacted]" in out


def test_redact_keeps_ordinary_text() -> None:
    text = "run 6b0c93a8 failed at block stream: HTTP 503 from http://127.0.0.1:9002/in"
    assert redact(text) == text


def _capture(formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(formatter)
    logger = logging.getLogger(f"test.redact.{id(stream)}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def test_json_log_masks_arguments_and_secret_fields() -> None:
    logger, stream = _capture(JsonFormatter())
    logger.info("calling with %s", f"Bearer {KEY}", extra={"run_id": "r1", "api_key": "plain"})
    line = json.loads(stream.getvalue())
    assert KEY not in stream.getvalue()
    assert "plain" not in stream.getvalue()
    assert line["run_id"] == "r1"


def test_plain_log_masks_exceptions_text() -> None:
    logger, stream = _capture(PlainFormatter("%(levelname)s %(message)s"))
    try:
        raise RuntimeError(f"refused key {KEY}")
    except RuntimeError:
        logger.exception("step failed")
    assert KEY not in stream.getvalue()
    assert "step failed" in stream.getvalue()
