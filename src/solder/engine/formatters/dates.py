"""The ``date.*`` formatter operations: parsing, formatting, time zones and calendar
arithmetic."""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from solder.engine.formatters.registry import (
    _MATH,
    _STRING,
    Inputs,
    Schema,
    _decimal,
    _operation,
    _p,
    _shown,
)
from solder.errors import FatalError

_ISO = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3}|\.\d{6})?"
_ISO_UTC: Schema = {"type": "string", "format": "date-time", "pattern": _ISO + "Z$"}
_ISO_ZONED: Schema = {
    "type": "string",
    "format": "date-time",
    "pattern": _ISO + r"(Z|[+-]\d{2}:\d{2})$",
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_MS_FROM = Decimal("1e11")  # 1e11 s is the year 5138; 1e11 ms is March 1973
_EPOCH_TEXT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_EXACT_UNITS = ("seconds", "minutes", "hours")
_UNIT = _p(
    "string",
    "seconds, minutes and hours count elapsed time; days and weeks count calendar days in "
    "timeZone (1 day keeps the clock time across a DST change); months and years count "
    "calendar months, ending on the month's last day when the day does not exist in it.",
    enum=[*_EXACT_UNITS, "days", "weeks", "months", "years"],
)
_DATE = _p(
    ["string", "number"],
    "ISO-8601 date or date-time; a number or digits-only text is epoch seconds, or epoch "
    "milliseconds from 1e11 up.",
)
_IANA = "IANA time zone name, e.g. America/New_York"
_CALENDAR_ZONE = _p("string", f"Whose calendar and clock to count in; {_IANA}.", default="UTC")


def _zone(name: str, field_name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        message = f"unknown time zone {_shown(name)} (use an IANA name like 'America/New_York')"
        raise FatalError(message, field=field_name) from None


def _from_epoch(value: float | str, name: str, unit: str | None = None) -> datetime:
    number = _decimal(value, name)
    if unit == "epochMilliseconds" or (unit is None and abs(number) >= _EPOCH_MS_FROM):
        number = number.scaleb(-3, _MATH)
    try:
        return _EPOCH + timedelta(microseconds=int(number.scaleb(6, _MATH)))
    except OverflowError:
        raise FatalError(f"{value!r} is outside the years 1 to 9999", field=name) from None


def _instant(value: float | str, name: str, zone: ZoneInfo, fmt: str | None = None) -> datetime:
    """An aware datetime; a value without an offset is wall-clock time in ``zone``."""
    if fmt in ("epochSeconds", "epochMilliseconds") or not isinstance(value, str):
        return _from_epoch(value, name, fmt)
    text = value.strip()
    try:
        if fmt is not None:
            moment = datetime.strptime(text, fmt)
        elif _EPOCH_TEXT.fullmatch(text):
            return _from_epoch(text, name)
        else:
            moment = datetime.fromisoformat(text)
    except ValueError:
        expected = f"the format {fmt!r}" if fmt else "ISO-8601 or epoch seconds/milliseconds"
        raise FatalError(f"{_shown(value)} is not a date in {expected}", field=name) from None
    if moment.tzinfo is None:
        # fold=0: an ambiguous time is its first occurrence, a skipped one moves forward.
        moment = moment.replace(tzinfo=zone)
    return moment


def _iso(moment: datetime) -> str:
    micro = moment.microsecond
    spec = "seconds" if not micro else "milliseconds" if micro % 1000 == 0 else "microseconds"
    text = moment.isoformat(timespec=spec)
    return text[:-6] + "Z" if moment.tzname() == "UTC" else text


def _local(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone).replace(tzinfo=None)


def _add_months(local: datetime, months: int) -> datetime:
    year, month = divmod(local.year * 12 + local.month - 1 + months, 12)
    day = min(local.day, calendar.monthrange(year, month + 1)[1])
    return local.replace(year=year, month=month + 1, day=day)


@_operation(
    "date.parse",
    "Read a date into ISO-8601 in UTC, e.g. 2024-03-10T14:00:00Z.",
    _ISO_UTC,
    value=_DATE,
    format=_p(
        "string",
        "strftime format such as %d/%m/%Y %H:%M, or epochSeconds or epochMilliseconds; "
        "absent reads ISO-8601 and epoch numbers.",
        minLength=1,
        maxLength=200,
    ),
    timeZone=_p("string", f"Zone of values without an offset; {_IANA}.", default="UTC"),
)
def _parse_date(inputs: Inputs) -> str:
    zone = _zone(inputs["timeZone"], "timeZone")
    moment = _instant(inputs["value"], "value", zone, inputs.get("format"))
    return _iso(moment.astimezone(UTC))


@_operation(
    "date.format",
    "Write a date as text with a strftime format, in a time zone.",
    _STRING,
    ("value", "format"),
    value=_DATE,
    format=_p("string", "strftime format, e.g. %A %d %B %Y, %H:%M.", minLength=1, maxLength=200),
    timeZone=_p(
        "string", f"Zone to show, and of values without an offset; {_IANA}.", default="UTC"
    ),
)
def _format_date(inputs: Inputs) -> str:
    zone = _zone(inputs["timeZone"], "timeZone")
    moment = _instant(inputs["value"], "value", zone).astimezone(zone)
    if "\x00" in inputs["format"]:  # strftime would silently stop there
        raise FatalError("must not contain a NUL character", field="format")
    try:
        return moment.strftime(inputs["format"])
    except ValueError as error:
        raise FatalError(f"cannot format with it: {error}", field="format") from None


@_operation(
    "date.convertTimeZone",
    "The same instant as ISO-8601 with the offset of another time zone.",
    _ISO_ZONED,
    ("value", "timeZone"),
    value=_DATE,
    timeZone=_p("string", f"Zone to convert to; {_IANA}."),
    fromTimeZone=_p("string", f"Zone of values without an offset; {_IANA}.", default="UTC"),
)
def _convert_zone(inputs: Inputs) -> str:
    source = _zone(inputs["fromTimeZone"], "fromTimeZone")
    zone = _zone(inputs["timeZone"], "timeZone")
    return _iso(_instant(inputs["value"], "value", source).astimezone(zone))


@_operation(
    "date.add",
    "Add (or, when negative, subtract) an amount of time; ISO-8601 with timeZone's offset.",
    _ISO_ZONED,
    ("value", "amount", "unit"),
    value=_DATE,
    amount=_p("integer", "How many units; negative goes back."),
    unit=_UNIT,
    timeZone=_CALENDAR_ZONE,
)
def _add_date(inputs: Inputs) -> str:
    zone = _zone(inputs["timeZone"], "timeZone")
    moment = _instant(inputs["value"], "value", zone)
    amount, unit = int(inputs["amount"]), inputs["unit"]
    try:
        if unit in _EXACT_UNITS:
            return _iso((moment.astimezone(UTC) + timedelta(**{unit: amount})).astimezone(zone))
        local = _local(moment, zone)
        if unit in ("days", "weeks"):
            local += timedelta(**{unit: amount})
        else:
            local = _add_months(local, amount * (12 if unit == "years" else 1))
        # Through UTC and back: a wall-clock time that DST skips becomes the real one after it.
        return _iso(local.replace(tzinfo=zone).astimezone(UTC).astimezone(zone))
    except (OverflowError, ValueError):
        raise FatalError("the result is outside the years 1 to 9999", field="amount") from None


@_operation(
    "date.difference",
    "Whole units from start to end (negative when end is earlier), truncated toward zero.",
    {"type": "integer"},
    ("start", "end", "unit"),
    start=_DATE,
    end=_DATE,
    unit=_UNIT,
    timeZone=_CALENDAR_ZONE,
)
def _difference(inputs: Inputs) -> int:
    zone = _zone(inputs["timeZone"], "timeZone")
    start = _instant(inputs["start"], "start", zone)
    end = _instant(inputs["end"], "end", zone)
    unit = inputs["unit"]
    if unit in _EXACT_UNITS:
        return _whole(end - start, timedelta(**{unit: 1}))
    first, last = _local(start, zone), _local(end, zone)
    if unit in ("days", "weeks"):
        return _whole(last - first, timedelta(**{unit: 1}))
    months = (last.year - first.year) * 12 + last.month - first.month
    if months > 0 and _add_months(first, months) > last:
        months -= 1
    elif months < 0 and _add_months(first, months) < last:
        months += 1
    if unit == "months":
        return months
    return abs(months) // 12 * (1 if months >= 0 else -1)


def _whole(span: timedelta, unit: timedelta) -> int:
    """Whole ``unit``s in ``span``, truncated toward zero."""
    count = abs(span) // unit
    return count if span >= timedelta(0) else -count
