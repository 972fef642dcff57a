"""Formatter operations: normal cases, edges (unicode, rounding ties, DST, month ends, epoch
milliseconds), errors that name the input, and schemas that tell the truth."""

from __future__ import annotations

import dataclasses
import re
import time
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from solder.engine import formatters
from solder.engine.formatters import OPERATIONS, check_operation, run
from solder.errors import BadInput, FatalError

NY = "America/New_York"

# One ordinary use of every operation and what it gives; also checked against the output schema.
NORMAL: dict[str, tuple[dict[str, Any], Any]] = {
    "text.upper": ({"value": "Order shipped"}, "ORDER SHIPPED"),
    "text.lower": ({"value": "Order SHIPPED"}, "order shipped"),
    "text.trim": ({"value": "  hello \n"}, "hello"),
    "text.capitalize": ({"value": "hello wORLD"}, "Hello World"),
    "text.replace": ({"value": "a-b-c", "find": "-", "replace": "+"}, "a+b+c"),
    "text.split": ({"value": "a,b,c"}, ["a", "b", "c"]),
    "text.join": ({"value": ["a", "b"], "separator": ", "}, "a, b"),
    "text.truncate": ({"value": "Hello world", "length": 8}, "Hello..."),
    "text.substring": ({"value": "Hello world", "start": 6}, "world"),
    "text.pad": ({"value": "42", "length": 5, "character": "0"}, "00042"),
    "text.urlEncode": ({"value": "a b&c=d/é"}, "a%20b%26c%3Dd%2F%C3%A9"),
    "text.urlDecode": ({"value": "a%20b%26c%3Dd%2F%C3%A9"}, "a b&c=d/é"),
    "text.base64Encode": ({"value": "user:pässword"}, "dXNlcjpww6Rzc3dvcmQ="),
    "text.base64Decode": ({"value": "dXNlcjpww6Rzc3dvcmQ="}, "user:pässword"),
    "text.slugify": ({"value": "Crème Brûlée: 2 for $5!"}, "creme-brulee-2-for-5"),
    "number.format": (
        {"value": "1234567.891", "decimals": 2, "thousandsSeparator": ","},
        "1,234,567.89",
    ),
    "number.round": ({"value": 2.675, "decimals": 2}, 2.68),
    "number.parse": ({"value": "1,234.56"}, 1234.56),
    "number.add": ({"a": 0.1, "b": 0.2}, 0.3),
    "number.subtract": ({"a": "19.90", "b": 0.9}, 19),
    "number.multiply": ({"a": "19.99", "b": 3}, 59.97),
    "number.divide": ({"a": 10, "b": 4}, 2.5),
    "date.parse": (
        {"value": "2024-03-10 09:00", "timeZone": NY},
        "2024-03-10T13:00:00Z",
    ),
    "date.format": (
        {"value": "2024-03-10T14:00:00Z", "format": "%a %d %b %Y %H:%M %Z", "timeZone": NY},
        "Sun 10 Mar 2024 10:00 EDT",
    ),
    "date.convertTimeZone": (
        {"value": "2024-03-10T14:00:00Z", "timeZone": "Asia/Kolkata"},
        "2024-03-10T19:30:00+05:30",
    ),
    "date.add": (
        {"value": "2024-03-09T09:00:00-05:00", "amount": 1, "unit": "days", "timeZone": NY},
        "2024-03-10T09:00:00-04:00",
    ),
    "date.difference": (
        {"start": "2024-01-01T00:00:00Z", "end": "2024-03-01T00:00:00Z", "unit": "days"},
        60,
    ),
    "json.parse": ({"value": '{"a": [1, 2.5, "x", null, true]}'}, {"a": [1, 2.5, "x", None, True]}),
    "json.stringify": ({"value": {"b": 1, "a": "é"}}, '{"b":1,"a":"é"}'),
    "json.get": (
        {"value": {"order": {"items": [{"sku": "S1"}]}}, "path": "order.items[0].sku"},
        "S1",
    ),
    "json.merge": ({"value": [{"a": 1, "b": 1}, {"b": 2}]}, {"a": 1, "b": 2}),
}


def test_every_operation_has_a_normal_case() -> None:
    assert set(NORMAL) == set(OPERATIONS)


