"""The formatter block: pure transformations of text, numbers, dates and JSON.

A workflow names one operation and gives it inputs::

    - key: price_text
      type: formatter
      operation: number.format
      inputs: {value: "{{ trigger.total }}", decimals: 2, thousandsSeparator: ","}

Each operation is an :class:`Operation` value in :data:`OPERATIONS`. Its input schema draws
the builder's form and is what :func:`run` checks; its output schema tells the builder what
later blocks can map. Operations do no I/O and never read the clock (there is no
``date.now``: a run's time comes from its trigger), so a resumed or replayed run computes the
same values. Errors::

    BadInput    check_operation: unknown operation name (found when a workflow is pushed)
    FatalError  run: an input breaks the schema or cannot be used (an unparseable date, a
                division by zero...); ``field`` names the input, e.g. ``decimals``

Conventions shared by the operations:

* an optional input given as ``null`` counts as not given, because a mapping of a missing
  field (``{{ trigger.discount }}``) renders as ``null``;
* numbers may arrive as JSON numbers or numeric text (APIs send prices as ``"19.90"``); they
  are computed as ``Decimal`` made from the shortest text of a float, so ``0.1 + 0.2`` is
  ``0.3`` and ``2.675`` rounds to ``2.68``; results are ints when integral, else floats;
* text inputs also take numbers (IDs often arrive as numbers), written without a ``.0``;
* dates are ISO-8601 text or epoch numbers (seconds, or milliseconds from 1e11 up); results
  are ISO-8601, with ``Z`` for UTC and a fraction of a second only when there is one.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import decimal
import difflib
import json
import re
import unicodedata
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Context, Decimal, DivisionByZero, InvalidOperation, Overflow
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from solder.errors import BadInput, FatalError

__all__ = ["OPERATIONS", "Operation", "check_operation", "run"]

Inputs = dict[str, Any]
Schema = Mapping[str, Any]
Fn = Callable[[Inputs], Any]


@dataclass(frozen=True)
class Operation:
    """One formatter operation.

    ``fn`` receives inputs that passed ``input_schema``, with the schema's defaults filled in,
    and raises ``FatalError(field=...)`` for inputs the schema cannot rule out.
    """

    name: str
    description: str
    input_schema: Schema
    output_schema: Schema
    fn: Fn = field(repr=False)
    validator: Draft202012Validator = field(init=False, repr=False, compare=False)
    defaults: Mapping[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # A broken schema fails at import, not in the middle of someone's run.
        Draft202012Validator.check_schema(self.input_schema)
        Draft202012Validator.check_schema(self.output_schema)
        object.__setattr__(self, "validator", Draft202012Validator(self.input_schema))
        properties = self.input_schema.get("properties", {})
        defaults = {k: p["default"] for k, p in properties.items() if "default" in p}
        object.__setattr__(self, "defaults", defaults)

    @property
    def required(self) -> frozenset[str]:
        return frozenset(self.input_schema.get("required", ()))


OPERATIONS: dict[str, Operation] = {}
"""Every formatter operation by name; the builder lists them, :func:`run` looks them up."""


def check_operation(name: str) -> None:
    """Refuse an unknown operation name when a workflow is pushed, listing the known ones."""
    if name in OPERATIONS:
        return
    close = difflib.get_close_matches(name, OPERATIONS, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise BadInput(
        f"unknown formatter operation {_shown(name)}{hint} "
        f"(known: {', '.join(sorted(OPERATIONS))})",
        field="operation",
    )


def run(operation: str, inputs: Mapping[str, Any]) -> Any:
    """Check ``inputs`` against the operation's schema, then apply it."""
    op = OPERATIONS.get(operation)
    if op is None:
        raise FatalError(f"unknown formatter operation {_shown(operation)}", field="operation")
    given = {k: v for k, v in inputs.items() if v is not None or k in op.required}
    invalid = best_match(op.validator.iter_errors(given))
    if invalid is not None:
        where, problem = _describe(invalid, op, given)
        raise FatalError(f"formatter {operation}: inputs.{where}: {problem}", field=where)
    try:
        return op.fn({**op.defaults, **given})
    except FatalError as error:
        where = error.field or "value"
        message = f"formatter {operation}: inputs.{where}: {error.message}"
        raise FatalError(message, field=where) from None
    except RecursionError:
        raise FatalError(f"formatter {operation}: inputs nest too deeply") from None


