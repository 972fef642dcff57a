"""A workflow document's problems, each placed on its block and field (the builder's check).

``check_workflow`` and pydantic describe a problem by its path in the file
(``workflows[0].blocks[1].inputs.url``); the builder also wants the key of the block the
problem is in and the input or property it names, so it can mark them. Both are found by
following the path through the document as sent, which may be far from valid.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from solder.apps.base import App
from solder.engine.checks import check_workflow
from solder.engine.definitions import CustomEventTrigger, WorkflowDef

Problem = dict[str, Any]
"""``{path, blockKey, field, message}``."""

BLOCK_LISTS = frozenset({"blocks", "then", "else", "default"})
_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def segments(path: str) -> list[str | int]:
    """``blocks[1].inputs.url`` -> ``["blocks", 1, "inputs", "url"]``."""
    return [int(i) if i else name for name, i in _SEGMENT.findall(path)]


_MISSING = object()


def join(path: list[str | int]) -> str:
    """``["blocks", 1, "inputs", "url"]`` -> ``blocks[1].inputs.url``."""
    out = ""
    for seg in path:
        out += f"[{seg}]" if isinstance(seg, int) else (f".{seg}" if out else str(seg))
    return out


def _child(node: Any, seg: str | int) -> Any:
    """``node[seg]`` when the document has it, else ``_MISSING``."""
    if isinstance(node, dict) and isinstance(seg, str) and seg in node:
        return node[seg]
    if isinstance(node, list) and isinstance(seg, int) and 0 <= seg < len(node):
        return node[seg]
    return _MISSING


def _clean(loc: tuple[Any, ...], doc: Any) -> list[str | int]:
    """A pydantic error location without the union tags pydantic adds (``appAction``)."""
    node, out = doc, []
    for seg in loc:
        if isinstance(seg, str) and seg.startswith("function-"):
            continue
        child = _child(node, seg)
        if child is _MISSING and isinstance(node, dict) and node.get("type") == seg:
            continue  # the tag of the block's kind, not a key of the document
        out.append(seg)
        node = None if child is _MISSING else child
    return out


def locate(doc: Any, path: list[str | int]) -> tuple[str | None, str | None]:
    """The key of the innermost block on ``path`` (None for the trigger and the workflow
    itself) and what the rest of the path names in that block (without ``inputs.``)."""
    node, key, start = doc, None, 0
    for i, seg in enumerate(path):
        node = _child(node, seg)
        if node is _MISSING:
            break
        if path[: i + 1] == ["trigger"]:
            key, start = None, i + 1
        elif isinstance(seg, int) and i > 0 and path[i - 1] in BLOCK_LISTS:
            found = node.get("key") if isinstance(node, dict) else None
            key, start = (found if isinstance(found, str) else None), i + 1
    rest = path[start:]
    if rest[:1] == ["inputs"] and len(rest) > 1:
        rest = rest[1:]
    return key, (join(rest) or None)


def problem(doc: Any, where: str, path: list[str | int], message: str) -> Problem:
    key, field = locate(doc, path)
    inner = join(path)
    full = f"{where}.{inner}" if inner else where
    return {"path": full, "blockKey": key, "field": field, "message": message}


def check_document(
    doc: Any,
    apps: Mapping[str, App],
    event_exists: Callable[[str], bool],
    where: str = "workflows[0]",
) -> tuple[WorkflowDef | None, list[Problem]]:
    """Every problem of one workflow document, as ``solder push`` checks it."""
    if not isinstance(doc, dict):
        return None, [{"path": where, "blockKey": None, "field": None,
                       "message": "a workflow is an object"}]  # fmt: skip
    try:
        wf = WorkflowDef.model_validate(doc)
    except ValidationError as exc:
        out = []
        for err in exc.errors():
            message = "required" if err["type"] == "missing" else str(err["msg"])
            out.append(problem(doc, where, _clean(tuple(err["loc"]), doc), message))
        return None, out
    out = []
    for text in check_workflow(wf, apps, where):
        at, _, message = text.partition(": ")
        inner = at.removeprefix(where).lstrip(".")
        out.append(problem(doc, where, segments(inner), message))
    trigger = wf.trigger
    if isinstance(trigger, CustomEventTrigger) and not event_exists(trigger.event):
        message = f"no custom event named {trigger.event!r} (define it in the events first)"
        out.append(problem(doc, where, ["trigger", "event"], message))
    return wf, out
