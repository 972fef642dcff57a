"""The HubSpot sandbox's search operators, on records in memory."""

from __future__ import annotations

import pytest

from solder.sandbox.hubspot_search import matches, search_request, sort_key

DATES = frozenset({"createdate"})
RECORD = {
    "properties": {
        "email": "ada.lovelace@example.com",
        "amount": "250",
        "createdate": "2024-01-02T00:00:00.000Z",
        "phone": "",
    }
}


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            {"propertyName": "amount", "operator": "BETWEEN", "value": "100", "highValue": "300"},
            True,
        ),
        (
            {"propertyName": "amount", "operator": "BETWEEN", "value": "251", "highValue": "300"},
            False,
        ),
        ({"propertyName": "amount", "operator": "LT", "value": "1000"}, True),  # numbers, not text
        ({"propertyName": "email", "operator": "NEQ", "value": "x@example.com"}, True),
        ({"propertyName": "email", "operator": "EQ", "value": "ADA.LOVELACE@example.com"}, True),
        ({"propertyName": "phone", "operator": "HAS_PROPERTY"}, False),
        ({"propertyName": "phone", "operator": "NOT_HAS_PROPERTY"}, True),
        ({"propertyName": "city", "operator": "NEQ", "value": "Paris"}, True),
        ({"propertyName": "city", "operator": "EQ", "value": "Paris"}, False),
        ({"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": "lovelace"}, True),
        ({"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": "ada*"}, True),
        ({"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": "love"}, False),
        ({"propertyName": "email", "operator": "NOT_CONTAINS_TOKEN", "value": "love"}, True),
        ({"propertyName": "amount", "operator": "NOT_IN", "values": ["1", "2"]}, True),
        ({"propertyName": "amount", "operator": "IN", "values": ["250.0"]}, True),
        ({"propertyName": "createdate", "operator": "GTE", "value": "1704153600000"}, True),
        ({"propertyName": "createdate", "operator": "GT", "value": "1704153600000"}, False),
        ({"propertyName": "amount", "operator": "GT", "value": "lots"}, False),
    ],
)
def test_operators(rule: dict[str, object], expected: bool) -> None:
    assert matches(RECORD, rule, DATES) is expected


@pytest.mark.parametrize(
    "body",
    [
        {"filterGroups": [{"filters": [{"propertyName": "a", "operator": "LIKE"}]}]},
        {"filterGroups": [{"filters": [{"operator": "EQ", "value": "1"}]}]},
        {"filterGroups": [{"filters": []}] * 6},
        {"sorts": [{"direction": "ASCENDING"}]},
        {"limit": 201},
        {"limit": True},
        {"after": "x"},
        {"after": "9999", "limit": 10},
    ],
)
def test_bad_search_bodies_are_refused(body: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"\w"):
        search_request(body)


def test_sorts_and_defaults() -> None:
    groups, sorts, limit, offset = search_request({"sorts": ["-createdate", "email"]})
    assert (groups, sorts, limit, offset) == ([], [("createdate", True), ("email", False)], 10, 0)
    empty = {"properties": {}}
    assert sort_key(empty, "email", DATES) > sort_key(RECORD, "email", DATES)  # blanks last