@pytest.mark.parametrize("name", sorted(NORMAL))
def test_normal_case_and_its_output_schema(name: str) -> None:
    inputs, expected = NORMAL[name]
    result = run(name, inputs)
    assert result == expected
    assert type(result) is type(expected)  # 19 is an int, 2.5 a float, never Decimal
    Draft202012Validator(OPERATIONS[name].output_schema).validate(result)


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_input_schema_draws_a_form(name: str) -> None:
    op = OPERATIONS[name]
    assert op.name == name
    assert op.description
    assert re.fullmatch(r"(text|number|date|json)\.[a-z][a-zA-Z0-9]*", name)
    schema = op.input_schema
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) <= set(schema["properties"])
    for key, prop in schema["properties"].items():
        assert re.fullmatch(r"[a-z][a-zA-Z0-9]*", key), key  # camelCase
        assert prop["description"], key
        if "default" in prop:
            Draft202012Validator(prop).validate(prop["default"])
            assert key not in schema["required"]


def test_output_schemas_reject_what_they_should() -> None:
    parse = Draft202012Validator(OPERATIONS["date.parse"].output_schema)
    assert not parse.is_valid("2024-03-10T13:00:00+01:00")  # date.parse promises UTC
    add = Draft202012Validator(OPERATIONS["date.add"].output_schema)
    assert not add.is_valid("2024-03-10")
    assert not Draft202012Validator(OPERATIONS["number.add"].output_schema).is_valid("1")


# -- text -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "inputs", "expected"),
    [
        ("text.upper", {"value": "straße"}, "STRASSE"),
        ("text.upper", {"value": ""}, ""),
        ("text.upper", {"value": 42}, "42"),
        ("text.upper", {"value": 7.0}, "7"),
        ("text.upper", {"value": 1e-7}, "0.0000001"),
        ("text.lower", {"value": "ÀÉÎ ΣΑΣ"}, "àéî σας"),
        ("text.trim", {"value": "\u00a0\t hi there \u2003"}, "hi there"),
        ("text.trim", {"value": "--hi--", "characters": "-"}, "hi"),
        ("text.trim", {"value": "  "}, ""),
        ("text.capitalize", {"value": "élan  o'NEIL"}, "Élan  O'neil"),
        ("text.capitalize", {"value": ""}, ""),
        ("text.replace", {"value": "a-b-c", "find": "-", "all": False}, "ab-c"),
        ("text.replace", {"value": "1.5", "find": ".", "replace": ","}, "1,5"),  # not a regex
        ("text.replace", {"value": "", "find": "x"}, ""),
        ("text.split", {"value": "a, b ,c", "trim": True}, ["a", "b", "c"]),
        ("text.split", {"value": "a,,b"}, ["a", "", "b"]),
        ("text.split", {"value": ""}, []),
        ("text.split", {"value": "日本語", "separator": ""}, ["日", "本", "語"]),
        ("text.split", {"value": "a | b", "separator": " | "}, ["a", "b"]),
        ("text.join", {"value": [1, None, True, "x", 2.5]}, "1,,true,x,2.5"),
        ("text.join", {"value": []}, ""),
        ("text.truncate", {"value": "Hello", "length": 5}, "Hello"),
        ("text.truncate", {"value": "héllo wörld", "length": 5, "ellipsis": "…"}, "héll…"),
        ("text.truncate", {"value": "Hello", "length": 2}, "He"),  # no room for "..."
        ("text.truncate", {"value": "Hello", "length": 0, "ellipsis": ""}, ""),
        ("text.substring", {"value": "Hello", "start": 1, "end": 3}, "el"),
        ("text.substring", {"value": "Hello", "start": -3}, "llo"),
        ("text.substring", {"value": "Hello", "start": 10}, ""),
        ("text.substring", {"value": "añb", "start": 1, "end": 2}, "ñ"),
        ("text.pad", {"value": 7, "length": 3, "character": "0"}, "007"),
        ("text.pad", {"value": "ab", "length": 4, "side": "end"}, "ab  "),
        ("text.pad", {"value": "abcdef", "length": 3}, "abcdef"),
        ("text.urlEncode", {"value": ""}, ""),
        ("text.urlEncode", {"value": "~-._"}, "~-._"),
        ("text.urlDecode", {"value": "a+b%2Bc"}, "a+b+c"),
        ("text.urlDecode", {"value": "a+b%2Bc", "plusAsSpace": True}, "a b+c"),
        ("text.urlDecode", {"value": "100%"}, "100%"),  # a lone % stays
        ("text.base64Encode", {"value": ""}, ""),
        ("text.base64Encode", {"value": "\u00ff\u00fe?>", "urlSafe": True}, "w7_Dvj8-"),
        ("text.base64Decode", {"value": "w7_Dvj8-"}, "\u00ff\u00fe?>"),  # url-safe alphabet
        ("text.base64Decode", {"value": "aGk"}, "hi"),  # padding dropped
        ("text.base64Decode", {"value": "aGVs\nbG8=\n"}, "hello"),  # MIME line breaks
        ("text.base64Decode", {"value": ""}, ""),
        ("text.slugify", {"value": "  Hello,   World!  "}, "hello-world"),
        ("text.slugify", {"value": "Ünïcödé Straße", "separator": "_"}, "unicode_strae"),
        ("text.slugify", {"value": "日本語"}, ""),
    ],
)
def test_text(name: str, inputs: dict[str, Any], expected: Any) -> None:
    assert run(name, inputs) == expected