def _describe(error: ValidationError, op: Operation, given: Inputs) -> tuple[str, str]:
    """The input path a schema error is about, and the problem in words."""
    properties = op.input_schema["properties"]
    if error.validator == "required" and not error.absolute_path:
        return min(op.required - set(given)), "is required"
    if error.validator == "additionalProperties" and not error.absolute_path:
        extra = min(set(given) - set(properties))
        return extra, f"is not an input of {op.name} (its inputs: {', '.join(properties)})"
    where = "".join(
        f"[{step}]" if isinstance(step, int) else f".{step}" for step in error.absolute_path
    ).lstrip(".")
    if error.validator == "type":
        wanted = error.validator_value
        if isinstance(wanted, list):
            wanted = ", ".join(wanted[:-1]) + " or " + wanted[-1]
        return where, f"must be {wanted}, not {_json_type(error.instance)}"
    message = error.message if len(error.message) <= 200 else error.message[:197] + "..."
    return where, message


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _shown(text: str) -> str:
    """``text`` quoted for a message, cut short: inputs can be long (and private)."""
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _operation(
    name: str,
    description: str,
    output: Schema,
    required: tuple[str, ...] = ("value",),
    **properties: Schema,
) -> Callable[[Fn], Fn]:
    """Declare ``fn`` as operation ``name`` with these input properties and output schema."""

    def declare(fn: Fn) -> Fn:
        if name in OPERATIONS:
            raise ValueError(f"formatter operation {name} declared twice")
        schema = {
            "type": "object",
            "properties": properties,
            "required": list(required),
            "additionalProperties": False,
        }
        OPERATIONS[name] = Operation(name, description, schema, output, fn)
        return fn

    return declare


def _p(kind: str | list[str] | None, description: str, **extra: Any) -> Schema:
    """One input property; ``kind=None`` accepts any JSON value."""
    return {"description": description, **({} if kind is None else {"type": kind}), **extra}


_STRING: Schema = {"type": "string"}
_NUMBER: Schema = {"type": "number"}
_ANY: Schema = {}
_ISO = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3}|\.\d{6})?"
_ISO_UTC: Schema = {"type": "string", "format": "date-time", "pattern": _ISO + "Z$"}
_ISO_ZONED: Schema = {
    "type": "string",
    "format": "date-time",
    "pattern": _ISO + r"(Z|[+-]\d{2}:\d{2})$",
}
_TEXT = _p(["string", "number"], "The text (a number is written as text).")


# -- text -------------------------------------------------------------------------------------


def _text(value: str | float) -> str:
    if isinstance(value, str):
        return value
    number = _decimal(value, "value")
    return str(int(number)) if number == number.to_integral_value() else format(number, "f")


def _text_operation(name: str, description: str, fn: Callable[[str], str]) -> None:
    _operation(name, description, _STRING, value=_TEXT)(lambda i: fn(_text(i["value"])))


def _capitalize(value: str) -> str:
    def word(match: re.Match[str]) -> str:
        return match[0][:1].title() + match[0][1:].lower()

    return re.sub(r"\S+", word, value)


_text_operation("text.upper", "Upper-case every letter (ß becomes SS).", str.upper)
_text_operation("text.lower", "Lower-case every letter.", str.lower)
_text_operation(
    "text.capitalize", "Title Case: each word's first letter up, the rest down.", _capitalize
)
_text_operation(
    "text.urlEncode",
    "Percent-encode for a URL path segment or query value (a space becomes %20).",
    lambda value: urllib.parse.quote(value, safe="", errors="surrogatepass"),
)


