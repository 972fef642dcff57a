"""The data-mapping language: JSONata expressions inside ``{{ }}`` (see ``docs/mapping.md``).

A block's ``inputs`` are any JSON. Every string in them may hold ``{{ expr }}``:

* a string that is exactly one ``{{ expr }}`` (whitespace around it allowed) becomes the
  expression's value with its JSON type kept;
* a string mixing text and expressions becomes text, each value written as text;
* anything else is returned as is.

The expressions read the render context's keys as top-level names (``trigger``, ``blocks``,
``config``, ``user``, ``execution``). Errors::

    BadInput    a syntax error, known when the workflow is pushed (``validate`` lists them all)
    FatalError  evaluation failed, ran past the time limit or the depth limit

Both name the input path, e.g. ``inputs.body.orderId``.

Thread safety: compiled expressions are cached and shared, but jsonata-python keeps its
time bound, current input and ``$now()`` timestamp on the expression object and its frame.
Each evaluation therefore runs on a shallow copy with a fresh frame and a fresh time bound
(whose clock starts at that moment, not at compile time), registered as this thread's
current instance.

Speed: most mappings are plain paths (``trigger.order.id``, ``config.channel``). Those are
looked up directly in the context instead of being evaluated by JSONata, with JSONata's
results (a missing name or a step into a scalar is undefined, i.e. ``None``); a path that
meets a list on its way (where JSONata would map over the list) is left to JSONata.
``tests/engine/test_mapping_paths.py`` compares the two on many shapes.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple, cast

from jsonata import functions as jsonata_functions
from jsonata import jexception
from jsonata import jsonata as jsonata_module

from solder.errors import BadInput, FatalError

__all__ = ["DEFAULT_MAX_DEPTH", "DEFAULT_TIMEOUT_MS", "render", "validate"]

DEFAULT_TIMEOUT_MS = 1000
"""Wall-clock limit on one expression's evaluation."""

DEFAULT_MAX_DEPTH = 500
"""Limit on nested evaluation steps (non-tail recursion); well inside Python's stack."""

_Jsonata = jsonata_module.Jsonata
_JException = jexception.JException
# Failures of one evaluation that the same input would reproduce: JSONata's own errors plus
# the Python errors jsonata-python lets through (``1/0``, a function used as a value...).
_EVALUATION_FAILURES = (
    _JException,
    RecursionError,
    ArithmeticError,
    LookupError,
    TypeError,
    ValueError,
)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PLAIN_PATH = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\Z")
_WORDS = frozenset({"and", "or", "in", "true", "false", "null"})
"""Names JSONata reads as operators or literals: a path holding one is left to JSONata."""
_UNSURE = object()
_SHOWN_CHARS = 60


class _Expr(NamedTuple):
    """The source of one ``{{ }}`` of a template string (what is between the braces)."""

    source: str


_Part = str | _Expr


class _SyntaxProblem(Exception):
    """A template string that cannot be split or compiled (turned into ``BadInput``)."""


