"""The mapping language: typed values, text, errors with paths, bounds, caching, threads."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from jsonata import timebox

from solder.engine import mapping
from solder.engine.mapping import render, validate
from solder.errors import BadInput, FatalError

CONTEXT: dict[str, object] = {
    "trigger": {
        "orderId": "A-1001",
        "status": "FULFILLED",
        "paid": True,
        "items": [{"sku": "S1", "price": 2.5}, {"sku": "S2", "price": 3}],
    },
    "blocks": {
        "fetch": {"items": [{"sku": "B7", "qty": 2}]},
        "fetch-orders": {"count": 4},
    },
    "config": {"channel": "#sales"},
    "user": {"id": "u1", "username": "ann"},
    "execution": {"id": "e1", "workflowId": "w1"},
}

RUNAWAY = "{{ ($f := function($x){ $f($x) }; $f(1)) }}"  # tail call: only the clock stops it
TOO_DEEP = "{{ ($f := function($x){ 1 + $f($x) }; $f(1)) }}"  # grows the stack


class FakeClock:
    """Stands in for jsonata-python's millisecond clock so tests can skip time."""

    def __init__(self) -> None:
        self.now_ms = 1_000_000

    def __call__(self) -> int:
        return self.now_ms


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(timebox.Timebox, "current_milli_time", staticmethod(fake))
    return fake


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ trigger.orderId }}", "A-1001"),
        ("{{ $sum(trigger.items.price) }}", 5.5),
        ("{{ trigger.paid }}", True),
        ("{{ trigger.items.sku }}", ["S1", "S2"]),
        ("{{ trigger.items[0] }}", {"sku": "S1", "price": 2.5}),
        ("{{ null }}", None),
        ("  {{ blocks.fetch.items[0].sku }}\n", "B7"),
        ('{{ $lookup({"FULFILLED": "Completed"}, trigger.status) }}', "Completed"),
        ("{{ blocks.`fetch-orders`.count * 2 }}", 8),
        ("{{ trigger.paid ? config.channel : 'none' }}", "#sales"),
        (
            '{{ {"who": user.username, "run": {"id": execution.id}} }}',
            {"who": "ann", "run": {"id": "e1"}},
        ),
        ("{{ $map(trigger.items, function($i){ $i.sku & '-x' }) }}", ["S1-x", "S2-x"]),
        ("{{ $number('42') + 1 }}", 43),
    ],
)
def test_single_expression_keeps_its_json_type(template: str, expected: object) -> None:
    result = render(template, CONTEXT)
    assert result == expected
    assert type(result) is type(expected)


def test_missing_path_is_none_and_empty_text() -> None:
    assert render("{{ trigger.nothing.here }}", CONTEXT) is None
    assert render("{{ blocks.unknown.items[0] }}", CONTEXT) is None
    assert render("id=[{{ trigger.nothing }}]", CONTEXT) == "id=[]"


def test_text_interpolates_every_expression() -> None:
    template = (
        "Order {{ trigger.orderId }} by {{ user.username }}: "
        "total {{ $sum(trigger.items.price) }}, paid {{ trigger.paid }}, "
        "first {{ trigger.items[0] }}, skus {{ trigger.items.sku }}"
    )
    assert render(template, CONTEXT) == (
        "Order A-1001 by ann: total 5.5, paid true, "
        'first {"sku":"S1","price":2.5}, skus ["S1","S2"]'
    )


def test_nested_template_is_rendered_everywhere_and_other_values_kept() -> None:
    template = {
        "body": {
            "orderId": "{{ trigger.orderId }}",
            "lines": [{"sku": "{{ blocks.fetch.items[0].sku }}", "qty": 2}, "plain text"],
            "note": "Run {{ execution.id }} of {{ execution.workflowId }}",
        },
        "count": 3,
        "flag": False,
        "nothing": None,
        "braces": "a { b } c",
    }
    assert render(template, CONTEXT) == {
        "body": {
            "orderId": "A-1001",
            "lines": [{"sku": "B7", "qty": 2}, "plain text"],
            "note": "Run e1 of w1",
        },
        "count": 3,
        "flag": False,
        "nothing": None,
        "braces": "a { b } c",
    }


def test_object_braces_and_quoted_braces_do_not_end_an_expression() -> None:
    assert render('{{ {"a": {"b": trigger.orderId}} }}', CONTEXT) == {"a": {"b": "A-1001"}}
    assert render('{{ "}}" & user.id }} and {{ "{{" }}', CONTEXT) == "}}u1 and {{"


def test_result_is_a_copy_not_the_context() -> None:
    result = render("{{ trigger.items }}", CONTEXT)
    assert isinstance(result, list)
    result.append("extra")
    assert render("{{ $count(trigger.items) }}", CONTEXT) == 2


def test_syntax_error_is_bad_input_naming_the_path() -> None:
    template = {"body": {"orderId": "{{ trigger.orderId. }}"}}
    with pytest.raises(BadInput, match=r"^inputs\.body\.orderId: syntax error in mapping") as info:
        render(template, CONTEXT)
    assert info.value.field == "inputs.body.orderId"