def test_base64_round_trip_of_unicode() -> None:
    text = "héllo ✓ 👍🏽"
    encoded = run("text.base64Encode", {"value": text})
    assert run("text.base64Decode", {"value": encoded}) == text


# -- numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        ({"value": 2.5}, 3),
        ({"value": -2.5}, -3),  # half-up means ties away from zero
        ({"value": 2.5, "mode": "half-even"}, 2),
        ({"value": 3.5, "mode": "half-even"}, 4),
        ({"value": 2.5, "mode": "half-down"}, 2),
        ({"value": 2.1, "mode": "up"}, 3),
        ({"value": -2.1, "mode": "up"}, -3),
        ({"value": 2.9, "mode": "down"}, 2),
        ({"value": -2.1, "mode": "ceiling"}, -2),
        ({"value": -2.1, "mode": "floor"}, -3),
        ({"value": 1.005, "decimals": 2}, 1.01),  # binary floats would give 1.0
        ({"value": "0.125", "decimals": 2, "mode": "half-even"}, 0.12),
        ({"value": 1234.5, "decimals": -2}, 1200),
        ({"value": -0.001, "decimals": 2}, 0),
        ({"value": 7, "decimals": 3}, 7),
    ],
)
def test_round(inputs: dict[str, Any], expected: float) -> None:
    result = run("number.round", inputs)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        ({"value": 0.1 + 0.2, "decimals": 2}, "0.30"),
        ({"value": -1234567.5, "decimals": 2, "thousandsSeparator": ","}, "-1,234,567.50"),
        (
            {"value": 1234.5, "decimals": 2, "decimalSeparator": ",", "thousandsSeparator": "."},
            "1.234,50",
        ),
        ({"value": 1000, "thousandsSeparator": " "}, "1 000"),
        ({"value": 999, "thousandsSeparator": ","}, "999"),
        ({"value": "1.50"}, "1.50"),  # no decimals: digits kept as given
        ({"value": 1e20}, "100000000000000000000"),
        ({"value": -0.001, "decimals": 2}, "0.00"),  # never "-0.00"
        ({"value": 0.5, "decimals": 0}, "1"),
        ({"value": 0.5, "decimals": 0, "mode": "half-even"}, "0"),
        ({"value": 12, "decimals": 2}, "12.00"),
    ],
)
def test_format_number(inputs: dict[str, Any], expected: str) -> None:
    assert run("number.format", inputs) == expected


