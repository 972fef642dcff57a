"""HubSpot's CRM search, done in memory: filter groups, operators, sorts and offsets.

A search body is checked by :func:`search_request` (``ValueError`` naming the bad part, which
the API answers 400 ``VALIDATION_ERROR``); :func:`matches` applies one filter to one record and
:func:`sort_key` orders records by a property. Date properties compare as epoch milliseconds,
whether given that way or in ISO 8601; numbers as numbers; the rest as text, case aside.
"""

from __future__ import annotations

import itertools
import json
import operator
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

Json = dict[str, Any]

COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "EQ": operator.eq, "NEQ": operator.ne, "LT": operator.lt,
    "LTE": operator.le, "GT": operator.gt, "GTE": operator.ge,
}  # fmt: skip
OPERATORS = {
    *COMPARE,
    *("BETWEEN", "IN", "NOT_IN"),
    *("HAS_PROPERTY", "NOT_HAS_PROPERTY", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"),
}


def to_ms(value: str) -> int | None:
    """A HubSpot date value (epoch milliseconds or ISO 8601) in epoch milliseconds."""
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return int(parsed.replace(tzinfo=parsed.tzinfo or UTC).timestamp() * 1000)


def matches(record: Json, rule: Json, dates: frozenset[str]) -> bool:
    """One search filter against one record."""
    name, op = rule["propertyName"], rule["operator"]
    actual = record["properties"].get(name)
    if op in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
        return bool((actual not in (None, "")) == (op == "HAS_PROPERTY"))
    if actual in (None, ""):
        return bool(op in ("NEQ", "NOT_IN", "NOT_CONTAINS_TOKEN"))

    def key(value: Any) -> Any:
        text = str(value)
        if name in dates:
            return to_ms(text)
        try:
            return float(text)
        except ValueError:
            return text.casefold()

    mine = key(actual)
    if op in ("IN", "NOT_IN"):
        return bool((mine in {key(v) for v in rule.get("values", [])}) == (op == "IN"))
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        pattern = re.escape(str(rule.get("value", "")).casefold()).replace(r"\*", ".*")
        found = re.search(rf"(^|\W){pattern}($|\W)", str(actual).casefold()) is not None
        return found is (op == "CONTAINS_TOKEN")
    other = key(rule.get("value", ""))
    try:
        if op == "BETWEEN":
            return bool(other <= mine <= key(rule.get("highValue", "")))
        return bool(COMPARE[op](mine, other))
    except TypeError:  # a number against a word: HubSpot finds nothing
        return False


def search_request(body: Json) -> tuple[list[list[Json]], list[tuple[str, bool]], int, int]:
    """Filter groups, sorts (name, descending), limit and offset; ``ValueError`` on a bad part."""
    bad = ValueError

    groups = body.get("filterGroups", [])
    if not isinstance(groups, list) or len(groups) > 5:
        raise bad("filterGroups must be a list of at most 5 groups")
    filters = [g.get("filters") if isinstance(g, dict) else None for g in groups]
    if any(not isinstance(f, list) or len(f) > 6 for f in filters):
        raise bad("each filter group needs a list of at most 6 filters")
    rules: list[list[Json]] = [list(f) for f in filters if isinstance(f, list)]
    if sum(map(len, rules)) > 18:
        raise bad("a search takes at most 18 filters")
    for rule in itertools.chain.from_iterable(rules):
        if not isinstance(rule, dict) or rule.get("operator", "EQ") not in OPERATORS:
            raise bad(f"Invalid filter: {json.dumps(rule)}")
        rule.setdefault("operator", "EQ")
        if not isinstance(rule.get("propertyName"), str):
            raise bad("every filter needs a propertyName")
    sorts: list[tuple[str, bool]] = []
    for raw in body.get("sorts", []):
        if isinstance(raw, str):
            sorts.append((raw.lstrip("-"), raw.startswith("-")))
        elif isinstance(raw, dict) and isinstance(raw.get("propertyName"), str):
            sorts.append((raw["propertyName"], raw.get("direction") == "DESCENDING"))
        else:
            raise bad(f"Invalid sort: {json.dumps(raw)}")
    limit, after = body.get("limit", 10), body.get("after", "0")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 200:
        raise bad("limit must be between 1 and 200")
    if not str(after).isdigit() or int(after) + limit > 10_000:
        raise bad("after must be an offset of at most 10000 results")
    return rules, sorts, limit, int(after)


def sort_key(record: Json, name: str, dates: frozenset[str]) -> tuple[int, Any]:
    value = record["properties"].get(name)
    if value in (None, ""):
        return (1, 0)
    if name in dates:
        return (0, to_ms(value) or 0)
    try:
        return (0, float(value))
    except ValueError:
        return (0, str(value).casefold())
