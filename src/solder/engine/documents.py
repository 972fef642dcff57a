"""Definition files as text: the builder's export and import of what ``solder push`` reads.

An export is deterministic: the same definitions give the same bytes. Keys come in a fixed
order taken from the models: a block's ``key``, ``id``, ``name`` and ``type`` first, then its
own properties in the order its model declares them (``app``, ``action``, ``event``, ``cron``,
``code``...), then ``inputs`` and ``fields``, then the blocks it holds (``then``, ``else``,
``paths``, ``default``, ``blocks``). Values equal to the model's default are left out, and so
is a block ``id`` equal to the one Solder derives from the keys, so a file read back gives the
same definitions, and exporting those gives the same file again. What a block's ``inputs``
hold is the ISV's own JSON, kept in its own order.

YAML is written by PyYAML (block style, lists indented under their key, text with line breaks
as ``|`` blocks); JSON with a 2-space indent and a final newline.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Any, Literal

import yaml
from pydantic import BaseModel

from solder.engine.definitions import (
    BLOCK_NAMESPACE,
    AnyBlock,
    BranchBlock,
    BranchPath,
    IfBlock,
    IterateBlock,
    WorkflowDef,
)
from solder.errors import BadInput

Format = Literal["yaml", "json"]
MEDIA_TYPES: dict[Format, str] = {"yaml": "text/yaml", "json": "application/json"}

HEAD = ("key", "id", "name", "type")
TAIL = ("inputs", "fields", "condition", "then", "else", "paths", "default", "blocks")


def derived_id(integration_key: str, workflow_key: str, block_key: str) -> str:
    """The block id Solder gives a block that has none (``IntegrationFile.with_block_ids``)."""
    return str(uuid.uuid5(BLOCK_NAMESPACE, f"{integration_key}/{workflow_key}/{block_key}"))


def _ordered(data: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    declared = [info.alias or name for name, info in model.model_fields.items()]

    def rank(key: str) -> tuple[int, int]:
        if key in HEAD:
            return 0, HEAD.index(key)
        if key in TAIL:
            return 2, TAIL.index(key)
        return 1, declared.index(key) if key in declared else len(declared)

    return {key: data[key] for key in sorted(data, key=rank)}


def _dump(model: BaseModel) -> dict[str, Any]:
    data: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    return data


class _Writer:
    """Turns one workflow's models into plain, ordered data."""

    def __init__(self, integration_key: str, workflow_key: str) -> None:
        self.integration_key = integration_key
        self.workflow_key = workflow_key

    def block(self, block: AnyBlock) -> dict[str, Any]:
        data = _dump(block)
        if block.id == derived_id(self.integration_key, self.workflow_key, block.key):
            data.pop("id", None)
        if isinstance(block, IfBlock):
            self._nested(data, "then", block.then)
            self._nested(data, "else", block.otherwise)
        elif isinstance(block, BranchBlock):
            data["paths"] = [self.path(p) for p in block.paths]
            if block.default is not None:
                data["default"] = self.blocks(block.default)
        elif isinstance(block, IterateBlock):
            data["blocks"] = self.blocks(block.blocks)
        return _ordered(data, type(block))

    def _nested(self, data: dict[str, Any], name: str, blocks: list[Any]) -> None:
        if blocks:
            data[name] = self.blocks(blocks)

    def blocks(self, blocks: Iterable[AnyBlock]) -> list[dict[str, Any]]:
        return [self.block(b) for b in blocks]

    def path(self, path: BranchPath) -> dict[str, Any]:
        data = _dump(path)
        data["condition"] = path.condition
        if path.blocks:
            data["blocks"] = self.blocks(path.blocks)
        return _ordered(data, BranchPath)


def workflow_document(integration_key: str, draft: dict[str, Any]) -> dict[str, Any]:
    """One entry of ``workflows:`` as an export writes it, from a stored definition."""
    wf = WorkflowDef.model_validate(draft)
    writer = _Writer(integration_key, wf.key)
    return {
        "key": wf.key,
        "name": wf.name,
        "trigger": writer.block(wf.trigger),
        "blocks": writer.blocks(wf.blocks),
    }


def integration_document(integration: Any, drafts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The file ``solder push`` reads, for a stored integration row and its workflows."""
    head: dict[str, Any] = {"key": integration.key, "app": integration.app}
    head["name"] = integration.name
    if integration.icon is not None:
        head["icon"] = integration.icon
    return {
        "integration": head,
        "workflows": [workflow_document(integration.key, d) for d in drafts],
    }


class _Dumper(yaml.SafeDumper):
    """Lists indented under their key, as people write them (``docs/workflows.md``)."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def render(document: dict[str, Any], fmt: Format) -> str:
    if fmt == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    text: str = yaml.dump(
        document,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )
    return text


def parse(text: str, *, is_json: bool, where: str = "body") -> list[dict[str, Any]]:
    """The documents of a definition file's text (YAML may hold several, JSON one)."""
    try:
        docs = [json.loads(text)] if is_json else list(yaml.safe_load_all(text))
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise BadInput(f"{where}: cannot parse: {exc}", field=where) from exc
    out = []
    for doc in docs:
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise BadInput(f"{where}: a definition file holds an object", field=where)
        _bounded(doc, where)
        out.append(doc)
    return out


MAX_VALUES = 200_000
"""The most values a document may hold once YAML aliases are expanded: anchors used as a
"billion laughs" make a small file stand for an enormous one, which checking, hashing and
storing would expand."""


def _bounded(doc: Any, where: str) -> None:
    seen, stack = 0, [doc]
    while stack:
        value = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise BadInput(
                f"{where}: more than {MAX_VALUES} values once YAML aliases are expanded",
                field=where,
            )
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
