"""The table of formatter operations, and checking and running one by name.

Every operation module declares its operations here with :func:`_operation`; the table keeps
the order they were declared in, which is the order the builder lists them in. Errors::

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

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Context, Decimal, DivisionByZero, InvalidOperation, Overflow
from typing import Any

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

# Numbers as exact decimals: the number operations compute with them, and text and date
# operations read numbers with them too.
_MATH = Context(prec=400, traps=[InvalidOperation, DivisionByZero, Overflow])
_NUMERIC_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_MAX_EXPONENT = 308  # what a JSON number (a double) holds; bounds the digits we ever print


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
