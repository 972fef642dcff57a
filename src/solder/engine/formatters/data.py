"""The ``json.*`` formatter operations: reading and writing JSON text, paths, merging."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from solder.engine.formatters.registry import _STRING, Inputs, Schema, _operation, _p, _shown
from solder.errors import FatalError

_ANY: Schema = {}
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
