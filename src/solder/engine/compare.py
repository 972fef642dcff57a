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


def _blocks(doc: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Every block of an exported workflow by key: where it is, and its own properties."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}

    def visit(blocks: list[dict[str, Any]], where: str) -> None:
        for i, block in enumerate(blocks):
            at = f"{where}[{i}]"
            found[block["key"]] = (at, {k: v for k, v in block.items() if k not in NESTED})
            for name in ("then", "else", "default", "blocks"):
                visit(block.get(name) or [], f"{at}.{name}")
            for j, path in enumerate(block.get("paths") or []):
                found_path = {k: v for k, v in path.items() if k != "blocks"}
                found[f"{block['key']}/{path['key']}"] = (f"{at}.paths[{j}]", found_path)
                visit(path.get("blocks") or [], f"{at}.paths[{j}].blocks")

    trigger = doc["trigger"]
    found[trigger["key"]] = ("trigger", trigger)
    visit(doc["blocks"], "blocks")
    return found


def _label(key: str, props: dict[str, Any]) -> str:
    kind = props.get("type")
    return f"{key!r} ({kind})" if kind else f"path {key!r}"


def changes(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """``[{kind: added|removed|changed, blockKey, what}]`` from ``before`` to ``after``."""
    old = documents.workflow_document("", before)
    new = documents.workflow_document("", after)
    out: list[dict[str, Any]] = []
    if old["name"] != new["name"]:
        what = f"The workflow's name changed from {old['name']!r} to {new['name']!r}"
        out.append({"kind": "changed", "blockKey": None, "what": what})
    was, now = _blocks(old), _blocks(new)
    for key, (at, props) in now.items():
        if key not in was:
            what = f"Block {_label(key, props)} was added at {at}"
            out.append({"kind": "added", "blockKey": key, "what": what})
            continue
        at_before, props_before = was[key]
        differs = sorted(
            name for name in {*props, *props_before} if props.get(name) != props_before.get(name)
        )
        parts = []
        if differs:
            parts.append(", ".join(_what(name, props_before, props) for name in differs))
        if at != at_before:
            parts.append(f"moved from {at_before} to {at}")
        if parts:
            what = f"Block {_label(key, props)}: {'; '.join(parts)}"
            out.append({"kind": "changed", "blockKey": key, "what": what})
    for key, (at, props) in was.items():
        if key not in now:
            what = f"Block {_label(key, props)} was removed from {at}"
            out.append({"kind": "removed", "blockKey": key, "what": what})
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
