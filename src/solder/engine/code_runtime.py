"""What runs inside a code-block child process: QuickJS, one execution at a time.

``solder.engine.code_pool`` starts ``python -m solder.engine.code_runtime`` and talks to it
over its stdin and stdout: frames of a 4-byte big-endian length and JSON. The child says
``{"ready": pid}`` once, then answers each request with one reply::

    {"op": "run", "source", "input" (JSON text), "timeout_ms", "memory_bytes"}
        -> {"output": JSON text, "logs": [...]} or {"error": message, "logs": [...]}
    {"op": "check", "source", "timeout_ms", "memory_bytes"}
        -> {"error": null} or {"error": message}

Messages are final, user-facing text ("code: ..."). Anything else (a bug here, Python out of
memory) ends the process with a traceback on stderr; the parent sees the pipe close. Nothing
but the standard library and the QuickJS extension is imported, so a child starts in ~30 ms.

Each request gets a QuickJS runtime that no code has touched: the next one is made (and the
prelude installed) right after a reply is sent, while the child would otherwise wait, so
nothing leaks between runs and the ~0.7 ms setup is off the caller's path. Only this process's
main thread ever touches QuickJS, and only one execution runs in it, so the time limit
quickjs-ng measures with ``clock()`` (the process's CPU time) is this execution's own.

Why a JavaScript harness stands between Python and the user's code: when an exception leaves
QuickJS, ``quickjs-ng`` turns it into text (``toString``, ``stack``) *after* it has removed
the time limit. A thrown ``{toString() { for (;;); }}`` would hang the process. So every call
goes through ``solder$harness``, which catches what the code throws and describes it while the
limit still holds, and hands back only strings it built. What cannot be caught (the time-limit
interrupt, running out of memory) is an ``InternalError`` or ``null`` made by the engine; the
prelude freezes ``InternalError.prototype`` with its own ``toString`` and ``stack`` so turning
those into text runs no user code either. (The parent's wall-clock deadline is the last fence.)
"""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import struct
import time
from typing import Any, Final

# The extension itself: the ``quickjs`` package's __init__ also imports concurrent.futures and
# starts a helper thread, neither of which the child needs.
import _quickjs as quickjs  # type: ignore[import-not-found]

MAX_OUTPUT_BYTES: Final = 1_000_000
MAX_LOG_LINES: Final = 100
MAX_LOG_BYTES: Final = 10_000

STACK_BYTES: Final = 1 << 20
"""QuickJS's C-stack guard (its usual default, about 600 plain JS frames); the child's main
thread has the process stack (8 MiB by default)."""

ADDRESS_HEADROOM: Final = 256 * 2**20
"""Second fence: one execution may grow the child's address space by twice its heap limit plus
this much (Python's copies of input and output, the runtime itself); past it allocation fails.
QuickJS's own heap limit is the one that produces "used more than"; this one only stops what
QuickJS does not count."""

_LOG_READ_SECONDS: Final = 0.1
_LOG_READ_HEADROOM: Final = 1 << 20
_MAX_MESSAGE_CHARS: Final = 500
_STOP: Final = "solder$stop"
_HEADER: Final = struct.Struct(">I")


class Failure(Exception):
    """The code failed for good; the text is the message the user sees."""


