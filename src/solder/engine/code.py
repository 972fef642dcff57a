"""The workflow "code" block: a builder's JavaScript ``main(input)`` run in a QuickJS sandbox.

The source defines ``main(input)`` (plain or ``async``); :func:`run_code` calls it with the
block's mapped input and returns what it returned, as JSON, with what it printed through
``console.log``. The sandbox is QuickJS (the ``quickjs-ng`` package) with nothing added but
``console``: no modules, no ``fetch``, no timers, no files. Each call gets a fresh runtime, so
nothing leaks between runs or users, and runs on the calling thread (the runtime releases the
GIL, so worker threads run code blocks in parallel).

Errors::

    BadInput      check_source: the code does not compile or defines no main (push time)
    CodeFailed    a FatalError: the code threw, ran past its time or memory limit, returned
                  something that is not JSON or too much of it. Fatal because the same code
                  on the same input fails the same way; ``logs`` keeps what it printed.
    RetryableError  stopped early only because other threads used the CPU-time budget

Why a JavaScript harness stands between Python and the user's code: when an exception leaves
QuickJS, ``quickjs-ng`` turns it into text (``toString``, ``stack``) *after* it has removed
the time limit and retaken the GIL. A thrown ``{toString() { for (;;); }}`` would hang the
whole process. So every call goes through ``solder$harness``, which catches what the code
throws and describes it while the limit still holds, and hands back only strings it built.
What cannot be caught (the time-limit interrupt, running out of memory) is an ``InternalError``
or ``null`` made by the engine; the prelude freezes ``InternalError.prototype`` with its own
``toString`` and ``stack`` so turning those into text runs no user code either.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final

import quickjs  # type: ignore[import-untyped]

from solder.errors import BadInput, FatalError, RetryableError, StepError

__all__ = [
    "DEFAULT_MEMORY_BYTES",
    "DEFAULT_TIMEOUT_MS",
    "INPUT_SCHEMA",
    "OUTPUT_SCHEMA",
    "CodeFailed",
    "CodeResult",
    "check_source",
    "run_code",
]

DEFAULT_TIMEOUT_MS: Final = 1000
"""CPU time one run may use; the engine passes ``settings.engine.code_timeout_ms``."""

DEFAULT_MEMORY_BYTES: Final = 32 * 2**20
"""Heap one run may use; the engine passes ``settings.engine.code_memory_mb`` MiB."""

MAX_SOURCE_CHARS: Final = 100_000
"""Same bound as ``CodeBlock.code``, so what pushes also runs."""

MAX_OUTPUT_BYTES: Final = 1_000_000
MAX_LOG_LINES: Final = 100
MAX_LOG_BYTES: Final = 10_000

STACK_BYTES: Final = 1 << 20
"""QuickJS's C-stack guard (its usual default, about 600 plain JS frames). The calling thread
needs this much free stack beyond its own use: glibc threads have 8 MiB, musl only 128 KiB."""

_CONTENTION_RATIO: Final = 0.9
_LOG_READ_SECONDS: Final = 0.1
_LOG_READ_HEADROOM: Final = 1 << 20
_MAX_MESSAGE_CHARS: Final = 500
_STOP: Final = "solder$stop"

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
    ``CodeFailed`` (a ``FatalError``) or, when other threads ate the time budget,
    ``RetryableError``.
    """
    if timeout_ms < 1 or memory_bytes < 1:
        raise ValueError("timeout_ms and memory_bytes must be positive")
    problem = _source_problem(source)
    if problem:
        raise CodeFailed(f"code: {problem}")
    input_text = _input_text(input)
    with _Sandbox(timeout_ms, memory_bytes) as box:
        try:
            output = box.run(source, input_text)
        except CodeFailed as failure:
            failure.logs = box.logs()
            raise
        return CodeResult(output=output, logs=box.logs())


def check_source(source: str) -> None:
    """Raise ``BadInput`` (field ``code``) unless ``source`` compiles and declares ``main``.

    Nothing of the source runs: it is compiled behind a ``throw`` that fires before its first
    statement (declarations still exist then, which is how ``main`` is found). Code that
    assigns ``globalThis.main`` without declaring it passes ``run_code`` but not this check.
    """
    problem = _source_problem(source)
    if problem:
        raise BadInput(f"code: {problem}", field="code")
    # A statement before the source would demote its "use strict" to a plain string, so the
    # guard repeats the directive; strict-only syntax errors are then found here too.
    guard = ('"use strict";' if _STRICT.match(source) else "") + f'throw "{_STOP}";'
    with _Sandbox(DEFAULT_TIMEOUT_MS, DEFAULT_MEMORY_BYTES) as box:
        error = box.compile(guard + source + "\n")
        if error is not None:
            first, _, stack = error.partition("\n")
            place = _place(stack, source, shift=len(guard))
            raise BadInput(f"code: {_clip(first)}{place}", field="code")
        if not box.declares_main():
            raise BadInput(
                "code: no function main(input) is declared; Solder calls it with the input",
                field="code",
            )


