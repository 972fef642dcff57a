"""What an ISV writes: integrations, workflows and custom events, as checked values.

These models read the YAML/JSON files that ``solder push`` sends and that the management API
stores. A workflow is one trigger and a list of blocks. A block's ``inputs`` are JSON in which
``{{ }}`` holds a mapping expression (``docs/mapping.md``); its ``fields`` are the inputs the
end user fills in at installation ("configurable by user").
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

KEY_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,127}$"
BLOCK_NAMESPACE = uuid.UUID("5f1d3c2a-8b0e-4f55-9a43-5b0d3e7c9a11")


def no_repeats(names: list[str], what: str) -> None:
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"{what} repeat: {', '.join(dupes)}")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class FieldSpec(Strict):
    """An input the end user fills in when installing."""

    name: str = Field(min_length=1, max_length=128)
    display_name: str | None = Field(default=None, alias="displayName")
    type: Literal["string", "number", "boolean", "url", "email", "select"] = "string"
    required: bool = True
    default: Any = None
    options: list[str] | None = None
    description: str | None = None


class BlockBase(Strict):
    key: str = Field(pattern=KEY_PATTERN)
    id: str | None = Field(default=None, description="stable UUID; derived from keys if absent")
    name: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    fields: list[FieldSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_fields(self) -> BlockBase:
        no_repeats([f.name for f in self.fields], "field names")
        return self


class CustomEventTrigger(BlockBase):
    type: Literal["customEvent"]
    event: str = Field(min_length=1, max_length=255)


class AppEventTrigger(BlockBase):
    """An app event, delivered by the app's webhooks or found by polling the app."""

    type: Literal["appEvent"]
    app: str
    event: str


class WebhookTrigger(BlockBase):
    """An incoming webhook: ``run/workflow`` or the installation's own URL."""

    type: Literal["webhook"]


class ScheduleTrigger(BlockBase):
    """Runs on a cron schedule, per installation, in the schedule's time zone."""

    type: Literal["schedule"]
    cron: str = Field(min_length=1, max_length=255, description="five-field cron expression")
    timezone: str = Field(default="UTC", alias="timeZone")


class InstallationTrigger(BlockBase):
    """Runs once when the workflow is installed, and again when the installation is upgraded."""

    type: Literal["installation"]


Trigger = Annotated[
    CustomEventTrigger | AppEventTrigger | WebhookTrigger | ScheduleTrigger | InstallationTrigger,
    Field(discriminator="type"),
]
TriggerBlock = (
    CustomEventTrigger | AppEventTrigger | WebhookTrigger | ScheduleTrigger | InstallationTrigger
)


class StreamDataBlock(BlockBase):
    type: Literal["streamData"]


class AppActionBlock(BlockBase):
    type: Literal["appAction"]
    app: str
    action: str


class HttpBlock(BlockBase):
    """An HTTP request to any URL: method, headers, query, body and auth are inputs."""

    type: Literal["http"]


class SqlBlock(BlockBase):
    """Insert or upsert rows into a MySQL/MariaDB or PostgreSQL table."""

    type: Literal["sql"]


class DestinationBlock(BlockBase):
    """Send rows or events to a destination (``solder.destinations``) over a server connection."""

    type: Literal["destination"]
    destination: str = Field(min_length=1, max_length=64)

    @property
    def app(self) -> str | None:
        """The app whose credential the installing user connects, with ``inputs.credential:
        installation`` (the install modal asks for it, the run writes with it)."""
        if self.inputs.get("credential") != "installation":
            return None
        from solder.destinations import DESTINATIONS  # values only; no client is loaded

        found = DESTINATIONS.get(self.destination)
        return found.app if found is not None else None


class CodeBlock(BlockBase):
    """A JavaScript ``main(input)`` run in a sandbox; ``inputs`` is what it receives."""

    type: Literal["code"]
    code: str = Field(min_length=1, max_length=100_000)


class FormatterBlock(BlockBase):
    type: Literal["formatter"]
    operation: str


class DelayBlock(BlockBase):
    """Waits ``inputs.seconds`` or until ``inputs.until`` without holding a worker."""

    type: Literal["delay"]


class StopBlock(BlockBase):
    """Ends the run here, as succeeded or failed (``inputs.status``, ``inputs.message``)."""

    type: Literal["stop"]


class IfBlock(BlockBase):
    """Runs ``then`` when ``inputs.condition`` is true, else ``else``; then goes on."""

    type: Literal["if"]
    then: list[Block] = Field(default_factory=list)
    otherwise: list[Block] = Field(default_factory=list, alias="else")


class BranchPath(Strict):
    key: str = Field(pattern=KEY_PATTERN)
    name: str | None = None
    condition: Any = Field(description="a value or {{ expression }}; the path runs when true")
    blocks: list[Block] = Field(default_factory=list)


class BranchBlock(BlockBase):
    """Runs every path whose condition is true, in order; ``default`` when none is."""

    type: Literal["branch"]
    paths: list[BranchPath] = Field(min_length=1)
    default: list[Block] | None = None

    @model_validator(mode="after")
    def _unique_paths(self) -> BranchBlock:
        no_repeats([p.key for p in self.paths], "path keys")
        return self


class IterateBlock(BlockBase):
    """Runs ``blocks`` once per element of ``inputs.items`` (``item`` and ``index`` in scope)."""

    type: Literal["iterate"]
    blocks: list[Block] = Field(min_length=1)