def test_sum_of_tenths_formats_exactly() -> None:
    total = run("number.add", {"a": 0.1, "b": 0.2})
    assert run("number.format", {"value": total, "decimals": 2}) == "0.30"


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        ({"value": "  -1,234.5 "}, -1234.5),
        ({"value": "1.234.567,89", "decimalSeparator": ",", "thousandsSeparator": "."}, 1234567.89),
        ({"value": "1 234,5", "decimalSeparator": ",", "thousandsSeparator": " "}, 1234.5),
        ({"value": "1e3"}, 1000),
        ({"value": "12"}, 12),
        ({"value": ".5"}, 0.5),
        ({"value": 3.5}, 3.5),
        ({"value": "1234", "thousandsSeparator": ""}, 1234),
    ],
)
def test_parse_number(inputs: dict[str, Any], expected: float) -> None:
    result = run("number.parse", inputs)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("name", "a", "b", "expected"),
    [
        ("number.add", 2, 3, 5),
        ("number.add", -1.5, "0.5", -1),
        ("number.subtract", 0.3, 0.1, 0.2),
        ("number.multiply", -2, 0.5, -1),
        ("number.divide", 1, 3, 1 / 3),
        ("number.divide", -7, 2, -3.5),
        ("number.divide", "0", 5, 0),
    ],
)
def test_arithmetic(name: str, a: Any, b: Any, expected: float) -> None:
    result = run(name, {"a": a, "b": b})
    assert result == expected
    assert type(result) is type(expected)


# -- dates ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        ({"value": "2024-03-10T10:00:00+02:00"}, "2024-03-10T08:00:00Z"),
        ({"value": "2024-03-10"}, "2024-03-10T00:00:00Z"),
        ({"value": "2024-03-10", "timeZone": "Asia/Tokyo"}, "2024-03-09T15:00:00Z"),
        ({"value": 1710000000}, "2024-03-09T16:00:00Z"),
        ({"value": 1710000000123}, "2024-03-09T16:00:00.123Z"),  # epoch milliseconds
        ({"value": "1710000000123"}, "2024-03-09T16:00:00.123Z"),
        ({"value": 1710000000.5}, "2024-03-09T16:00:00.500Z"),
        ({"value": -86400}, "1969-12-31T00:00:00Z"),
        ({"value": 86400000, "format": "epochMilliseconds"}, "1970-01-02T00:00:00Z"),
        ({"value": "86400", "format": "epochSeconds"}, "1970-01-02T00:00:00Z"),
        ({"value": "10/03/2024 14:30", "format": "%d/%m/%Y %H:%M"}, "2024-03-10T14:30:00Z"),
        (
            {"value": "10/03/2024 14:30", "format": "%d/%m/%Y %H:%M", "timeZone": NY},
            "2024-03-10T18:30:00Z",
        ),
        ({"value": "2024-03-10T10:00:00.123456789Z"}, "2024-03-10T10:00:00.123456Z"),
        ({"value": "2024-11-03 01:30", "timeZone": NY}, "2024-11-03T05:30:00Z"),  # 1st of two
        ({"value": "2024-03-10 02:30", "timeZone": NY}, "2024-03-10T07:30:00Z"),  # skipped hour
        ({"value": "2024-02-29T12:00:00Z"}, "2024-02-29T12:00:00Z"),
    ],
)
def test_parse_date(inputs: dict[str, Any], expected: str) -> None:
    assert run("date.parse", inputs) == expected


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        ({"value": "2024-03-10T14:00:00Z", "format": "%Y-%m-%d"}, "2024-03-10"),
        ({"value": "2024-03-10T02:00:00Z", "format": "%Y-%m-%d", "timeZone": NY}, "2024-03-09"),
        ({"value": "2024-07-01 09:00", "format": "%H:%M %z", "timeZone": NY}, "09:00 -0400"),
        ({"value": 0, "format": "%Y"}, "1970"),
        ({"value": "2024-01-01", "format": "Week %V, día %j"}, "Week 01, día 001"),
    ],
)
def test_format_date(inputs: dict[str, Any], expected: str) -> None:
    assert run("date.format", inputs) == expected


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        ({"value": "2024-01-15T12:00:00Z", "timeZone": NY}, "2024-01-15T07:00:00-05:00"),
        ({"value": "2024-07-15T12:00:00Z", "timeZone": NY}, "2024-07-15T08:00:00-04:00"),
        (
            {"value": "2024-01-15T12:00:00Z", "timeZone": "Europe/London"},
            "2024-01-15T12:00:00+00:00",
        ),
        ({"value": "2024-01-15T12:00:00+01:00", "timeZone": "UTC"}, "2024-01-15T11:00:00Z"),
        (
            {"value": "2024-01-15 09:00", "fromTimeZone": NY, "timeZone": "Europe/Paris"},
            "2024-01-15T15:00:00+01:00",
        ),
    ],
)
def test_convert_time_zone(inputs: dict[str, Any], expected: str) -> None:
    assert run("date.convertTimeZone", inputs) == expected