class _Sandbox:
    """One QuickJS runtime with the prelude installed; closed on the thread that made it."""

    def __init__(self, timeout_ms: int, memory_bytes: int) -> None:
        self._limit = timeout_ms / 1000
        self._timeout_ms = timeout_ms
        self._memory_bytes = memory_bytes
        self._started = time.thread_time()
        self._ctx: Any = quickjs.Context()
        self._ctx.set_memory_limit(memory_bytes)
        self._ctx.set_max_stack_size(STACK_BYTES)
        self._ctx.set_time_limit(self._limit)
        self._source = ""
        try:
            self._harness: Any = self._ctx.eval(_PRELUDE)
        except quickjs.JSException as exc:
            failure = self._escaped(exc)
            self._ctx = None
            raise failure from None

    def __enter__(self) -> _Sandbox:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # Dropping the last references frees the runtime now, here, rather than wherever a
        # traceback that mentions this object happens to be collected.
        self._harness = None
        self._ctx = None

    def run(self, source: str, input_text: str) -> Any:
        self._source = source
        self._expect(self._call("load", source), "o")
        reply = self._call("start", input_text)
        if reply == "p":
            while self._job():
                pass
            reply = self._call("result")
            if reply == "p":
                raise CodeFailed(
                    "code: main returned a Promise that never settled "
                    "(there are no timers or I/O here to settle it)"
                )
        text = self._expect(reply, "o")
        size = len(text.encode())
        if size > MAX_OUTPUT_BYTES:
            raise CodeFailed(
                f"code: main returned {size} bytes of JSON; the limit is {MAX_OUTPUT_BYTES}"
            )
        try:
            return json.loads(text)
        except RecursionError:
            raise CodeFailed("code: the value main returned is nested too deeply") from None

    def logs(self) -> list[str]:
        """What the code printed; empty if even that cannot be read any more."""
        self._ctx.set_memory_limit(self._memory_bytes + _LOG_READ_HEADROOM)
        self._ctx.set_time_limit(_LOG_READ_SECONDS)
        try:
            reply = self._harness("logs", "")
        except quickjs.JSException:
            return []
        if not isinstance(reply, str) or not reply.startswith("l"):
            return []
        lines, _, dropped = reply[1:].rpartition("\n")
        return _cap_logs(json.loads(lines), int(dropped))

    def compile(self, text: str) -> str | None:
        """Evaluate guarded source (it runs nothing); the error text, or None if it compiled."""
        try:
            self._ctx.eval(text)
        except quickjs.JSException as exc:
            message = str(exc)
            return None if message.startswith(_STOP + "\n") else message
        return None  # pragma: no cover - the guard always throws

    def declares_main(self) -> bool:
        return bool(self._ctx.eval(_PROBE_MAIN))

    def _call(self, op: str, arg: str = "") -> str:
        self._arm()
        try:
            reply = self._harness(op, arg)
        except quickjs.JSException as exc:
            raise self._escaped(exc) from None
        assert isinstance(reply, str)
        return reply

    def _job(self) -> bool:
        self._arm()
        try:
            return bool(self._ctx.execute_pending_job())
        except quickjs.JSException as exc:
            raise self._escaped(exc) from None

    def _arm(self) -> None:
        """Give QuickJS what is left of the budget: each call restarts its clock at zero."""
        left = self._limit - (time.thread_time() - self._started)
        if left <= 0:
            raise self._over_time()
        self._ctx.set_time_limit(left)

    def _expect(self, reply: str, tag: str) -> str:
        if reply.startswith(tag):
            return reply[len(tag) :]
        kind, body = reply[:1], reply[1:]
        if kind == "n":
            raise CodeFailed("code: no function main(input) is defined")
        if kind == "m":
            raise self._out_of_memory()
        if kind in "ej" and "\n" in body:
            text_json, _, stack_json = body.partition("\n")
            text, stack = json.loads(text_json), json.loads(stack_json)
            if text.startswith("InternalError: out of memory"):
                raise self._out_of_memory()
            prefix = "the value main returned is not JSON: " if kind == "j" else ""
            syntax = text.startswith("SyntaxError")
            place = _place(stack, self._source if syntax else None)
            raise CodeFailed(f"code: {prefix}{_clip(text)}{place}")
        raise CodeFailed(f"code: unexpected reply from the sandbox: {reply[:80]!r}")

    def _escaped(self, exc: quickjs.JSException) -> StepError:
        """Classify what got past the harness: the interrupt, memory, or a harness fault."""
        first = str(exc).partition("\n")[0]
        if first == "InternalError: interrupted":
            return self._over_time()
        if first in ("null", "InternalError: out of memory"):
            return self._out_of_memory()
        return CodeFailed(f"code: {_clip(first)}")

    def _over_time(self) -> StepError:
        used = time.thread_time() - self._started
        if used >= self._limit * _CONTENTION_RATIO:
            return CodeFailed(f"code: ran longer than {self._timeout_ms} ms")
        # quickjs-ng measures the limit with clock(), the CPU time of the whole process:
        # busy neighbours in other threads spend this run's budget. Another attempt may fit.
        return RetryableError(
            f"code: stopped after {used * 1000:.0f} of its {self._timeout_ms} ms because other "
            "threads shared the CPU-time budget",
            field="code",
        )

    def _out_of_memory(self) -> CodeFailed:
        return CodeFailed(f"code: used more than {_mib(self._memory_bytes)}")


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