def test_unclosed_braces_are_bad_input() -> None:
    with pytest.raises(BadInput, match=r"inputs\.items\[1\]: .*never closed"):
        render({"items": ["ok", "{{ trigger.orderId"]}, CONTEXT)


def test_validate_reports_every_problem_at_once() -> None:
    template = {
        "a": "{{ trigger. }}",
        "b": ["fine", "x {{ $sum( }} y {{ 1 + }}"],
        "c d": "{{ }}",
        "e": "{{ trigger.orderId }}",
        "f": "{{ open",
    }
    problems = validate(template, "workflows[0].blocks[1].inputs")
    assert [problem.split(":")[0] for problem in problems] == [
        "workflows[0].blocks[1].inputs.a",
        "workflows[0].blocks[1].inputs.b[1]",
        "workflows[0].blocks[1].inputs.b[1]",
        'workflows[0].blocks[1].inputs["c d"]',
        "workflows[0].blocks[1].inputs.f",
    ]
    assert validate({"a": "{{ trigger.orderId }}", "b": [1, "text"]}) == []


def test_evaluation_error_is_fatal_naming_the_path() -> None:
    with pytest.raises(FatalError, match=r"^inputs\.total: mapping .* failed: .*T2001"):
        render({"total": "{{ trigger.orderId + 1 }}"}, CONTEXT)


def test_a_function_is_not_a_json_value() -> None:
    with pytest.raises(FatalError, match="non-JSON value"):
        render("{{ function($x){ $x } }}", CONTEXT)


@pytest.mark.timeout(10)
def test_runaway_recursion_fails_fast_on_the_time_limit() -> None:
    started = time.perf_counter()
    with pytest.raises(FatalError, match=r"^inputs\.x: .*longer than the 1000 ms limit"):
        render({"x": RUNAWAY}, CONTEXT)
    assert time.perf_counter() - started < 2


@pytest.mark.timeout(10)
def test_deep_recursion_fails_on_the_depth_limit() -> None:
    with pytest.raises(FatalError, match="deeper than the limit of 50 steps"):
        render(TOO_DEEP, CONTEXT, max_depth=50)
    with pytest.raises(FatalError, match="deeper than the limit"):
        render(TOO_DEEP, CONTEXT)


def test_cached_expression_gets_a_fresh_time_limit(clock: FakeClock) -> None:
    template = "{{ $sum(trigger.items.price) * 2 }}"
    assert render(template, CONTEXT, timeout_ms=50) == 11
    hits = mapping._compile.cache_info().hits
    clock.now_ms += 10_000  # far past the limit since the expression was compiled
    assert render(template, CONTEXT, timeout_ms=50) == 11
    assert mapping._compile.cache_info().hits == hits + 1


def test_cached_expression_reads_the_current_time_in_threads(clock: FakeClock) -> None:
    seen: list[object] = []

    def twice() -> None:
        seen.append(render("{{ $millis() }}", CONTEXT))
        clock.now_ms += 5_000
        seen.append(render("{{ $millis() }}", CONTEXT))

    worker = threading.Thread(target=twice)
    worker.start()
    worker.join()
    assert seen == [1_000_000, 1_005_000]


@pytest.mark.timeout(30)
def test_threads_get_their_own_results_and_bounds() -> None:
    def one(n: int) -> object:
        if n % 10 == 0:
            with pytest.raises(FatalError):
                render(RUNAWAY, CONTEXT)
            return None
        context = {**CONTEXT, "trigger": {"n": n, "items": [{"price": n}, {"price": 1}]}}
        # a generous bound for the ordinary ones: eight busy threads share one interpreter
        template = {"n": "{{ trigger.n }}", "total": "{{ $sum(trigger.items.price) }}"}
        return render(template, context, timeout_ms=30_000)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, range(200)))
    for n, result in enumerate(results):
        expected = None if n % 10 == 0 else {"n": n, "total": n + 1}
        assert result == expected


def test_context_must_be_plain_json() -> None:
    with pytest.raises(TypeError, match="JSON values only"):
        render("{{ trigger.when }}", {"trigger": {"when": object()}})
    assert render("no mapping here", {"trigger": object()}) == "no mapping here"


@pytest.mark.parametrize(
    "template",
    [
        "{{ trigger.__class__ }}",
        "{{ trigger.keys }}",
        '{{ $lookup(trigger, "__class__") }}',
        "{{ $string.__globals__ }}",
        '{{ $eval("trigger.__dict__") }}',
        "{{ trigger.a.__class__.__mro__ }}",
        '{{ $lookup($string, "__code__") }}',
    ],
)
def test_expressions_cannot_reach_python_objects(template: str) -> None:
    """Paths name JSON keys only: Python attributes of values and functions are not there."""
    assert render(template, {"trigger": {"a": 1}}) is None


@pytest.mark.parametrize(
    "template",
    ["{{ $eval(\"import('os')\") }}", '{{ $open("/etc/passwd") }}', '{{ $fetch("http://x") }}'],
)
def test_expressions_have_no_imports_files_or_network(template: str) -> None:
    with pytest.raises(FatalError):
        render(template, {"trigger": {}})