@_operation(
    "text.trim",
    "Remove whitespace (or the given characters) from both ends.",
    _STRING,
    value=_TEXT,
    characters=_p("string", "Characters to remove instead of whitespace."),
)
def _trim(inputs: Inputs) -> str:
    return _text(inputs["value"]).strip(inputs.get("characters"))


@_operation(
    "text.replace",
    "Replace literal text (not a pattern).",
    _STRING,
    ("value", "find"),
    value=_TEXT,
    find=_p("string", "Text to look for.", minLength=1),
    replace=_p("string", "Text to put in its place.", default=""),
    all=_p("boolean", "Replace every occurrence, not only the first.", default=True),
)
def _replace(inputs: Inputs) -> str:
    count = -1 if inputs["all"] else 1
    return _text(inputs["value"]).replace(inputs["find"], inputs["replace"], count)


@_operation(
    "text.split",
    "Cut text into a list at each separator; empty text gives an empty list.",
    {"type": "array", "items": _STRING},
    value=_TEXT,
    separator=_p("string", "Where to cut; empty cuts between characters.", default=","),
    trim=_p("boolean", "Remove whitespace around each item.", default=False),
)
def _split(inputs: Inputs) -> list[str]:
    value, separator = _text(inputs["value"]), inputs["separator"]
    if not value:
        return []
    parts = value.split(separator) if separator else list(value)
    return [part.strip() for part in parts] if inputs["trim"] else parts