def render(
    template: object,
    context: Mapping[str, object],
    *,
    path: str = "inputs",
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> object:
    """Return ``template`` with every ``{{ expr }}`` replaced by its value in ``context``.

    Raises ``BadInput`` for a syntax error and ``FatalError`` when an evaluation fails or
    exceeds ``timeout_ms`` or ``max_depth``; both name the input path.
    """
    return _Renderer(context, timeout_ms, max_depth).walk(template, path)


def validate(template: object, path: str = "inputs") -> list[str]:
    """Return every syntax problem of ``template`` (empty when all expressions compile)."""
    problems: list[str] = []
    for where, text in _strings(template, path):
        try:
            parts = _split(text)
        except _SyntaxProblem as problem:
            problems.append(f"{where}: {problem}")
            continue
        for part in parts:
            try:
                if isinstance(part, _Expr):
                    _compile(part.source)
            except _SyntaxProblem as problem:
                problems.append(f"{where}: {problem}")
    return problems


class _Renderer:
    """One ``render`` call: the context (checked once, lazily) and the bounds."""

    def __init__(self, context: Mapping[str, object], timeout_ms: int, max_depth: int) -> None:
        self._context = context
        self._data: dict[str, object] | None = None
        self._timeout_ms = timeout_ms
        self._max_depth = max_depth

    def walk(self, value: object, path: str) -> object:
        if isinstance(value, str):
            return self._string(value, path) if "{{" in value else value
        if isinstance(value, Mapping):
            return {key: self.walk(item, _child(path, key)) for key, item in value.items()}
        if isinstance(value, list):
            return [self.walk(item, f"{path}[{index}]") for index, item in enumerate(value)]
        return value

    def _string(self, text: str, path: str) -> object:
        try:
            parts = _split(text)
        except _SyntaxProblem as problem:
            raise BadInput(f"{path}: {problem}", field=path) from None
        expressions = [part for part in parts if isinstance(part, _Expr)]
        if len(expressions) == 1 and all(
            isinstance(part, _Expr) or not part.strip() for part in parts
        ):
            return self._evaluate(expressions[0], path)
        pieces: list[str] = []
        for part in parts:
            pieces.append(part if isinstance(part, str) else _as_text(self._evaluate(part, path)))
        return "".join(pieces)

    def _evaluate(self, expr: _Expr, path: str) -> object:
        names = _plain_path(expr.source)
        if names is not None:
            found = _lookup(self._input(), names)
            if found is not _UNSURE:
                return _plain(found, expr, path)
        try:
            compiled = _compile(expr.source)
        except _SyntaxProblem as problem:
            raise BadInput(f"{path}: {problem}", field=path) from None
        data = self._input()
        instance = copy.copy(compiled)
        frame = instance.create_frame(_Jsonata.static_frame)
        frame.set_runtime_bounds(self._timeout_ms, self._max_depth)  # the clock starts now
        instance.environment = frame
        instance.set_validate_input(False)  # the whole context is checked once, in _input()
        current = _Jsonata.CURRENT
        previous = getattr(current, "jsonata", None)
        current.jsonata = instance  # what $now(), $millis() and $eval() read
        try:
            result = instance.evaluate(data)
        except _EVALUATION_FAILURES as error:
            raise FatalError(f"{path}: {self._describe(expr, error)}", field=path) from None
        finally:
            if previous is None:
                del current.jsonata
            else:
                current.jsonata = previous
        return _plain(result, expr, path)

    def _input(self) -> dict[str, object]:
        if self._data is None:
            data = dict(self._context)
            _check_json(data)
            self._data = data
        return self._data

    def _describe(self, expr: _Expr, error: Exception) -> str:
        shown = _show(expr.source)
        if isinstance(error, RecursionError):
            return f"mapping {shown} nested too deeply for Python's stack"
        if not isinstance(error, _JException):
            return f"mapping {shown} failed: {type(error).__name__}: {error}"
        code = str(error.error)
        if code == "D1012":
            return f"mapping {shown} ran longer than the {self._timeout_ms} ms limit"
        if code == "D1011":
            return f"mapping {shown} nested deeper than the limit of {self._max_depth} steps"
        return f"mapping {shown} failed: {error} ({code})"


@functools.lru_cache(maxsize=4096)
def _split(text: str) -> tuple[_Part, ...]:
    """Cut a template string into literal text and ``{{ }}`` expressions."""
    parts: list[_Part] = []
    position = 0
    while (start := text.find("{{", position)) >= 0:
        if start > position:
            parts.append(text[position:start])
        end = _closing(text, start + 2)
        if end < 0:
            raise _SyntaxProblem(f"'{{{{' at column {start + 1} is never closed with '}}}}'")
        parts.append(_Expr(text[start + 2 : end]))
        position = end + 2
    if position < len(text):
        parts.append(text[position:])
    return tuple(parts)


def _closing(text: str, index: int) -> int:
    """Index of the ``}}`` ending the expression starting at ``index``, or -1.

    Skips quoted strings, backquoted names and comments, and braces of object constructors,
    so ``{{ {"a": {"b": 1}} }}`` closes at the last ``}}``.
    """
    depth = 0
    length = len(text)
    while index < length:
        char = text[index]
        if char in "\"'`":
            index = _after_quote(text, index)
            continue
        if text.startswith("/*", index):
            close = text.find("*/", index + 2)
            index = length if close < 0 else close + 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            if depth == 0 and text.startswith("}}", index):
                return index
            depth = max(depth - 1, 0)
        index += 1
    return -1


def _after_quote(text: str, index: int) -> int:
    quote = text[index]
    index += 1
    while index < len(text):
        if text[index] == "\\" and quote != "`":
            index += 2
            continue
        if text[index] == quote:
            return index + 1
        index += 1
    return index


@functools.lru_cache(maxsize=4096)
def _plain_path(source: str) -> tuple[str, ...] | None:
    """The names of a plain path such as ``trigger.order.id``; None for any other expression."""
    match = _PLAIN_PATH.match(source)
    if match is None:
        return None
    names = tuple(match.group(1).split("."))
    return None if _WORDS.intersection(names) else names


def _lookup(data: dict[str, object], names: tuple[str, ...]) -> object:
    """What JSONata gives for the path ``names`` over ``data``, or ``_UNSURE``."""
    value: object = data
    for name in names:
        if isinstance(value, dict):
            value = value.get(name)
        elif isinstance(value, list):
            return _UNSURE  # JSONata maps the rest of the path over the list
        else:
            return None  # a step into a scalar, or past a missing name: undefined
    return value


@functools.lru_cache(maxsize=2048)
def _compile(source: str) -> Any:
    """Parse one expression; cached by its text and shared between threads (never mutated)."""
    if not source.strip():
        raise _SyntaxProblem("empty mapping '{{ }}'")
    try:
        compiled = _Jsonata(source)
    except _JException as error:
        raise _SyntaxProblem(
            f"syntax error in mapping {_show(source)} at position {error.location}: "
            f"{error} ({error.error})"
        ) from None
    if compiled.errors:
        raise _SyntaxProblem(f"syntax error in mapping {_show(source)}")
    return compiled


def _plain(value: object, expr: _Expr, path: str) -> object:
    """A copy of ``value`` made of plain JSON types (never aliases the context)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(key): _plain(item, expr, path) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item, expr, path) for item in value]
    kind = type(value).__name__
    message = f"mapping {_show(expr.source)} gave a function or another non-JSON value ({kind})"
    raise FatalError(f"{path}: {message}", field=path)


def _check_json(data: dict[str, object]) -> None:
    """Refuse a context that is not plain JSON (jsonata-python's own check is 3x slower)."""
    pending: list[object] = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            if not all(isinstance(key, str) for key in value):
                raise TypeError("mapping context keys must be strings")
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif value is not None and not isinstance(value, str | int | float):
            raise TypeError(f"mapping context must hold JSON values only, not {type(value)!r}")


def _as_text(value: object) -> str:
    """Text for interpolation: JSONata's ``$string`` rules, null/undefined as ''."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return cast(str, jsonata_functions.Functions.string(value, False))


def _strings(value: object, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        if "{{" in value:
            yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, _child(path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")


def _child(path: str, key: object) -> str:
    name = str(key)
    return f"{path}.{name}" if _IDENTIFIER.match(name) else f"{path}[{json.dumps(name)}]"


def _show(source: str) -> str:
    text = " ".join(source.split())
    if len(text) > _SHOWN_CHARS:
        text = text[: _SHOWN_CHARS - 3] + "..."
    return f"'{{{{ {text} }}}}'"