_STRICT = re.compile(r"""\A(?:\s+|//[^\n]*(?:\n|\Z)|/\*.*?\*/)*(["'])use strict\1""", re.S)
_FRAME = re.compile(r"^\s*at (?:(?P<name>.*?) \()?<input>:(?P<line>\d+):(?P<col>\d+)\)?$")


def _place(stack: str, source: str | None = None, shift: int = 0) -> str:
    """Where the innermost frame of the user's code is, from a QuickJS stack trace.

    The prelude's functions are all named ``solder$...`` so their frames can be skipped (both
    prelude and user code are ``<input>`` to QuickJS). With ``source``, the column is given
    too (for syntax errors), corrected for a guard of ``shift`` characters before line 1.
    """
    for raw in stack.splitlines():
        frame = _FRAME.match(raw)
        if frame is None or (frame["name"] or "").startswith("solder$"):
            continue
        line, col = int(frame["line"]), int(frame["col"])
        if source is None:
            return f" (line {line})"
        if line == 1:
            col = max(col - shift, 1)
        last = source.count("\n") + 1
        if line > last:
            line, col = last, len(source.rsplit("\n", 1)[-1]) + 1
        return f" (line {line}, column {col})"
    return ""


def _cap_logs(lines: list[str], dropped: int) -> list[str]:
    """At most ``MAX_LOG_LINES`` lines and ``MAX_LOG_BYTES`` of UTF-8, then a note of the rest."""
    kept: list[str] = []
    room = MAX_LOG_BYTES
    cut = False
    for index, line in enumerate(lines):
        if len(kept) == MAX_LOG_LINES or room <= 0:
            dropped += len(lines) - index
            break
        data = line.encode("utf-8", "replace")
        if len(data) > room:
            data, cut = data[:room], True
        kept.append(data.decode("utf-8", "ignore"))
        room -= len(data)
    if cut or dropped:
        kept.append(
            f"[logs cut at {MAX_LOG_LINES} lines or {MAX_LOG_BYTES} bytes; "
            f"{dropped} more lines dropped]"
        )
    return kept


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE_CHARS else text[: _MAX_MESSAGE_CHARS - 1] + "…"


def _mib(size: int) -> str:
    return f"{size >> 20} MiB" if size % (1 << 20) == 0 else f"{size / (1 << 20):.2f} MiB"


_PROBE_MAIN: Final = """(() => {
  try {
    return typeof main === "function" || Object.prototype.hasOwnProperty.call(globalThis, "main");
  } catch (e) {
    return true;  // declared with let or const: in its temporal dead zone, as nothing ran
  }
})()"""