@pytest.mark.parametrize(
    ("value", "amount", "unit", "zone", "expected"),
    [
        # DST starts in New York on 2024-03-10 and ends on 2024-11-03.
        ("2024-03-09T09:00:00-05:00", 1, "days", NY, "2024-03-10T09:00:00-04:00"),
        ("2024-03-09T09:00:00-05:00", 24, "hours", NY, "2024-03-10T10:00:00-04:00"),
        ("2024-11-02T09:00:00-04:00", 1, "days", NY, "2024-11-03T09:00:00-05:00"),
        ("2024-03-09T09:00:00-05:00", 1, "weeks", NY, "2024-03-16T09:00:00-04:00"),
        ("2024-03-10T10:00:00-04:00", -1, "days", NY, "2024-03-09T10:00:00-05:00"),
        ("2024-03-09T02:30:00-05:00", 1, "days", NY, "2024-03-10T03:30:00-04:00"),  # gap
        ("2024-03-10T01:30:00-05:00", 1, "hours", NY, "2024-03-10T03:30:00-04:00"),
        ("2024-03-09T14:00:00Z", 1, "days", "UTC", "2024-03-10T14:00:00Z"),
        # Month ends clamp; leap years count.
        ("2024-01-31", 1, "months", "UTC", "2024-02-29T00:00:00Z"),
        ("2023-01-31", 1, "months", "UTC", "2023-02-28T00:00:00Z"),
        ("2024-03-31", -1, "months", "UTC", "2024-02-29T00:00:00Z"),
        ("2024-08-31", 1, "months", "UTC", "2024-09-30T00:00:00Z"),
        ("2024-11-30", 3, "months", "UTC", "2025-02-28T00:00:00Z"),
        ("2024-02-29", 1, "years", "UTC", "2025-02-28T00:00:00Z"),
        ("2024-02-29", 4, "years", "UTC", "2028-02-29T00:00:00Z"),
        ("2024-01-31T23:30:00Z", 90, "seconds", "UTC", "2024-01-31T23:31:30Z"),
        ("2024-01-31T23:30:00Z", 45, "minutes", "UTC", "2024-02-01T00:15:00Z"),
        (1710000000123, 0, "days", "UTC", "2024-03-09T16:00:00.123Z"),
    ],
)
def test_add_date(value: Any, amount: int, unit: str, zone: str, expected: str) -> None:
    inputs = {"value": value, "amount": amount, "unit": unit, "timeZone": zone}
    assert run("date.add", inputs) == expected


@pytest.mark.parametrize(
    ("start", "end", "unit", "zone", "expected"),
    [
        ("2024-03-10T00:00:00-05:00", "2024-03-11T00:00:00-04:00", "days", NY, 1),  # 23 hours
        ("2024-03-10T00:00:00-05:00", "2024-03-11T00:00:00-04:00", "hours", NY, 23),
        ("2024-01-01T00:00:00Z", "2024-01-01T01:30:59Z", "minutes", "UTC", 90),
        ("2024-01-01T00:00:00Z", "2024-01-01T01:30:59Z", "seconds", "UTC", 5459),
        ("2024-01-02T00:00:00Z", "2024-01-01T12:00:00Z", "days", "UTC", 0),  # toward zero
        ("2024-01-03T00:00:00Z", "2024-01-01T00:00:00Z", "days", "UTC", -2),
        ("2024-01-01", "2024-01-15", "weeks", "UTC", 2),
        ("2024-01-31", "2024-02-29", "months", "UTC", 1),
        ("2024-01-31", "2024-02-28", "months", "UTC", 0),
        ("2024-03-31", "2024-02-29", "months", "UTC", -1),
        ("2024-02-29", "2025-02-28", "years", "UTC", 1),
        ("2024-03-01", "2025-02-28", "years", "UTC", 0),
        ("2026-01-01", "2024-01-01", "years", "UTC", -2),
        (0, 1710000000000, "days", "UTC", 19791),
    ],
)
def test_date_difference(start: Any, end: Any, unit: str, zone: str, expected: int) -> None:
    inputs = {"start": start, "end": end, "unit": unit, "timeZone": zone}
    assert run("date.difference", inputs) == expected