@_operation(
    "text.join",
    "Join a list into text; null items become empty text.",
    _STRING,
    value=_p("array", "Items.", items={"type": ["string", "number", "boolean", "null"]}),
    separator=_p("string", "Put between items.", default=","),
)
def _join(inputs: Inputs) -> str:
    def item(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        return _text(value)

    return str(inputs["separator"]).join(item(value) for value in inputs["value"])


@_operation(
    "text.truncate",
    "Shorten text to at most `length` characters, the ellipsis included.",
    _STRING,
    ("value", "length"),
    value=_TEXT,
    length=_p("integer", "Maximum length in characters.", minimum=0),
    ellipsis=_p("string", "Ends shortened text.", default="..."),
)
def _truncate(inputs: Inputs) -> str:
    value, length, ellipsis = _text(inputs["value"]), int(inputs["length"]), inputs["ellipsis"]
    if len(value) <= length:
        return value
    keep = length - len(ellipsis)
    return value[:length] if keep < 0 else value[:keep] + ellipsis


@_operation(
    "text.substring",
    "Characters from `start` up to (not including) `end`; negative counts from the end.",
    _STRING,
    value=_TEXT,
    start=_p("integer", "First character, from 0.", default=0),
    end=_p("integer", "Stop before this character; absent means the end."),
)
def _substring(inputs: Inputs) -> str:
    end = inputs.get("end")
    return _text(inputs["value"])[int(inputs["start"]) : None if end is None else int(end)]


@_operation(
    "text.pad",
    "Lengthen text to `length` characters with a fill character (42 -> 00042).",
    _STRING,
    ("value", "length"),
    value=_TEXT,
    length=_p("integer", "Length to reach.", minimum=0, maximum=10_000),
    character=_p("string", "Fill character.", minLength=1, maxLength=1, default=" "),
    side=_p("string", "Where to add it.", enum=["start", "end"], default="start"),
)
def _pad(inputs: Inputs) -> str:
    value, length, char = _text(inputs["value"]), int(inputs["length"]), inputs["character"]
    return value.rjust(length, char) if inputs["side"] == "start" else value.ljust(length, char)


@_operation(
    "text.urlDecode",
    "Decode percent-escapes.",
    _STRING,
    value=_TEXT,
    plusAsSpace=_p("boolean", "Read + as a space (HTML form data).", default=False),
)
def _url_decode(inputs: Inputs) -> str:
    value = _text(inputs["value"])
    if inputs["plusAsSpace"]:
        value = value.replace("+", " ")
    try:
        return urllib.parse.unquote(value, errors="strict")
    except UnicodeDecodeError:
        raise FatalError("percent-escapes do not decode to UTF-8 text", field="value") from None


@_operation(
    "text.base64Encode",
    "Base64 of the text's UTF-8 bytes (e.g. for a Basic auth header).",
    _STRING,
    value=_TEXT,
    urlSafe=_p("boolean", "Use - and _ instead of + and /.", default=False),
)
def _base64_encode(inputs: Inputs) -> str:
    data = _text(inputs["value"]).encode("utf-8", "surrogatepass")
    encoded = base64.urlsafe_b64encode(data) if inputs["urlSafe"] else base64.b64encode(data)
    return encoded.decode("ascii")


@_operation(
    "text.base64Decode",
    "Decode base64 (either alphabet, padding optional) to UTF-8 text.",
    _STRING,
    value=_TEXT,
)
def _base64_decode(inputs: Inputs) -> str:
    data = re.sub(r"\s+", "", _text(inputs["value"])).translate(str.maketrans("-_", "+/"))
    data += "=" * (-len(data) % 4)  # senders often drop the padding
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise FatalError("is not base64 text", field="value") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise FatalError("decodes to bytes that are not UTF-8 text", field="value") from None


@_operation(
    "text.slugify",
    "Lower-case ASCII words joined by a separator, for URLs and keys (accents dropped).",
    _STRING,
    value=_TEXT,
    separator=_p("string", "Between words.", maxLength=3, default="-"),
)
def _slugify(inputs: Inputs) -> str:
    plain = unicodedata.normalize("NFKD", _text(inputs["value"])).encode("ascii", "ignore")
    separator = inputs["separator"]
    return re.sub(r"[^a-z0-9]+", separator, plain.decode().lower()).strip(separator)


# -- numbers ----------------------------------------------------------------------------------

_MATH = Context(prec=400, traps=[InvalidOperation, DivisionByZero, Overflow])
_NUMERIC_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_MAX_EXPONENT = 308  # what a JSON number (a double) holds; bounds the digits we ever print
_ROUNDING = {  # our names for decimal's ROUND_* modes
    "half-up": decimal.ROUND_HALF_UP,
    "half-even": decimal.ROUND_HALF_EVEN,
    "half-down": decimal.ROUND_HALF_DOWN,
    "up": decimal.ROUND_UP,
    "down": decimal.ROUND_DOWN,
    "ceiling": decimal.ROUND_CEILING,
    "floor": decimal.ROUND_FLOOR,
}
_MODE = _p(
    "string",
    "How to round: half-up (ties away from zero: 2.5 -> 3, -2.5 -> -3), half-even (ties to "
    "the even digit: 2.5 -> 2), half-down, up (away from zero), down (toward zero), ceiling, "
    "floor.",
    enum=list(_ROUNDING),
    default="half-up",
)
_NUMBER_IN = _p(["number", "string"], "A number, or numeric text such as 19.90.")
_DECIMAL_SEPARATOR = _p("string", "Decimal separator.", minLength=1, maxLength=3, default=".")


def _decimal(value: float | str, name: str) -> Decimal:
    """``value`` as an exact decimal; a float becomes its shortest text (0.1 stays 0.1)."""
    if isinstance(value, str):
        text = value.strip()
        if not _NUMERIC_TEXT.fullmatch(text):
            raise FatalError(f"{_shown(value)} is not a number", field=name)
        number = Decimal(text)
    else:
        number = Decimal(repr(value) if isinstance(value, float) else value)
    if not number.is_finite():
        raise FatalError(f"{value!r} is not a finite number", field=name)
    if not -2 * _MAX_EXPONENT <= number.adjusted() <= _MAX_EXPONENT:
        raise FatalError(f"{_shown(str(value))} is out of range", field=name)
    return number


def _json_number(number: Decimal) -> int | float:
    return int(number) if number == number.to_integral_value() else float(number)


def _rounded(number: Decimal, decimals: int, mode: str) -> Decimal:
    exponent = Decimal(1).scaleb(-decimals, _MATH)
    return number.quantize(exponent, rounding=_ROUNDING[mode], context=_MATH)


def _separators(inputs: Inputs) -> tuple[str, str]:
    decimal_sep, thousands = inputs["decimalSeparator"], inputs["thousandsSeparator"]
    if thousands and thousands == decimal_sep:
        raise FatalError("must differ from decimalSeparator", field="thousandsSeparator")
    return decimal_sep, thousands


@_operation(
    "number.format",
    "Write a number as text with chosen separators, e.g. 1234.5 -> 1,234.50.",
    _STRING,
    value=_NUMBER_IN,
    decimals=_p("integer", "Digits after the separator; absent keeps all.", minimum=0, maximum=20),
    mode=_MODE,
    decimalSeparator=_DECIMAL_SEPARATOR,
    thousandsSeparator=_p("string", "Groups of 3 digits; empty for none.", maxLength=3, default=""),
)
def _format_number(inputs: Inputs) -> str:
    decimal_sep, thousands = _separators(inputs)
    number = _decimal(inputs["value"], "value")
    if "decimals" in inputs:
        number = _rounded(number, int(inputs["decimals"]), inputs["mode"])
    text = format(number.copy_abs() if number.is_zero() else number, "f")  # never "-0.00"
    sign = "-" if text.startswith("-") else ""
    whole, _, fraction = text.lstrip("-").partition(".")
    if thousands:
        head = len(whole) % 3 or 3
        whole = thousands.join(
            [whole[:head], *(whole[i : i + 3] for i in range(head, len(whole), 3))]
        )
    return sign + whole + (decimal_sep + fraction if fraction else "")


@_operation(
    "number.round",
    "Round to `decimals` places (negative rounds to tens, hundreds...).",
    _NUMBER,
    value=_NUMBER_IN,
    decimals=_p("integer", "Places after the point.", minimum=-20, maximum=20, default=0),
    mode=_MODE,
)
def _round(inputs: Inputs) -> int | float:
    number = _decimal(inputs["value"], "value")
    return _json_number(_rounded(number, int(inputs["decimals"]), inputs["mode"]))


@_operation(
    "number.parse",
    "Read a number from text such as 1,234.56 (or 1.234,56 with the separators swapped).",
    _NUMBER,
    value=_NUMBER_IN,
    decimalSeparator=_DECIMAL_SEPARATOR,
    thousandsSeparator=_p("string", "Groups digits; empty for none.", maxLength=3, default=","),
)
def _parse_number(inputs: Inputs) -> int | float:
    decimal_sep, thousands = _separators(inputs)
    value = inputs["value"]
    if not isinstance(value, str):
        return _json_number(_decimal(value, "value"))
    whole, found, fraction = value.strip().partition(decimal_sep)
    if thousands and thousands in whole:
        # Grouping is checked so that "1,5" (a European 1.5) is refused, not read as 15.
        grouped = rf"[+-]?[0-9]{{1,3}}(?:{re.escape(thousands)}[0-9]{{3}})+"
        if not re.fullmatch(grouped, whole):
            message = f"{_shown(value)} is not a number ({thousands!r} misplaced)"
            raise FatalError(message, field="value")
        whole = whole.replace(thousands, "")
    plain = whole + ("." + fraction if found else "")
    if decimal_sep in fraction or not _NUMERIC_TEXT.fullmatch(plain):
        raise FatalError(f"{_shown(value)} is not a number", field="value")
    return _json_number(_decimal(plain, "value"))


def _arithmetic(name: str, description: str) -> None:
    method: Callable[[Decimal, Decimal], Decimal] = getattr(_MATH, name)

    def apply(inputs: Inputs) -> int | float:
        a, b = _decimal(inputs["a"], "a"), _decimal(inputs["b"], "b")
        if name == "divide" and b.is_zero():
            raise FatalError("cannot divide by zero", field="b")
        return _json_number(method(a, b))

    _operation(f"number.{name}", description, _NUMBER, ("a", "b"), a=_NUMBER_IN, b=_NUMBER_IN)(
        apply
    )


_arithmetic("add", "a + b, exactly in decimal (0.1 + 0.2 is 0.3).")
_arithmetic("subtract", "a - b, exactly in decimal.")
_arithmetic("multiply", "a * b, exactly in decimal.")
_arithmetic("divide", "a / b; dividing by zero fails the run.")


# -- dates ------------------------------------------------------------------------------------

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


# -- JSON -------------------------------------------------------------------------------------

_PATH_STEP = re.compile(r'\.?([^.\[\]"]+)|\[(-?[0-9]+)\]|\["([^"]*)"\]')


@_operation("json.parse", "Read JSON text into a value.", _ANY, value=_p("string", "JSON text."))
def _parse_json(inputs: Inputs) -> Any:
    def constant(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    try:
        return json.loads(inputs["value"], parse_constant=constant)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno} column {error.colno} (character {error.pos})"
        raise FatalError(f"is not JSON: {error.msg} at {where}", field="value") from None
    except (ValueError, RecursionError) as error:
        raise FatalError(f"is not JSON: {error}", field="value") from None


@_operation(
    "json.stringify",
    "Write a value as JSON text.",
    _STRING,
    value=_p(None, "Any JSON value."),
    pretty=_p("boolean", "Indent by two spaces, one item per line.", default=False),
    sortKeys=_p("boolean", "Order object keys alphabetically.", default=False),
)
def _stringify(inputs: Inputs) -> str:
    pretty = inputs["pretty"]
    try:
        return json.dumps(
            inputs["value"],
            ensure_ascii=False,
            allow_nan=False,
            sort_keys=inputs["sortKeys"],
            indent=2 if pretty else None,
            separators=None if pretty else (",", ":"),
        )
    except ValueError as error:
        raise FatalError(f"cannot be written as JSON: {error}", field="value") from None


def _path(path: str) -> list[str | int]:
    steps: list[str | int] = []
    position = 0
    while position < len(path):
        match = _PATH_STEP.match(path, position)
        if match is None or path.startswith("."):
            problem = f"{_shown(path)} is not a path like 'a.b[0].c'"
            raise FatalError(f"{problem} (at character {position + 1})", field="path")
        name, index, quoted = match.groups()
        steps.append(int(index) if index is not None else quoted if quoted is not None else name)
        position = match.end()
    return steps


@_operation(
    "json.get",
    "The value at a path such as order.items[0].sku, or `default` when there is none.",
    _ANY,
    ("value", "path"),
    value=_p(None, "Any JSON value."),
    path=_p("string", 'Keys joined by dots, list indexes in [n], odd keys in ["..."].'),
    default=_p(None, "Returned when the path leads nowhere; null if absent."),
)
def _get(inputs: Inputs) -> Any:
    current = inputs["value"]
    for step in _path(inputs["path"]):
        if isinstance(current, list):
            # "items.0.sku" means what "items[0].sku" means.
            index = int(step) if isinstance(step, int) or re.fullmatch(r"-?\d+", step) else None
            if index is None or not -len(current) <= index < len(current):
                return inputs.get("default")
            current = current[index]
        elif isinstance(current, dict) and isinstance(step, str) and step in current:
            current = current[step]
        else:
            return inputs.get("default")
    return current


@_operation(
    "json.merge",
    "Merge objects in order, later keys winning; null items are skipped.",
    {"type": "object"},
    value=_p("array", "Objects to merge.", items={"type": ["object", "null"]}),
    deep=_p("boolean", "Merge nested objects too instead of replacing them.", default=False),
)
def _merge(inputs: Inputs) -> dict[str, Any]:
    def deep(into: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
        merged = dict(into)
        for key, value in extra.items():
            old = merged.get(key)
            if isinstance(old, dict) and isinstance(value, dict):
                value = deep(old, value)
            merged[key] = value
        return merged

    result: dict[str, Any] = {}
    for item in inputs["value"]:
        if item is not None:
            result = deep(result, item) if inputs["deep"] else {**result, **item}
    return result
