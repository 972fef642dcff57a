"""A custom event's payload is checked by a compiled validator, and by jsonschema to name the
field when it is refused: the two must agree on which payloads fit."""

from __future__ import annotations

import json
from typing import Any

import fastjsonschema
import pytest

from solder.api.running import _checks, check_payload
from solder.errors import BadInput

SAMPLES: list[Any] = [
    {"orderId": "String", "status": "String"},
    {"n": "Number", "ok": "Boolean", "tags": "Array", "extra": "Object"},
    {"n": 1, "f": 2.5, "b": True, "s": "x", "nothing": None},
    {"items": [{"sku": "String", "qty": 1}], "empty": []},
    {"deep": {"deeper": {"deepest": "Number"}}},
    {},
]

PAYLOADS: list[Any] = [
    {},
    {"orderId": "1", "status": "FULFILLED"},
    {"orderId": 1, "status": "FULFILLED"},
    {"orderId": "1", "status": None},
    {"n": 1, "ok": True, "tags": [], "extra": {}},
    {"n": True, "ok": 1, "tags": {}, "extra": []},
    {"n": float("nan"), "ok": False, "tags": [1, "a"], "extra": {"a": 1}},
    {"n": 10**30, "f": 0, "b": False, "s": "", "nothing": None},
    {"n": 1.0, "f": "2.5", "b": True, "s": "x", "nothing": 0},
    {"items": [{"sku": "a", "qty": 2}, {"sku": "b", "qty": 2.5}], "empty": [1, "x", None]},
    {"items": [{"sku": "a"}], "empty": []},
    {"items": [{"sku": 1, "qty": 1}], "empty": []},
    {"items": {}, "empty": []},
    {"deep": {"deeper": {"deepest": 3}}},
    {"deep": {"deeper": {"deepest": "3"}}},
    {"deep": {"deeper": {}}},
    {"deep": None},
    {"unknown": "field", "orderId": "1", "status": "x"},
    [],
    "text",
    None,
]


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: json.dumps(s)[:40])
def test_the_compiled_check_agrees_with_jsonschema(sample: Any) -> None:
    checks = _checks(json.dumps(sample))
    for payload in PAYLOADS:
        try:
            checks.fast(payload)
            fast_ok = True
        except fastjsonschema.JsonSchemaValueException:
            fast_ok = False
        assert fast_ok == checks.full.is_valid(payload), payload


@pytest.mark.parametrize("stored", ["text", "parsed"])
def test_a_refused_payload_names_its_field_whatever_the_store_gives(stored: str) -> None:
    sample: Any = {"items": [{"sku": "String", "qty": 1}]}
    body = json.dumps(sample) if stored == "text" else sample
    check_payload(body, {"items": [{"sku": "a", "qty": 1}]})
    with pytest.raises(BadInput) as refused:
        check_payload(body, {"items": [{"sku": "a", "qty": "many"}]})
    assert refused.value.field == "data.items[0].qty"
    with pytest.raises(BadInput) as missing:
        check_payload(body, {"items": [{"qty": 1}]})
    assert missing.value.field == "data.items[0].sku"
    assert missing.value.message == "data.items[0].sku: required"