def test_dates_ignore_the_server_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is POSIX only")
    inputs = {"value": "2024-03-10 09:00", "format": "%d/%m/%Y %H:%M"}
    expected = [run("date.parse", {"value": "2024-03-10 09:00"}), run("date.format", inputs)]
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        result = [run("date.parse", {"value": "2024-03-10 09:00"}), run("date.format", inputs)]
    finally:
        monkeypatch.undo()
        time.tzset()
    assert result == expected == ["2024-03-10T09:00:00Z", "10/03/2024 09:00"]


# -- JSON -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "inputs", "expected"),
    [
        ("json.parse", {"value": ' [1, "ü", {}] '}, [1, "ü", {}]),
        ("json.parse", {"value": "null"}, None),
        ("json.parse", {"value": "12345678901234567890"}, 12345678901234567890),
        ("json.stringify", {"value": None}, "null"),
        ("json.stringify", {"value": "ü\n"}, '"ü\\n"'),
        ("json.stringify", {"value": {"b": [1, 2], "a": 1}, "sortKeys": True}, '{"a":1,"b":[1,2]}'),
        ("json.stringify", {"value": {"a": [1]}, "pretty": True}, '{\n  "a": [\n    1\n  ]\n}'),
        (
            "json.get",
            {"value": {"items": [{"sku": "A"}, {"sku": "B"}]}, "path": "items.1.sku"},
            "B",
        ),
        ("json.get", {"value": {"items": [1, 2, 3]}, "path": "items[-1]"}, 3),
        ("json.get", {"value": {"a.b": {"c d": 1}}, "path": '["a.b"]["c d"]'}, 1),
        ("json.get", {"value": [[0, 1]], "path": "[0][1]"}, 1),
        ("json.get", {"value": {"a": 1}, "path": ""}, {"a": 1}),
        ("json.get", {"value": {"a": 1}, "path": "b", "default": "none"}, "none"),
        ("json.get", {"value": {"a": 1}, "path": "a.b"}, None),  # through a number
        ("json.get", {"value": {"a": [1]}, "path": "a[5]", "default": 0}, 0),
        ("json.get", {"value": {"a": [1]}, "path": "a.x", "default": 0}, 0),
        ("json.get", {"value": {"0": "zero"}, "path": "0"}, "zero"),
        ("json.get", {"value": {"a": None}, "path": "a", "default": 1}, None),  # present null
        ("json.merge", {"value": []}, {}),
        ("json.merge", {"value": [{"a": 1}, None, {"b": 2}]}, {"a": 1, "b": 2}),
        (
            "json.merge",
            {"value": [{"a": {"x": 1, "y": 1}}, {"a": {"y": 2}}]},
            {"a": {"y": 2}},
        ),
        (
            "json.merge",
            {"value": [{"a": {"x": 1, "y": 1}, "l": [1]}, {"a": {"y": 2}, "l": [2]}], "deep": True},
            {"a": {"x": 1, "y": 2}, "l": [2]},
        ),
    ],
)
def test_json(name: str, inputs: dict[str, Any], expected: Any) -> None:
    assert run(name, inputs) == expected


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "inputs", "field", "problem"),
    [
        (
            "number.format",
            {"value": 1, "decimals": -1},
            "decimals",
            "-1 is less than the minimum of 0",
        ),
        ("number.format", {"decimals": 2}, "value", "is required"),
        ("number.format", {"value": True}, "value", "must be number or string, not boolean"),
        ("number.format", {"value": 1, "decimals": 1.5}, "decimals", "must be integer, not number"),
        (
            "number.format",
            {"value": 1, "decimal": 2},
            "decimal",
            "is not an input of number.format",
        ),
        ("number.format", {"value": "1.2.3"}, "value", "'1.2.3' is not a number"),
        ("number.format", {"value": "1e999"}, "value", "out of range"),
        ("number.format", {"value": float("nan")}, "value", "not a finite number"),
        ("number.round", {"value": 1, "mode": "bankers"}, "mode", "'bankers' is not one of"),
        ("number.parse", {"value": "abc"}, "value", "'abc' is not a number"),
        ("number.parse", {"value": ""}, "value", "'' is not a number"),
        ("number.parse", {"value": "NaN"}, "value", "not a number"),
        ("number.parse", {"value": "1,5"}, "value", "',' misplaced"),
        ("number.parse", {"value": "1,234.5.6"}, "value", "is not a number"),
        ("number.parse", {"value": "1,234", "thousandsSeparator": ""}, "value", "not a number"),
        (
            "number.parse",
            {"value": "1,5", "decimalSeparator": ","},
            "thousandsSeparator",
            "must differ from decimalSeparator",
        ),
        ("number.add", {"a": "x", "b": 1}, "a", "'x' is not a number"),
        ("number.multiply", {"a": 1}, "b", "is required"),
        ("number.divide", {"a": 1, "b": 0}, "b", "cannot divide by zero"),
        ("number.divide", {"a": 1, "b": "0.00"}, "b", "cannot divide by zero"),
        ("text.upper", {"value": ["a"]}, "value", "must be string or number, not array"),
        ("text.upper", {"value": None}, "value", "must be string or number, not null"),
        ("text.replace", {"value": "abc"}, "find", "is required"),
        ("text.replace", {"value": "abc", "find": ""}, "find", "should be non-empty"),
        ("text.join", {"value": ["a", {"b": 1}]}, "value[1]", "not object"),
        ("text.join", {"value": "a,b"}, "value", "must be array, not string"),
        ("text.pad", {"value": "a", "length": 10_001}, "length", "maximum of 10000"),
        ("text.pad", {"value": "a", "length": 3, "character": "ab"}, "character", "too long"),
        ("text.truncate", {"value": "a", "length": -1}, "length", "minimum of 0"),
        ("text.urlDecode", {"value": "%FF"}, "value", "do not decode to UTF-8"),
        ("text.base64Decode", {"value": "!!!!"}, "value", "is not base64"),
        ("text.base64Decode", {"value": "abcde"}, "value", "is not base64"),
        ("text.base64Decode", {"value": "/w=="}, "value", "not UTF-8 text"),
        ("date.parse", {"value": "yesterday"}, "value", "'yesterday' is not a date in ISO-8601"),
        ("date.parse", {"value": ""}, "value", "is not a date"),
        ("date.parse", {"value": "2023-02-29"}, "value", "is not a date"),
        (
            "date.parse",
            {"value": "2024-03-10", "format": "%d/%m/%Y"},
            "value",
            "is not a date in the format '%d/%m/%Y'",
        ),
        ("date.parse", {"value": 1e20}, "value", "outside the years 1 to 9999"),
        ("date.parse", {"value": "x", "format": "epochSeconds"}, "value", "not a number"),
        (
            "date.parse",
            {"value": "2024-01-01", "timeZone": "Mars/Base"},
            "timeZone",
            "unknown time zone 'Mars/Base'",
        ),
        (
            "date.format",
            {"value": "2024-01-01", "format": "%Y", "timeZone": "EST5"},
            "timeZone",
            "unknown time zone",
        ),
        (
            "date.format",
            {"value": "2024-01-01", "format": "%Y", "timeZone": "../etc/passwd"},
            "timeZone",
            "unknown time zone",
        ),
        ("date.format", {"value": "2024-01-01"}, "format", "is required"),
        ("date.format", {"value": "2024-01-01", "format": "%Y\x00%m"}, "format", "NUL"),
        (
            "date.convertTimeZone",
            {"value": "2024-01-01", "timeZone": "Nowhere"},
            "timeZone",
            "unknown time zone",
        ),
        (
            "date.convertTimeZone",
            {"value": "2024-01-01", "timeZone": "UTC", "fromTimeZone": "+02:00"},
            "fromTimeZone",
            "unknown time zone",
        ),
        (
            "date.add",
            {"value": "9999-12-31", "amount": 1, "unit": "days"},
            "amount",
            "outside the years",
        ),
        (
            "date.add",
            {"value": "2024-01-01", "amount": 10**12, "unit": "hours"},
            "amount",
            "outside the years",
        ),
        (
            "date.add",
            {"value": "0001-01-01", "amount": -1, "unit": "months"},
            "amount",
            "outside the years",
        ),
        (
            "date.add",
            {"value": "2024-01-01", "amount": 1, "unit": "fortnights"},
            "unit",
            "is not one of",
        ),
        (
            "date.add",
            {"value": "2024-01-01", "amount": 1.5, "unit": "days"},
            "amount",
            "must be integer",
        ),
        (
            "date.difference",
            {"start": "2024-01-01", "end": "soon", "unit": "days"},
            "end",
            "'soon' is not a date",
        ),
        ("date.difference", {"start": "2024-01-01", "end": "2024-01-02"}, "unit", "is required"),
        ("json.parse", {"value": '{\n  "a": 1,\n}'}, "value", "at line 3 column 1 (character 12)"),
        ("json.parse", {"value": ""}, "value", "is not JSON: Expecting value at line 1 column 1"),
        ("json.parse", {"value": "[NaN]"}, "value", "NaN is not JSON"),
        ("json.parse", {"value": "[" * 100_000}, "value", "is not JSON"),
        ("json.parse", {"value": {"a": 1}}, "value", "must be string, not object"),
        ("json.stringify", {"value": float("inf")}, "value", "cannot be written as JSON"),
        ("json.stringify", {}, "value", "is required"),
        (
            "json.get",
            {"value": {}, "path": "a..b"},
            "path",
            "is not a path like 'a.b[0].c' (at character 2)",
        ),
        ("json.get", {"value": {}, "path": ".a"}, "path", "is not a path"),
        ("json.get", {"value": {}, "path": "a[x]"}, "path", "is not a path"),
        ("json.merge", {"value": [{"a": 1}, [1]]}, "value[1]", "not array"),
    ],
)
def test_bad_input_names_the_field(
    name: str, inputs: dict[str, Any], field: str, problem: str
) -> None:
    with pytest.raises(FatalError) as caught:
        run(name, inputs)
    assert caught.value.field == field
    assert caught.value.message.startswith(f"formatter {name}: inputs.{field}: ")
    assert problem in caught.value.message


