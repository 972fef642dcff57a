"""Plain paths (``trigger.a.b``) are looked up without JSONata: the answers must not differ.

Each case renders once through the shortcut and once forced through JSONata (a path written
as ``trigger.a.b`` and as ``(trigger.a.b)``, which the shortcut does not recognise).
"""

from __future__ import annotations

from typing import Any

import pytest

from solder.engine import mapping

CONTEXT: dict[str, Any] = {
    "trigger": {
        "n": 3,
        "f": 2.0,
        "neg": -0.0,
        "big": 10**20,
        "s": "text",
        "u": "é",
        "t": True,
        "nul": None,
        "empty": {},
        "obj": {"a": 1, "b": {"c": [1, {"d": 2}]}, "with space": 1},
        "list": [1, 2],
        "one": [5],
        "none": [],
        "nested": [[1], [2, 3]],
        "objs": [{"a": 1}, {"a": 2}, {"b": 3}],
        "deep": {"l": [{"m": {"n": 1}}, {"m": {"n": 2}}]},
    },
    "config": {"channel": "#orders", "and": "x"},
    "user": {"id": "u1"},
    "blocks": {},
}

PATHS = [
    "trigger",
    "trigger.n",
    "trigger.f",
    "trigger.neg",
    "trigger.big",
    "trigger.s",
    "trigger.u",
    "trigger.t",
    "trigger.nul",
    "trigger.nul.x",
    "trigger.missing",
    "trigger.missing.deeper",
    "trigger.empty",
    "trigger.obj",
    "trigger.obj.a",
    "trigger.obj.b.c",
    "trigger.list",
    "trigger.one",
    "trigger.none",
    "trigger.nested",
    "trigger.objs.a",
    "trigger.objs.b",
    "trigger.deep.l.m.n",
    "trigger.s.length",
    "trigger.n.x",
    "config.channel",
    "user.id",
    "blocks.x.output",
    "nothing",
    "nothing.at.all",
]


@pytest.mark.parametrize("path", PATHS)
def test_a_plain_path_gives_what_jsonata_gives(path: str) -> None:
    fast = mapping.render("{{ " + path + " }}", CONTEXT)
    slow = mapping.render("{{ (" + path + ") }}", CONTEXT)
    assert fast == slow
    assert type(fast) is type(slow)
    assert mapping.render("v={{ " + path + " }}", CONTEXT) == mapping.render(
        "v={{ (" + path + ") }}", CONTEXT
    )


@pytest.mark.parametrize("source", ["true", "false", "null", "config.and", "trigger.n or 0"])
def test_words_jsonata_reads_as_operators_are_left_to_it(source: str) -> None:
    assert mapping._plain_path(source) is None


def test_a_looked_up_value_is_a_copy_not_the_context() -> None:
    got = mapping.render("{{ trigger.obj }}", CONTEXT)
    assert isinstance(got, dict)
    got["b"]["c"].append(99)
    assert CONTEXT["trigger"]["obj"]["b"]["c"] == [1, {"d": 2}]


def test_a_context_that_is_not_json_is_refused_on_the_shortcut_too() -> None:
    with pytest.raises(TypeError):
        mapping.render("{{ trigger.x }}", {"trigger": {"x": object()}})