# Replies of solder$harness, always strings Solder built: "o" + output JSON, "p" (a promise is
# pending), "n" (no main), "m" (null was thrown: QuickJS out of memory), "e"/"j" + JSON text
# "\n" JSON stack (thrown by the code / the output could not become JSON), "l" + JSON lines
# "\n" count dropped. Built-ins are captured before the user's code can replace them.
_PRELUDE: Final = (
    """(() => {
  "use strict";
  const G = globalThis;
  const geval = G.eval, apply = Reflect.apply, stringify = JSON.stringify, parse = JSON.parse;
  const toStr = String, slice = String.prototype.slice, ErrorCtor = Error;
  const PromiseCtor = Promise, promiseThen = Promise.prototype.then, queue = G.queueMicrotask;
  const define = Object.defineProperty, freeze = Object.freeze;
  // quickjs-ng builds long concatenations as ropes, which the Python binding cannot read
  // ("Unknown quickjs tag: -6"); slicing makes a flat copy.
  const flat = Function.prototype.call.bind(String.prototype.slice);
  const MAX_LINES = @MAX_LINES@, MAX_CHARS = @MAX_CHARS@;

  const IEP = InternalError.prototype, EP = Error.prototype;
  define(IEP, Symbol.toPrimitive, { value: undefined });
  define(IEP, "toString", { value: EP.toString });
  define(IEP, "stack", Object.getOwnPropertyDescriptor(EP, "stack"));
  freeze(IEP);
  define(ErrorCtor, "prepareStackTrace", { value: undefined });
  delete G.FinalizationRegistry;

  const lines = Object.setPrototypeOf([], null);
  let count = 0, chars = 0, dropped = 0;
  function solder$record(text) {
    if (count >= MAX_LINES || chars >= MAX_CHARS) { dropped++; return; }
    if (text.length > MAX_CHARS - chars) text = apply(slice, text, [0, MAX_CHARS - chars]);
    lines[count++] = text;
    chars += text.length;
  }
  function solder$show(value) {
    if (typeof value === "string") return value;
    try {
      if (typeof value === "object" && value !== null && value instanceof ErrorCtor) {
        return toStr(value);
      }
      const text = stringify(value);
      return typeof text === "string" ? text : toStr(value);
    } catch (e) {
      return "[" + typeof value + " that cannot be shown]";
    }
  }
  function solder$console(prefix) {
    return function solder$log(...values) {
      let text = prefix;
      for (let i = 0; i < values.length; i++) text += (i ? " " : "") + solder$show(values[i]);
      solder$record(text);
    };
  }
  const log = solder$console("");
  G.console = {
    log, info: log, debug: log,
    warn: solder$console("[warn] "), error: solder$console("[error] "),
  };
  G.queueMicrotask = function queueMicrotask(callback) {
    if (typeof callback !== "function") throw new TypeError("queueMicrotask needs a function");
    queue(function solder$microtask() {
      try {
        callback();
      } catch (e) {
        solder$record("[error] queueMicrotask callback: " + solder$explain(e));
      }
    });
  };

  function solder$explain(e) {
    try {
      if (typeof e === "object" && e !== null && e instanceof ErrorCtor) {
        const name = toStr(e.name), message = toStr(e.message);
        return message === "" ? name : name + ": " + message;
      }
      const text = stringify(e);
      return "threw " + (typeof text === "string" ? text : toStr(e));
    } catch (_) {
      return "threw a value that cannot be shown";
    }
  }
  function solder$describe(tag, e) {
    if (e === null) return "m";
    let stack = "";
    try {
      if (typeof e === "object" && typeof e.stack === "string") stack = e.stack;
    } catch (_) {}
    return tag + stringify(solder$explain(e)) + "\\n" + stringify(stack);
  }
  function solder$output(value) {
    const kind = typeof value;
    if (kind === "function" || kind === "symbol") {
      return "j" + stringify("main returned a " + kind) + "\\n" + stringify("");
    }
    let text;
    try {
      text = value === undefined ? "null" : stringify(value);
    } catch (e) {
      return solder$describe("j", e);
    }
    return "o" + (typeof text === "string" ? text : "null");
  }

  let main_ = undefined, state = 0, settled = undefined;
  function solder$fulfilled(value) { state = 1; settled = value; }
  function solder$rejected(reason) { state = 2; settled = reason; }
  function solder$answer(op, arg) {
    try {
      if (op === "load") {
        main_ = geval(arg + "\\n;typeof main === 'function' ? main : undefined");
        return typeof main_ === "function" ? "o" : "n";
      }
      if (op === "start") {
        const result = main_(parse(arg));
        if (result instanceof PromiseCtor) {
          apply(promiseThen, result, [solder$fulfilled, solder$rejected]);
          return "p";
        }
        return solder$output(result);
      }
      if (op === "result") {
        if (state === 1) return solder$output(settled);
        if (state === 2) return solder$describe("e", settled);
        return "p";
      }
      if (op === "logs") return "l" + stringify(lines) + "\\n" + dropped;
      return "n";
    } catch (e) {
      return solder$describe("e", e);
    }
  }
  return function solder$harness(op, arg) {
    return flat(solder$answer(op, arg), 0);
  };
})()"""
    # one more than the caps, so that Python sees there was more and says so
    .replace("@MAX_LINES@", str(MAX_LOG_LINES + 1)).replace("@MAX_CHARS@", str(MAX_LOG_BYTES + 1))
)
