"""The code block: transforms, JSON types, console, every failure, isolation, threads, checks.

The pool of child processes it runs in is tested in ``test_code_pool.py``."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jsonschema
import pytest

from solder.config import EngineSettings
from solder.engine import code, code_runtime
from solder.engine.code import (
    INPUT_SCHEMA,
    OUTPUT_SCHEMA,
    CodeFailed,
    CodeResult,
    check_source,
    run_code,
)
from solder.errors import BadInput
from tests.engine.code_helpers import fails, sandbox_children

SMALL_MEMORY = 8 * 2**20
LOOP = "function main() { for (;;) {} }"


def test_transform_maps_fields_arrays_and_nested_objects() -> None:
    source = """
    function main(input) {
      return {
        id: input.order.id,
        customer: input.order.customer.first + " " + input.order.customer.last,
        skus: input.order.lines.map((line) => line.sku),
        total: input.order.lines.reduce((sum, line) => sum + line.qty * line.price, 0),
        address: { city: input.order.ship.city, zip: input.order.ship.zip },
      };
    }
    """
    order = {
        "id": "A-1",
        "customer": {"first": "Ada", "last": "Lovelace"},
        "lines": [{"sku": "S1", "qty": 2, "price": 2.5}, {"sku": "S2", "qty": 1, "price": 3}],
        "ship": {"city": "London", "zip": "NW1"},
    }
    result = run_code(source, {"order": order})
    assert result == CodeResult(
        output={
            "id": "A-1",
            "customer": "Ada Lovelace",
            "skus": ["S1", "S2"],
            "total": 8,
            "address": {"city": "London", "zip": "NW1"},
        },
        logs=[],
    )


def test_json_types_are_kept() -> None:
    value: dict[str, Any] = {
        "int": 3,
        "float": 1.5,
        "negative": -7,
        "big": 2**53,
        "null": None,
        "yes": True,
        "no": False,
        "text": "héllo ✓",
        "list": [1, "2", None, [False]],
        "empty": {},
    }
    output = run_code("function main(input) { return input; }", value).output
    assert output == value
    assert [type(output[k]) for k in value] == [type(v) for v in value.values()]


def test_integral_floats_come_back_as_ints_and_nan_as_null() -> None:
    # JavaScript has one number type: 2.0 and 2 are the same value, and JSON has no NaN.
    output = run_code("function main(i) { return [i, 0.1 + 0.2, NaN, 1e21]; }", 2.0).output
    assert output == [2, 0.30000000000000004, None, 1e21]
    assert type(output[0]) is int


def test_undefined_output_is_null_and_dates_become_text() -> None:
    assert run_code("function main() {}", {}).output is None
    date = run_code("function main() { return new Date(Date.UTC(2024, 0, 2)); }", {}).output
    assert date == "2024-01-02T00:00:00.000Z"


def test_main_may_be_an_arrow_function_and_input_any_json() -> None:
    assert run_code("const main = (xs) => xs.length;", [1, 2, 3]).output == 3
    assert run_code("let main = (s) => s + '!';", "hi").output == "hi!"


def test_async_main_is_awaited() -> None:
    source = """
    async function double(x) { await null; return x * 2; }
    async function main(input) {
      const values = await Promise.all(input.map(double));
      return { values };
    }
    """
    assert run_code(source, [1, 2]).output == {"values": [2, 4]}


def test_console_log_is_captured() -> None:
    source = """
    function main(input) {
      console.log("plain", 1, true, null, undefined, { a: [1] });
      console.info("info");
      console.warn("careful");
      console.error(new TypeError("bad"));
      return input;
    }
    """
    result = run_code(source, 5)
    assert result.output == 5
    assert result.logs == [
        'plain 1 true null undefined {"a":[1]}',
        "info",
        "[warn] careful",
        "[error] TypeError: bad",
    ]


def test_logs_are_capped_at_100_lines() -> None:
    logs = run_code("function main() { for (let i = 0; i < 150; i++) console.log(i); }", {}).logs
    assert logs[:100] == [str(i) for i in range(100)]
    assert logs[100:] == ["[logs cut at 100 lines or 10000 bytes; 50 more lines dropped]"]


def test_logs_are_capped_at_10_kb() -> None:
    source = "function main() { console.log('a'.repeat(6000)); console.log('b'.repeat(6000)); }"
    logs = run_code(source, {}).logs
    assert logs == ["a" * 6000, "b" * 4000, logs[-1]]
    assert logs[-1].startswith("[logs cut at")


def test_logs_are_kept_when_the_code_fails() -> None:
    failure = fails("function main(input) { console.log('got', input); return input.x.y; }", {})
    assert failure.logs == ["got {}"]


def test_runtime_error_names_its_line() -> None:
    source = "function main(input) {\n  const x = input.missing;\n  return x.y;\n}\n"
    failure = fails(source, {})
    assert failure.message == "code: TypeError: cannot read property 'y' of undefined (line 3)"


def test_error_in_top_level_code_and_thrown_values() -> None:
    assert fails("\n\nnull.x;\nfunction main() {}").message == (
        "code: TypeError: cannot read property 'x' of null (line 3)"
    )
    assert fails("function main() { throw 'boom'; }").message == 'code: threw "boom"'
    assert fails("function main() { throw {code: 7}; }").message == 'code: threw {"code":7}'


def test_long_error_messages_are_clipped() -> None:
    failure = fails("function main() { throw new Error('m'.repeat(5000)); }")
    assert failure.message == "code: Error: " + "m" * 492 + "… (line 1)"


def test_rejected_promise_is_an_error_with_its_line() -> None:
    source = "async function main() {\n  await null;\n  throw new RangeError('nope');\n}"
    assert fails(source).message == "code: RangeError: nope (line 3)"


def test_syntax_error_and_missing_main_at_run_time() -> None:
    assert fails("function main() {\n  return 1 +;\n}").message == (
        "code: SyntaxError: unexpected token in expression: ';' (line 2, column 13)"
    )
    assert fails("function mian(input) { return input; }").message == (
        "code: no function main(input) is defined"
    )


def test_infinite_loop_stops_at_the_time_limit() -> None:
    run_code("function main() {}", None)  # the pool is started
    started = time.monotonic()
    failure = fails(LOOP, timeout_ms=300)
    elapsed = time.monotonic() - started
    assert failure.message == "code: ran longer than 300 ms"
    # 300 ms of CPU time in the child; on a busy machine the parent's wall-clock deadline
    # (300 ms plus a 500 ms margin) ends it with the same message.
    assert 0.28 <= elapsed < 1.2


def test_default_time_limit_is_one_second() -> None:
    assert fails(LOOP).message == "code: ran longer than 1000 ms"


def test_the_child_stops_code_at_its_cpu_time_limit_and_keeps_the_logs() -> None:
    # What a child runs, run here, where no wall-clock deadline can get there first.
    box = code_runtime.Sandbox()
    request = {
        "op": "run",
        "source": "function main() { console.log('spinning'); for (;;) {} }",
        "input": "null",
        "timeout_ms": 300,
        "memory_bytes": SMALL_MEMORY,
    }
    started = time.process_time()
    try:
        reply = code_runtime.handle(box, request)
    finally:
        box.close()
    assert reply == {"error": "code: ran longer than 300 ms", "logs": ["spinning"]}
    assert 0.29 <= time.process_time() - started < 0.6


def test_endless_await_loop_is_stopped() -> None:
    source = "async function main() { for (;;) await null; }"
    assert fails(source, timeout_ms=200).message == "code: ran longer than 200 ms"


def test_top_level_code_counts_toward_the_limit() -> None:
    source = "for (;;) {}\nfunction main() { return 1; }"
    assert fails(source, timeout_ms=200).message == "code: ran longer than 200 ms"


def test_promise_that_never_settles_is_an_error() -> None:
    failure = fails("function main() { return new Promise(() => {}); }")
    assert failure.message.startswith("code: main returned a Promise that never settled")


def test_memory_bomb_is_stopped() -> None:
    bomb = "function main() { const a = []; for (;;) a.push('x'.repeat(1000) + a.length); }"
    assert fails(bomb, memory_bytes=SMALL_MEMORY).message == "code: used more than 8 MiB"
    assert fails(bomb).message == "code: used more than 32 MiB"


def test_one_huge_allocation_is_a_memory_error() -> None:
    source = "function main() { return new ArrayBuffer(1e9).byteLength; }"
    assert fails(source, memory_bytes=SMALL_MEMORY).message == "code: used more than 8 MiB"


def test_memory_bomb_kept_in_a_global_still_lets_logs_be_read() -> None:
    source = """
    var hoard = [];
    function main() { console.log("start"); for (;;) hoard.push("y".repeat(4096) + hoard.length); }
    """
    failure = fails(source, memory_bytes=SMALL_MEMORY)
    assert failure.message == "code: used more than 8 MiB"
    assert failure.logs == ["start"]


def test_deep_recursion_is_a_clear_error() -> None:
    source = """function main() {
  function down(n) { return down(n + 1) + 1; }
  return down(0);
}"""
    expected = "code: RangeError: Maximum call stack size exceeded (line 2)"
    assert fails(source).message == expected

    seen: list[str] = []

    def in_a_thread() -> None:
        with pytest.raises(CodeFailed) as info:
            run_code(source, None)
        seen.append(info.value.message)

    worker = threading.Thread(target=in_a_thread)
    worker.start()
    worker.join()
    assert seen == [expected]


def test_recursion_a_few_hundred_deep_works() -> None:
    source = "function main(n) { return n === 0 ? 0 : 1 + main(n - 1); }"
    assert run_code(source, 400).output == 400


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        ("() => 1", "code: the value main returned is not JSON: main returned a function"),
        ("Symbol('s')", "code: the value main returned is not JSON: main returned a symbol"),
        (
            "{ n: 1n }",
            "code: the value main returned is not JSON: "
            "TypeError: BigInt are forbidden in JSON.stringify",
        ),
        (
            "(() => { const o = {}; o.self = o; return o; })()",
            "code: the value main returned is not JSON: TypeError: circular reference",
        ),
    ],
)
def test_output_must_be_json(returned: str, message: str) -> None:
    assert fails(f"function main() {{ return {returned}; }}").message == message


def test_output_is_capped_at_one_megabyte() -> None:
    assert len(run_code("function main() { return 'x'.repeat(999990); }", {}).output) == 999990
    failure = fails("function main() { return 'x'.repeat(1000000); }")
    assert failure.message == "code: main returned 1000002 bytes of JSON; the limit is 1000000"


def test_output_nested_deeper_than_python_reads_is_an_error() -> None:
    source = "function main() { let a = []; for (let i = 0; i < 1500; i++) a = [a]; return a; }"
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)  # jsonata raises it to 10000 once it has run in this process
    try:
        assert fails(source).message == "code: the value main returned is nested too deeply"
    finally:
        sys.setrecursionlimit(limit)


def test_output_nested_deeper_than_quickjs_writes_is_an_error() -> None:
    source = "function main() { let a = []; for (let i = 0; i < 20000; i++) a = [a]; return a; }"
    assert fails(source).message == (
        "code: the value main returned is not JSON: RangeError: Maximum call stack size exceeded"
    )


@pytest.mark.parametrize("value", [float("nan"), {"s": {1, 2}}, {"when": object()}])
def test_input_must_be_json(value: object) -> None:
    assert fails("function main(i) { return i; }", value, field="input").message.startswith(
        "code: the input is not JSON"
    )


def test_source_is_capped_at_100_000_characters() -> None:
    source = "function main() {}" + " " * (100_001 - 18)
    assert fails(source).message == "code: is 100001 characters long; the limit is 100000"
    with pytest.raises(BadInput, match="100001 characters"):
        check_source(source)
    assert run_code(source[:100_000], {}).output is None


def test_source_that_cannot_reach_quickjs_is_refused() -> None:
    assert fails("function main() {}\x00").message == "code: contains a NUL character"
    with pytest.raises(BadInput, match="unpaired surrogate"):
        check_source("function main() { return '\ud800'; }")


@pytest.mark.parametrize(
    "name",
    [
        *("fetch", "require", "process", "std", "os", "setTimeout", "XMLHttpRequest", "Deno"),
        "FinalizationRegistry",  # its callbacks would run outside the harness
    ],
)
def test_no_host_objects_are_reachable(name: str) -> None:
    assert run_code(f"function main() {{ return typeof {name}; }}", {}).output == "undefined"


@pytest.mark.parametrize("module", ["os", "std", "./x.js", "https://example.com/x.js"])
def test_modules_cannot_be_imported(module: str) -> None:
    source = """
    async function main(name) {
      try { await import(name); return "loaded"; } catch (e) { return String(e); }
    }
    """
    assert run_code(source, module).output.startswith("ReferenceError: could not load module")
    with pytest.raises(BadInput, match="SyntaxError"):
        check_source(f"import * as m from '{module}';\nfunction main() {{}}")


def test_atomics_wait_cannot_block_the_thread() -> None:
    cell = "new Int32Array(new SharedArrayBuffer(4))"
    source = f"function main() {{ return Atomics.wait({cell}, 0, 0); }}"
    assert fails(source).message == "code: TypeError: cannot block in this thread (line 1)"


def test_stack_trace_hooks_are_inert() -> None:
    source = """
    function main() {
      try { Error.prepareStackTrace = () => "hooked"; } catch (e) {}
      return [Error.prepareStackTrace === undefined, new Error("x").stack !== "hooked"];
    }
    """
    assert run_code(source, {}).output == [True, True]


def test_each_call_gets_a_fresh_context() -> None:
    first = """
    var counter = 41; globalThis.leak = "secret"; Array.prototype.poisoned = true;
    function main() { counter++; return counter; }
    """
    second = """
    function main() {
      return [typeof counter, typeof leak, [].poisoned === undefined, typeof main];
    }
    """
    assert run_code(first, {}).output == 42
    assert run_code(first, {}).output == 42
    assert run_code(second, {}).output == ["undefined", "undefined", True, "function"]


def test_four_threads_run_code_at_once() -> None:
    source = """
    function main(input) {
      let total = 0;
      for (let i = 0; i < 20000; i++) total += i % input.k;
      console.log("k", input.k);
      if (input.k % 7 === 0) throw new Error("seven " + input.k);
      return { k: input.k, total };
    }
    """
    start = threading.Barrier(4)

    def worker(offset: int) -> list[object]:
        start.wait()
        seen: list[object] = []
        for k in range(offset + 1, offset + 41):
            try:
                result = run_code(source, {"k": k}, timeout_ms=30_000)
                seen.append((result.output, result.logs))
            except CodeFailed as failure:
                seen.append((failure.message, failure.logs))
        return seen

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(worker, [0, 100, 200, 300]))
    for offset, seen in zip([0, 100, 200, 300], results, strict=True):
        for k, item in zip(range(offset + 1, offset + 41), seen, strict=True):
            logs = [f"k {k}"]
            if k % 7 == 0:
                assert item == (f"code: Error: seven {k} (line 6)", logs)
            else:
                assert item == ({"k": k, "total": sum(i % k for i in range(20000))}, logs)


def test_check_source_accepts_every_way_to_declare_main() -> None:
    for source in [
        "function main(input) { return input; }",
        "async function main(input) { return input; }",
        "const main = (input) => input;",
        "let main = function (input) { return input; };",
        "var main = (input) => input;",
        "'use strict';\nfunction main(input) { return input; }",
    ]:
        check_source(source)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("let x = ;\nfunction main() {}", "unexpected token in expression: ';' (line 1, column 9)"),
        ("function main() {\n  return 1 +;\n}", "';' (line 2, column 13)"),
        ("return 1;", "SyntaxError: return not in a function (line 1, column 1)"),
        ("function main() {", "(line 1, column 18)"),
        ("// strict\n'use strict';\nwith (a) {}\nfunction main() {}", "with (line 3, column 1)"),
        ("function NaN() {}\nfunction main() {}", "TypeError: cannot define variable 'NaN'"),
    ],
)
def test_check_source_reports_where_the_code_does_not_compile(source: str, message: str) -> None:
    with pytest.raises(BadInput) as info:
        check_source(source)
    assert info.value.field == "code"
    assert info.value.message.startswith("code: ")
    assert message in info.value.message


def test_check_source_reports_a_missing_main() -> None:
    with pytest.raises(BadInput, match="no function main") as info:
        check_source("function transform(input) { return input; }")
    assert info.value.field == "code"


def test_check_source_runs_nothing() -> None:
    started = time.monotonic()
    check_source("for (;;) {}\nfunction main() {}")
    check_source("throw new Error('top level');\nfunction main() {}")
    assert time.monotonic() - started < 0.5


def test_schemas_describe_the_block() -> None:
    jsonschema.Draft202012Validator.check_schema(INPUT_SCHEMA)
    jsonschema.Draft202012Validator.check_schema(OUTPUT_SCHEMA)
    jsonschema.validate({"code": "function main(i) { return i; }", "input": [1]}, INPUT_SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"input": 1}, INPUT_SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"code": ""}, INPUT_SCHEMA)
    output = run_code("function main() { return {a: [1, 'b', null]}; }", {}).output
    jsonschema.validate(output, OUTPUT_SCHEMA)


def test_defaults_match_the_settings() -> None:
    settings = EngineSettings()
    assert settings.code_timeout_ms == code.DEFAULT_TIMEOUT_MS
    assert settings.code_memory_mb * 2**20 == code.DEFAULT_MEMORY_BYTES


# Code that would hang the whole process (GIL held, no time limit) if anything it controls ran
# while quickjs-ng turns an escaping exception into text. Run in a child process so that a
# regression fails these tests instead of freezing the test run.
HOSTILE: dict[str, tuple[str, str]] = {
    "throws object with endless toString": (
        "function main() { throw { toString() { for (;;); } }; }",
        "code: threw {}",
    ),
    "top-level throw of such an object": (
        "throw { toString() { for (;;); } };\nfunction main() {}",
        "code: threw {}",
    ),
    "string thrown with a poisoned stack getter": (
        "Object.defineProperty(String.prototype, 'stack', { get() { for (;;); } });\n"
        "function main() { throw 'x'; }",
        'code: threw "x"',
    ),
    "Error.prototype.toString replaced": (
        "Error.prototype.toString = function () { for (;;); };\n" + LOOP,
        "code: ran longer than 200 ms",
    ),
    "Error.prototype.stack replaced": (
        "Object.defineProperty(Error.prototype, 'stack', { get() { for (;;); } });\n" + LOOP,
        "code: ran longer than 200 ms",
    ),
    "InternalError.prototype patched": (
        "InternalError.prototype.toString = function () { for (;;); };\n"
        "try { Object.defineProperty(InternalError.prototype, 'name', { get() { for (;;); } }); }"
        " catch (e) {}\n" + LOOP,
        "code: ran longer than 200 ms",
    ),
    "Object.prototype[Symbol.toPrimitive] replaced": (
        "Object.prototype[Symbol.toPrimitive] = function () { for (;;); };\n" + LOOP,
        "code: ran longer than 200 ms",
    ),
    "Error.prepareStackTrace set": (
        "try { Error.prepareStackTrace = () => { for (;;); }; } catch (e) {}\n" + LOOP,
        "code: ran longer than 200 ms",
    ),
    "error with an endless message getter": (
        "function main() { const e = new Error('x');"
        " Object.defineProperty(e, 'message', { get() { for (;;); } }); throw e; }",
        "code: ran longer than 200 ms",
    ),
    "queueMicrotask callback throwing such an object": (
        "async function main() { queueMicrotask(() => { throw { toString() { for (;;); } }; });"
        " await null; await null; return 1; }",
        "ok 1 ['[error] queueMicrotask callback: threw {}']",
    ),
    "rejection with such an object": (
        "async function main() { await null;"
        " throw { toString() { for (;;); }, get stack() { for (;;); } }; }",
        "code: ran longer than 200 ms",
    ),
    "Object.prototype.toJSON endless": (
        "Object.prototype.toJSON = function () { for (;;); };\n"
        "function main() { console.log('hi'); return 1; }",
        "ok 1 ['hi']",
    ),
    "out-of-memory error rethrown with endless toString": (
        "function main() { try { new ArrayBuffer(1e9); }"
        " catch (e) { e.toString = () => { for (;;); }; throw e; } }",
        "code: used more than 8 MiB",
    ),
}

_CHILD = """
import json, sys
from solder.engine.code import run_code
for name, source in json.loads(sys.argv[1]):
    try:
        result = run_code(source, {}, timeout_ms=200, memory_bytes=8 * 2**20)
        outcome = f"ok {result.output!r} {result.logs!r}"
    except Exception as exc:
        outcome = str(exc)
    print(json.dumps([name, outcome]), flush=True)
"""


@pytest.fixture(scope="module")
def hostile_outcomes() -> dict[str, str]:
    cases = json.dumps([[name, source] for name, (source, _) in HOSTILE.items()])
    try:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, cases], capture_output=True, text=True, timeout=60
        )
        out = done.stdout
    except subprocess.TimeoutExpired as hung:
        raw = hung.stdout or b""
        out = raw.decode() if isinstance(raw, bytes) else raw
    return dict(json.loads(line) for line in out.splitlines() if line.strip())


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_code_cannot_hang_the_process(name: str, hostile_outcomes: dict[str, str]) -> None:
    assert name in hostile_outcomes, "the child process hung or crashed before this case ended"
    assert hostile_outcomes[name] == HOSTILE[name][1]


@pytest.fixture(autouse=True, scope="module")
def no_leftover_processes() -> Iterator[None]:
    yield
    code.shutdown()
    assert sandbox_children() == {}
