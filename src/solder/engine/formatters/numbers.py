"""The ``number.*`` formatter operations: formatting, rounding, parsing and exact decimal
arithmetic."""

from __future__ import annotations

import decimal
import re
from collections.abc import Callable
from decimal import Decimal

from solder.engine.formatters.registry import (
    _MATH,
    _NUMERIC_TEXT,
    _STRING,
    Inputs,
    Schema,
    _decimal,
    _operation,
    _p,
    _shown,
)
from solder.errors import FatalError

_NUMBER: Schema = {"type": "number"}
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
