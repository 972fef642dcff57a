"""Column types shared by SQLite and PostgreSQL, and the id and clock helpers."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC on every backend and always hands back an aware UTC datetime."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return stored_utc(value)


def stored_utc(value: Any) -> datetime | None:
    """A stored UTC time (SQLite's text, PostgreSQL's naive timestamp) as an aware datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    """A 24-hex id like Alloy's ObjectIds: 4 bytes of seconds, then 8 random bytes."""
    return int(time.time()).to_bytes(4, "big").hex() + os.urandom(8).hex()


def iso(value: datetime | None) -> str | None:
    """ISO 8601 with milliseconds and a Z, the shape Alloy's responses use."""
    if value is None:
        return None
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    )