Block = Annotated[
    StreamDataBlock
    | AppActionBlock
    | HttpBlock
    | SqlBlock
    | DestinationBlock
    | CodeBlock
    | FormatterBlock
    | DelayBlock
    | StopBlock
    | IfBlock
    | BranchBlock
    | IterateBlock,
    Field(discriminator="type"),
]
StepBlock = (
    StreamDataBlock
    | AppActionBlock
    | HttpBlock
    | SqlBlock
    | DestinationBlock
    | CodeBlock
    | FormatterBlock
    | DelayBlock
    | StopBlock
    | IfBlock
    | BranchBlock
    | IterateBlock
)
AnyBlock = TriggerBlock | StepBlock

for _model in (IfBlock, BranchPath, BranchBlock, IterateBlock):
    _model.model_rebuild()


def children(block: AnyBlock) -> list[tuple[str, list[StepBlock]]]:
    """The nested block lists of a block, each with its path below the block."""
    if isinstance(block, IfBlock):
        return [("then", block.then), ("else", block.otherwise)]
    if isinstance(block, BranchBlock):
        out = [(f"paths[{i}].blocks", p.blocks) for i, p in enumerate(block.paths)]
        if block.default is not None:
            out.append(("default", block.default))
        return out
    if isinstance(block, IterateBlock):
        return [("blocks", block.blocks)]
    return []


def walk_steps(blocks: list[StepBlock], path: str) -> Iterator[tuple[str, StepBlock]]:
    for i, block in enumerate(blocks):
        at = f"{path}[{i}]"
        yield at, block
        for sub, nested in children(block):
            yield from walk_steps(nested, f"{at}.{sub}")


class WorkflowDef(Strict):
    key: str = Field(pattern=KEY_PATTERN)
    name: str = Field(min_length=1, max_length=512)
    trigger: Trigger
    blocks: list[Block] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_block_keys(self) -> WorkflowDef:
        no_repeats([b.key for b in self.all_blocks()], "block keys")
        return self

    def walk(self) -> Iterator[tuple[str, AnyBlock]]:
        """Every block, nested ones included, in order, with its path in the file."""
        yield "trigger", self.trigger
        yield from walk_steps(list(self.blocks), "blocks")

    def all_blocks(self) -> list[AnyBlock]:
        return [block for _, block in self.walk()]

    def trigger_key(self) -> str:
        """How events find this workflow.

        ``event:<name>``, ``app:<app>:<event>``, ``webhook``, ``schedule`` or ``installation``.
        """
        t = self.trigger
        if isinstance(t, CustomEventTrigger):
            return f"event:{t.event}"
        if isinstance(t, AppEventTrigger):
            return f"app:{t.app}:{t.event}"
        return t.type

    def user_fields(self) -> dict[str, list[FieldSpec]]:
        """Block id -> the fields the end user fills in, for blocks that have any."""
        return {b.id or "": b.fields for b in self.all_blocks() if b.fields}

    def apps(self) -> list[str]:
        seen: list[str] = []
        for b in self.all_blocks():
            app = getattr(b, "app", None)
            if app and app not in seen:
                seen.append(app)
        return seen


class IntegrationDef(Strict):
    key: str = Field(pattern=KEY_PATTERN)
    app: str
    name: str | None = None
    icon: str | None = None


class IntegrationFile(Strict):
    integration: IntegrationDef
    workflows: list[WorkflowDef] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_workflow_keys(self) -> IntegrationFile:
        no_repeats([w.key for w in self.workflows], "workflow keys")
        return self

    def with_block_ids(self) -> IntegrationFile:
        """Give every block without an id a stable one derived from its keys."""
        for wf in self.workflows:
            for block in wf.all_blocks():
                if block.id is None:
                    name = f"{self.integration.key}/{wf.key}/{block.key}"
                    block.id = str(uuid.uuid5(BLOCK_NAMESPACE, name))
        return self


class CustomEventDef(Strict):
    name: str = Field(min_length=1, max_length=255)
    description: str | None = None
    body: dict[str, Any] = Field(description="sample payload: keys with dummy values or types")


class EventsFile(Strict):
    events: list[CustomEventDef]


def definition_hash(value: BaseModel) -> str:
    data = value.model_dump(mode="json", by_alias=True, exclude_none=True)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


TYPE_NAMES = {
    "string": "string",
    "number": "number",
    "integer": "integer",
    "boolean": "boolean",
    "object": "object",
    "array": "array",
}


def sample_to_schema(sample: Any) -> dict[str, Any]:
    """Turn an Alloy-style event sample into a JSON Schema.

    Every key of an object is required. A string naming a type (``"String"``, ``"Number"``,
    ``"Boolean"``, ``"Object"``, ``"Array"``) asks for that type; any other value asks for a
    value of its own JSON type; nested objects and lists are followed.
    """
    if isinstance(sample, dict):
        return {
            "type": "object",
            "properties": {k: sample_to_schema(v) for k, v in sample.items()},
            "required": list(sample),
        }
    if isinstance(sample, list):
        return {"type": "array", "items": sample_to_schema(sample[0])} if sample else {}
    if isinstance(sample, str):
        named = TYPE_NAMES.get(re.sub(r"\s+", "", sample).lower())
        return {"type": named or "string"}
    if isinstance(sample, bool):
        return {"type": "boolean"}
    if isinstance(sample, int | float):
        return {"type": "number"}
    return {}


_RELEASED: dict[str, WorkflowDef] = {}
_RELEASED_LOCK = threading.Lock()


def released(version_id: str, definition: dict[str, Any]) -> WorkflowDef:
    """The checked definition of the released version ``version_id``.

    Released versions never change, so each is checked once per process and shared; callers
    must not modify the result.
    """
    with _RELEASED_LOCK:
        found = _RELEASED.get(version_id)
    if found is None:
        found = WorkflowDef.model_validate(definition)
        with _RELEASED_LOCK:
            if len(_RELEASED) >= 1024:
                _RELEASED.clear()
            _RELEASED[version_id] = found
    return found