def test_error_messages_stay_short() -> None:
    with pytest.raises(FatalError) as caught:
        run("number.parse", {"value": "x" * 10_000})
    assert len(caught.value.message) < 200
    with pytest.raises(FatalError) as caught:
        run("text.split", {"value": "a", "separator": ["y" * 10_000]})
    assert len(caught.value.message) < 200


def test_null_optional_inputs_count_as_absent() -> None:
    inputs = {"value": 1.5, "decimals": None, "thousandsSeparator": None}
    assert run("number.format", inputs) == "1.5"
    assert run("json.get", {"value": {}, "path": "a", "default": None}) is None


def test_run_leaves_inputs_alone() -> None:
    inputs = {"value": "x", "length": 3}
    run("text.pad", inputs)
    assert inputs == {"value": "x", "length": 3}


def test_unknown_operation() -> None:
    with pytest.raises(FatalError) as at_run:
        run("text.shout", {"value": "a"})
    assert at_run.value.field == "operation"
    with pytest.raises(BadInput) as at_push:
        check_operation("text.uper")
    assert at_push.value.field == "operation"
    assert "did you mean 'text.upper'?" in at_push.value.message
    assert all(name in at_push.value.message for name in OPERATIONS)
    check_operation("text.upper")  # a known name passes


def test_validators_are_built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a validator was built during a run")

    monkeypatch.setattr(formatters.registry, "Draft202012Validator", refuse)
    assert run("text.upper", {"value": "a"}) == "A"
    with pytest.raises(FatalError):
        run("text.upper", {})


def test_operations_are_frozen_values() -> None:
    op = OPERATIONS["text.upper"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        op.name = "text.shout"  # type: ignore[misc]
    assert "fn" not in repr(op)
    assert "text.upper" in repr(op)


def test_a_broken_schema_fails_when_declared() -> None:
    from jsonschema.exceptions import SchemaError

    with pytest.raises(SchemaError):
        formatters.Operation("x.y", "bad", {"type": "objekt"}, {}, lambda inputs: None)