class Sandbox:
    """One QuickJS runtime with the prelude installed, made before the request it serves."""

    def __init__(self) -> None:
        self._ctx: Any = quickjs.Context()
        self._ctx.set_max_stack_size(STACK_BYTES)
        self._harness: Any = self._ctx.eval(_PRELUDE)
        self._limit = 0.0
        self._timeout_ms = 0
        self._memory_bytes = 0
        self._started = 0.0
        self._source = ""

    def start(self, timeout_ms: int, memory_bytes: int) -> None:
        """Apply the request's limits and start its CPU-time budget."""
        self._limit = timeout_ms / 1000
        self._timeout_ms = timeout_ms
        self._memory_bytes = memory_bytes
        self._ctx.set_memory_limit(memory_bytes)
        self._ctx.set_time_limit(self._limit)
        self._started = time.process_time()

    def close(self) -> None:
        self._harness = None
        self._ctx = None

    def run(self, source: str, input_text: str) -> str:
        """The JSON text of what ``main(input)`` returned; raises ``Failure``."""
        self._source = source
        self._expect(self._call("load", source), "o")
        reply = self._call("start", input_text)
        if reply == "p":
            while self._job():
                pass
            reply = self._call("result")
            if reply == "p":
                raise Failure(
                    "code: main returned a Promise that never settled "
                    "(there are no timers or I/O here to settle it)"
                )
        text = self._expect(reply, "o")
        size = len(text.encode())
        if size > MAX_OUTPUT_BYTES:
            raise Failure(
                f"code: main returned {size} bytes of JSON; the limit is {MAX_OUTPUT_BYTES}"
            )
        return text

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

    def check(self, source: str) -> str | None:
        """Why ``source`` does not compile or declare ``main``; None if it does.

        Nothing of the source runs: it is compiled behind a ``throw`` that fires before its
        first statement (declarations still exist then, which is how ``main`` is found).
        """
        # A statement before the source would demote its "use strict" to a plain string, so
        # the guard repeats the directive; strict-only syntax errors are then found here too.
        guard = ('"use strict";' if _STRICT.match(source) else "") + f'throw "{_STOP}";'
        try:
            self._ctx.eval(guard + source + "\n")
        except quickjs.JSException as exc:
            message = str(exc)
            if not message.startswith(_STOP + "\n"):
                first, _, stack = message.partition("\n")
                return f"code: {_clip(first)}{_place(stack, source, shift=len(guard))}"
        if not self._ctx.eval(_PROBE_MAIN):
            return "code: no function main(input) is declared; Solder calls it with the input"
        return None

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
        left = self._limit - (time.process_time() - self._started)
        if left <= 0:
            raise self._over_time()
        self._ctx.set_time_limit(left)

    def _expect(self, reply: str, tag: str) -> str:
        if reply.startswith(tag):
            return reply[len(tag) :]
        kind, body = reply[:1], reply[1:]
        if kind == "n":
            raise Failure("code: no function main(input) is defined")
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
            raise Failure(f"code: {prefix}{_clip(text)}{place}")
        raise Failure(f"code: unexpected reply from the sandbox: {reply[:80]!r}")

    def _escaped(self, exc: Exception) -> Failure:
        """Classify what got past the harness: the interrupt, memory, or a harness fault."""
        first = str(exc).partition("\n")[0]
        if first == "InternalError: interrupted":
            return self._over_time()
        if first in ("null", "InternalError: out of memory"):
            return self._out_of_memory()
        return Failure(f"code: {_clip(first)}")

    def _over_time(self) -> Failure:
        # Only this execution runs in this process, so the CPU clock QuickJS reads is its own.
        return Failure(f"code: ran longer than {self._timeout_ms} ms")

    def _out_of_memory(self) -> Failure:
        return Failure(f"code: used more than {_mib(self._memory_bytes)}")


def handle(box: Sandbox, request: dict[str, Any]) -> dict[str, Any]:
    """Answer one request with a fresh sandbox (see the module docstring for the shapes)."""
    box.start(request["timeout_ms"], request["memory_bytes"])
    if request["op"] == "check":
        return {"error": box.check(request["source"])}
    try:
        output = box.run(request["source"], request["input"])
    except Failure as failure:
        return {"error": str(failure), "logs": box.logs()}
    return {"output": output, "logs": box.logs()}


def serve(requests: int, replies: int) -> None:
    """Answer requests until the parent closes the pipe."""
    box = Sandbox()
    fenced = 0
    _send(replies, {"ready": os.getpid()})
    while (frame := _receive(requests)) is not None:
        request = json.loads(frame)
        if request["memory_bytes"] != fenced:
            fenced = _fence(request["memory_bytes"])
        _send(replies, handle(box, request))
        # Off the caller's path: free this runtime, make the next one, move the fence to
        # the size the process has now.
        box.close()
        box = Sandbox()
        _fence(fenced)


def main() -> None:
    # Ctrl-C in a terminal reaches the whole process group; the parent decides when we stop
    # (closing our stdin), so a child never dies of it mid-run or prints a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # Keep the protocol on private descriptors; a stray write to fd 1 lands on stderr instead.
    requests, replies = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(2, 1)
    os.close(null)
    serve(requests, replies)


def _fence(memory_bytes: int) -> int:
    """Cap the address space at its current size plus ``2 * memory_bytes + ADDRESS_HEADROOM``;
    returns ``memory_bytes``."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            size = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # pragma: no cover - not Linux: QuickJS's limit is the only fence
        return memory_bytes
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = size + 2 * memory_bytes + ADDRESS_HEADROOM
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    return memory_bytes


def _receive(fd: int) -> bytes | None:
    header = _read(fd, _HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    return _read(fd, size)


def _read(fd: int, size: int) -> bytes | None:
    data = bytearray(size)
    view = memoryview(data)
    done = 0
    while done < size:
        count = os.readv(fd, [view[done:]])
        if count == 0:
            return None
        done += count
    return bytes(data)


def _send(fd: int, reply: dict[str, Any]) -> None:
    body = json.dumps(reply, separators=(",", ":")).encode()
    view = memoryview(_HEADER.pack(len(body)) + body)
    while view:
        view = view[os.write(fd, view) :]


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


if __name__ == "__main__":
    main()
