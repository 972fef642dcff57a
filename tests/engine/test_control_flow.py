"""Logic blocks on a real server: if/else, branch, iterate, stop and delay.

Each test pushes a workflow, installs it for a user, fires its custom event and reads the run
back from the logs API, so what is checked is what an ISV sees.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx2
import pytest

from solder.errors import BadInput
from tests.blockflow import Flow, outputs
from tests.flows import ok


def stream(key: str, url: str, body: Any) -> dict[str, Any]:
    return {"key": key, "type": "streamData", "inputs": {"url": url, "body": body}}


def received(url: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = ok(httpx2.get(f"{url}/_received"))["data"]
    return records


def bodies(url: str) -> list[Any]:
    return [r["json"] for r in received(url)]


def test_if_runs_then_or_else_by_the_condition(
    api: httpx2.Client, tmp_path: Path, receiver_url: str
) -> None:
    hook = f"{receiver_url}/hook"
    flow = Flow(
        api,
        tmp_path,
        [
            {
                "key": "big",
                "type": "if",
                "inputs": {"condition": "{{ trigger.total > 100 }}"},
                "then": [stream("vip", hook, {"tier": "vip", "total": "{{ trigger.total }}"})],
                "else": [stream("regular", hook, {"tier": "regular"})],
            },
            stream("after", hook, {"saw": "{{ blocks.big.result }}"}),
        ],
    ).install()
    run = flow.run({"total": 250})
    assert run["status"] == "succeeded"
    assert [r["blockName"] for r in run["results"]] == ["go", "big", "vip", "after"]
    run = flow.run({"total": 5})
    assert [r["blockName"] for r in run["results"]] == ["go", "big", "regular", "after"]
    assert bodies(receiver_url) == [
        {"tier": "vip", "total": 250},
        {"saw": True},
        {"tier": "regular"},
        {"saw": False},
    ]


def test_branch_runs_every_true_path_and_the_default_when_none(
    api: httpx2.Client, tmp_path: Path, receiver_url: str
) -> None:
    hook = f"{receiver_url}/hook"
    flow = Flow(
        api,
        tmp_path,
        [
            {
                "key": "route",
                "type": "branch",
                "paths": [
                    {"key": "eu", "condition": "{{ trigger.region = 'eu' }}",
                     "blocks": [stream("to-eu", hook, "eu")]},
                    {"key": "big", "condition": "{{ trigger.total > 100 }}",
                     "blocks": [stream("to-big", hook, "big")]},
                ],
                "default": [stream("to-default", hook, "default")],
            }
        ],
    ).install()  # fmt: skip
    both = flow.run({"region": "eu", "total": 500})
    assert outputs(both)["route"] == {"paths": ["eu", "big"], "default": False}
    none = flow.run({"region": "us", "total": 1})
    assert outputs(none)["route"] == {"paths": [], "default": True}
    assert bodies(receiver_url) == ["eu", "big", "default"]


def test_iterate_runs_the_nested_blocks_per_item(
    api: httpx2.Client, tmp_path: Path, receiver_url: str
) -> None:
    hook = f"{receiver_url}/hook"
    flow = Flow(
        api,
        tmp_path,
        [
            {
                "key": "each",
                "type": "iterate",
                "inputs": {"items": "{{ trigger.lines }}"},
                "blocks": [
                    {"key": "upper", "type": "formatter", "operation": "text.upper",
                     "inputs": {"value": "{{ item.sku }}"}},
                    stream("send", hook, {"i": "{{ index }}", "sku": "{{ blocks.upper }}"}),
                ],
            },
            stream("done", hook, {"count": "{{ blocks.each.count }}"}),
        ],
    ).install()  # fmt: skip
    run = flow.run({"lines": [{"sku": "a1"}, {"sku": "b2"}, {"sku": "c3"}]})
    assert run["status"] == "succeeded", run["error"]
    assert outputs(run)["upper"] == ["A1", "B2", "C3"]
    items = [r["item"] for r in run["results"] if r["blockName"] == "send"]
    assert items == ["0", "1", "2"]
    assert bodies(receiver_url) == [
        {"i": 0, "sku": "A1"},
        {"i": 1, "sku": "B2"},
        {"i": 2, "sku": "C3"},
        {"count": 3},
    ]
    # each item's request carries its own idempotency key
    keys = {r["headers"]["idempotency-key"] for r in received(receiver_url)}
    assert len(keys) == 4


def test_iterate_over_its_bound_fails_naming_the_limit(
    api: httpx2.Client, tmp_path: Path, receiver_url: str
) -> None:
    flow = Flow(
        api,
        tmp_path,
        [
            {
                "key": "each",
                "type": "iterate",
                "inputs": {"items": "{{ trigger.lines }}", "maxItems": 2},
                "blocks": [stream("send", f"{receiver_url}/hook", "{{ item }}")],
            }
        ],
    ).install()
    run = flow.run({"lines": [1, 2, 3]})
    assert run["status"] == "failed"
    assert "3 items, more than the limit of 2" in run["error"]["message"]
    assert received(receiver_url) == []


def test_stop_ends_the_run_with_its_status(
    api: httpx2.Client, tmp_path: Path, receiver_url: str
) -> None:
    hook = f"{receiver_url}/hook"
    flow = Flow(
        api,
        tmp_path,
        [
            {
                "key": "check",
                "type": "if",
                "inputs": {"condition": "{{ $not($exists(trigger.email)) }}"},
                "then": [
                    {"key": "halt", "type": "stop",
                     "inputs": {"status": "failed", "message": "no email on {{ trigger.id }}"}}
                ],
            },
            stream("send", hook, "{{ trigger.email }}"),
        ],
    ).install()  # fmt: skip
    failed = flow.run({"id": 7})
    assert failed["status"] == "failed"
    assert failed["error"]["message"] == "no email on 7"
    assert failed["error"]["block"] == "halt"
    ok_run = flow.run({"id": 8, "email": "a@example.com"})
    assert ok_run["status"] == "succeeded"
    assert bodies(receiver_url) == ["a@example.com"]
    errors = ok(api.get(f"/workflows/{flow.workflow_id}/errors", params={"userId": flow.user_id}))
    assert [e["message"] for e in errors["data"]] == ["no email on 7"]


def test_delay_waits_without_a_worker_and_then_goes_on(
    api: httpx2.Client, tmp_path: Path, receiver_url: str
) -> None:
    hook = f"{receiver_url}/hook"
    flow = Flow(
        api,
        tmp_path,
        [
            stream("before", hook, "before"),
            {"key": "wait", "type": "delay", "inputs": {"seconds": 1.5}},
            stream("after", hook, "after"),
        ],
    ).install()
    started = time.monotonic()
    flow.fire({})
    run = flow.finished(1, timeout=20)[0]
    elapsed = time.monotonic() - started
    assert run["status"] == "succeeded"
    assert elapsed >= 1.4
    assert bodies(receiver_url) == ["before", "after"]
    sent = [r["at"] for r in received(receiver_url)]
    assert sent[1] - sent[0] >= 1.4
    # the delay is one stored step; "before" ran once although the run was claimed twice
    names = [r["blockName"] for r in run["results"]]
    assert names == ["go", "before", "wait", "after"]


def test_delay_until_a_time_in_the_past_goes_on_at_once(
    api: httpx2.Client, tmp_path: Path, receiver_url: str
) -> None:
    flow = Flow(
        api,
        tmp_path,
        [
            {"key": "wait", "type": "delay", "inputs": {"until": "2020-01-01T00:00:00Z"}},
            stream("after", f"{receiver_url}/hook", "after"),
        ],
    ).install()
    run = flow.run({})
    assert run["status"] == "succeeded"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"seconds": -1}, "inputs.seconds"),
        ({"until": "tomorrow"}, "inputs.until: 'tomorrow' is not an ISO 8601 date-time"),
        ({"seconds": 10**9}, "at most 365 days"),
    ],
)
def test_a_bad_mapped_delay_fails_the_run_naming_the_input(
    api: httpx2.Client, tmp_path: Path, data: dict[str, Any], message: str
) -> None:
    inputs = {name: f"{{{{ trigger.{name} }}}}" for name in data}
    flow = Flow(api, tmp_path, [{"key": "wait", "type": "delay", "inputs": inputs}]).install()
    run = flow.run(data)
    assert run["status"] == "failed"
    assert message in run["error"]["message"]


def test_a_bad_literal_input_is_refused_at_push_naming_it(
    api: httpx2.Client, tmp_path: Path
) -> None:
    flow = Flow(api, tmp_path, [{"key": "wait", "type": "delay", "inputs": {"seconds": -1}}])
    with pytest.raises(BadInput, match=r"blocks\[0\]\.inputs\.seconds: -1 is less than"):
        flow.install()


def test_a_mapping_error_names_the_block_field_and_expression(
    api: httpx2.Client, tmp_path: Path, receiver_url: str
) -> None:
    flow = Flow(
        api,
        tmp_path,
        [stream("send", f"{receiver_url}/hook", {"n": "{{ $number(trigger.word) }}"})],
    ).install()
    run = flow.run({"word": "seven"})
    assert run["status"] == "failed"
    message = run["error"]["message"]
    assert message.startswith("block send: inputs.body.n:")
    assert "$number(trigger.word)" in message
