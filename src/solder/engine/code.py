"""The workflow "code" block: a builder's JavaScript ``main(input)`` run in a QuickJS sandbox.

The source defines ``main(input)`` (plain or ``async``); :func:`run_code` calls it with the
block's mapped input and returns what it returned, as JSON, with what it printed through
``console.log``. The sandbox is QuickJS (the ``quickjs-ng`` package) with nothing added but
``console``: no modules, no ``fetch``, no timers, no files. Each call gets a fresh runtime, so
nothing leaks between runs or users.

Where it runs: in a small pool of child processes (``code_pool``), one execution at a time
per child, so the CPU-time limit QuickJS measures is the execution's own and a fault in the
binding costs a child, not the worker. What runs in the child is ``code_runtime``. Any number
of worker threads may call :func:`run_code` at once; beyond the pool's size they queue.

Limits: ``timeout_ms`` is CPU time, counted by QuickJS in the child. The parent also gives the
whole call a wall-clock deadline, ``timeout_ms`` plus a margin of ``WALL_MARGIN_MS`` or
``timeout_ms``, whichever is more, then kills the child: a hung binding, or a machine so busy
that the code got less than its limit's worth of CPU in that time. Either way the code "ran
longer than" its limit. ``memory_bytes`` bounds the JavaScript heap.

Errors::

    BadInput        check_source: the code does not compile or defines no main (push time)
    CodeFailed      a FatalError: the code threw, ran past its time or memory limit, returned
                    something that is not JSON or too much of it. Fatal because the same code
                    on the same input fails the same way; ``logs`` keeps what it printed.
    RetryableError  no sandbox process came free within ``timeout_ms + QUEUE_MARGIN_MS``, or
                    the process died under the code (a crash, an OOM kill); it was replaced
                    and another attempt may work. ``check_source`` can raise it too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from solder.engine import code_pool
from solder.engine.code_pool import shutdown
from solder.errors import BadInput, FatalError

__all__ = [
    "DEFAULT_MEMORY_BYTES",
    "DEFAULT_TIMEOUT_MS",
    "INPUT_SCHEMA",
    "OUTPUT_SCHEMA",
    "CodeFailed",
    "CodeResult",
    "check_source",
    "run_code",
    "shutdown",
]

DEFAULT_TIMEOUT_MS: Final = 1000
"""CPU time one run may use; the engine passes ``settings.engine.code_timeout_ms``."""

DEFAULT_MEMORY_BYTES: Final = 32 * 2**20
"""Heap one run may use; the engine passes ``settings.engine.code_memory_mb`` MiB."""

MAX_SOURCE_CHARS: Final = 100_000
"""Same bound as ``CodeBlock.code``, so what pushes also runs."""

WALL_MARGIN_MS: Final = 500
"""Least wall-clock time a call may take beyond ``timeout_ms`` before its child is killed; the
margin is ``timeout_ms`` itself when that is longer, so a child may be starved of half the CPU
by the rest of the machine and still use its whole budget."""

QUEUE_MARGIN_MS: Final = 1000
"""A call waits at most ``timeout_ms`` plus this for a free child, then is retried later."""

INPUT_SCHEMA: Final[dict[str, Any]] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "code": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_SOURCE_CHARS,
            "description": "JavaScript defining main(input); its return value is the output",
        },
        "input": {"description": "any JSON: the argument main receives"},
    },
    "required": ["code"],
    "additionalProperties": False,
}

OUTPUT_SCHEMA: Final[dict[str, Any]] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "description": "what main returned, as JSON (undefined becomes null)",
    "type": ["object", "array", "string", "number", "boolean", "null"],
}


@dataclass(frozen=True)
class CodeResult:
    output: Any
    logs: list[str]


class CodeFailed(FatalError):
    """A code block failed for good; ``logs`` is what it printed first, to debug with."""

    def __init__(self, message: str, logs: list[str] | None = None, field: str = "code") -> None:
        super().__init__(message, field=field)
        self.logs = logs or []


def run_code(
    source: str,
    input: Any,
    *,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
    memory_bytes: int = DEFAULT_MEMORY_BYTES,
) -> CodeResult:
    """Run ``main(input)`` of ``source`` in a fresh sandbox and return its JSON output.

    ``timeout_ms`` bounds the CPU time of the whole run (top-level code, ``main``, awaited
    promises, serialising the result); ``memory_bytes`` bounds the JavaScript heap. Raises
    ``CodeFailed`` (a ``FatalError``) or ``RetryableError`` (see the module docstring).
    """
    if timeout_ms < 1 or memory_bytes < 1:
        raise ValueError("timeout_ms and memory_bytes must be positive")
    problem = _source_problem(source)
    if problem:
        raise CodeFailed(f"code: {problem}")
    request = {
        "op": "run",
        "source": source,
        "input": _input_text(input),
        "timeout_ms": timeout_ms,
        "memory_bytes": memory_bytes,
    }
    try:
        reply = _ask(request, timeout_ms)
    except TimeoutError:
        raise CodeFailed(f"code: ran longer than {timeout_ms} ms") from None
    logs: list[str] = reply["logs"]
    if "error" in reply:
        raise CodeFailed(reply["error"], logs)
    try:
        output = json.loads(reply["output"])
    except RecursionError:
        raise CodeFailed("code: the value main returned is nested too deeply", logs) from None
    return CodeResult(output=output, logs=logs)


def check_source(source: str) -> None:
    """Raise ``BadInput`` (field ``code``) unless ``source`` compiles and declares ``main``.

    Nothing of the source runs: it is compiled behind a ``throw`` that fires before its first
    statement (declarations still exist then, which is how ``main`` is found). Code that
    assigns ``globalThis.main`` without declaring it passes ``run_code`` but not this check.
    """
    problem = _source_problem(source)
    if problem:
        raise BadInput(f"code: {problem}", field="code")
    request = {
        "op": "check",
        "source": source,
        "timeout_ms": DEFAULT_TIMEOUT_MS,
        "memory_bytes": DEFAULT_MEMORY_BYTES,
    }
    try:
        reply = _ask(request, DEFAULT_TIMEOUT_MS)
    except TimeoutError:
        raise BadInput(
            f"code: compiling took longer than {DEFAULT_TIMEOUT_MS} ms", field="code"
        ) from None
    if reply["error"] is not None:
        raise BadInput(reply["error"], field="code")


def _ask(request: dict[str, Any], timeout_ms: int) -> dict[str, Any]:
    reply = code_pool.pool().call(
        json.dumps(request, separators=(",", ":")).encode(),
        seconds=(timeout_ms + max(WALL_MARGIN_MS, timeout_ms)) / 1000,
        wait=(timeout_ms + QUEUE_MARGIN_MS) / 1000,
    )
    answer: dict[str, Any] = json.loads(reply)
    return answer


def _source_problem(source: str) -> str | None:
    if len(source) > MAX_SOURCE_CHARS:
        return f"is {len(source)} characters long; the limit is {MAX_SOURCE_CHARS}"
    if "\x00" in source:
        return "contains a NUL character"
    try:
        source.encode()
    except UnicodeEncodeError:
        return "contains an unpaired surrogate, which is not valid UTF-8"
    return None


def _input_text(value: Any) -> str:
    """JSON text of the input, ASCII only so no string can fail on its way into QuickJS."""
    try:
        return json.dumps(value, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError) as exc:
        raise CodeFailed(f"code: the input is not JSON ({exc})", field="input") from None
