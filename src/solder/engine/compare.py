"""What changed between two definitions of a workflow, for people reading a version history.

``unified`` is a line diff of the two YAML exports (``documents``); ``changes`` says per block
what was added, removed or changed, matching blocks by their keys (a block keeps its key when
it moves or is edited).
"""

from __future__ import annotations

import difflib
from typing import Any

from solder.engine import documents

NESTED = ("then", "else", "paths", "default", "blocks")


def unified(integration: Any, before: dict[str, Any], after: dict[str, Any], a: str,
            b: str) -> str:  # fmt: skip
    """The unified diff of the two definitions' YAML exports (``a`` and ``b`` name them)."""
    old = documents.render(documents.integration_document(integration, [before]), "yaml")
    new = documents.render(documents.integration_document(integration, [after]), "yaml")
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), fromfile=a, tofile=b
    )
    return "".join(lines)


Part = tuple[str, str, str, dict[str, Any]]
"""A block or a branch path: its block's key, how to name it, where it is, its properties."""


def _parts(doc: dict[str, Any]) -> dict[str, Part]:
    """Every block and branch path of an exported workflow, without the blocks it holds."""
    found: dict[str, Part] = {}

    def visit(blocks: list[dict[str, Any]], where: str) -> None:
        for i, block in enumerate(blocks):
            at, key = f"{where}[{i}]", block["key"]
            own = {k: v for k, v in block.items() if k not in NESTED}
            found[key] = (key, f"Block {key!r} ({block['type']})", at, own)
            for name in ("then", "else", "default", "blocks"):
                visit(block.get(name) or [], f"{at}.{name}")
            for j, path in enumerate(block.get("paths") or []):
                own = {k: v for k, v in path.items() if k != "blocks"}
                label = f"Path {path['key']!r} of block {key!r}"
                found[f"{key}/{path['key']}"] = (key, label, f"{at}.paths[{j}]", own)
                visit(path.get("blocks") or [], f"{at}.paths[{j}].blocks")

    trigger = doc["trigger"]
    found[trigger["key"]] = (trigger["key"], f"Trigger {trigger['key']!r} ({trigger['type']})",
                             "trigger", trigger)  # fmt: skip
    visit(doc["blocks"], "blocks")
    return found


def changes(
    integration_key: str, before: dict[str, Any], after: dict[str, Any]
) -> list[dict[str, Any]]:
    """``[{kind: added|removed|changed, blockKey, what}]`` from ``before`` to ``after``."""
    old = documents.workflow_document(integration_key, before)
    new = documents.workflow_document(integration_key, after)
    out: list[dict[str, Any]] = []
    if old["name"] != new["name"]:
        what = f"The workflow's name changed from {old['name']!r} to {new['name']!r}"
        out.append({"kind": "changed", "blockKey": None, "what": what})
    was, now = _parts(old), _parts(new)
    for ref, (key, label, at, props) in now.items():
        if ref not in was:
            out.append({"kind": "added", "blockKey": key, "what": f"{label} was added at {at}"})
            continue
        _, _, at_before, props_before = was[ref]
        differs = sorted(
            name for name in {*props, *props_before} if props.get(name) != props_before.get(name)
        )
        parts = []
        if differs:
            parts.append(", ".join(_what(name, props_before, props) for name in differs))
        if at != at_before:
            parts.append(f"moved from {at_before} to {at}")
        if parts:
            out.append({"kind": "changed", "blockKey": key, "what": f"{label}: {'; '.join(parts)}"})
    for ref, (key, label, at, _) in was.items():
        if ref not in now:
            out.append(
                {"kind": "removed", "blockKey": key, "what": f"{label} was removed from {at}"}
            )
    return out


def _what(name: str, before: dict[str, Any], after: dict[str, Any]) -> str:
    if name not in before:
        return f"{name} added"
    if name not in after:
        return f"{name} removed"
    if name == "inputs" and isinstance(before[name], dict) and isinstance(after[name], dict):
        old, new = before[name], after[name]
        names = sorted(k for k in {*old, *new} if old.get(k) != new.get(k))
        return "inputs " + ", ".join(names) + " changed"
    return f"{name} changed"
