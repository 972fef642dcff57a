"""What each block type declares: its inputs and its output, as JSON Schema.

The builder draws a block's form from ``input`` and offers ``output``'s properties in its
variable picker; the push-time checks (``solder.engine.checks``) read the same schemas, so
the two never disagree. Formatter operations declare theirs in ``solder.engine.formatters``;
app actions in their connector.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ANY: dict[str, Any] = {}
HEADERS = {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}}


@dataclass(frozen=True)
class BlockKind:
    type: str
    title: str
    description: str
    input: dict[str, Any]
    output: dict[str, Any]
    side_effects: bool = False
    trigger: bool = False


def _obj(props: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(required)}


_RESPONSE = _obj({"statusCode": {"type": "integer"}, "body": ANY}, ("statusCode", "body"))

KINDS: dict[str, BlockKind] = {
    kind.type: kind
    for kind in (
        BlockKind(
            "customEvent",
            "Custom event",
            "an event the ISV's backend fires",
            ANY,
            ANY,
            trigger=True,
        ),
        BlockKind(
            "appEvent",
            "App event",
            "an event of the connected app (webhook or poll)",
            ANY,
            ANY,
            trigger=True,
        ),
        BlockKind(
            "webhook",
            "Incoming webhook",
            "a POST to run/workflow or the installation's URL",
            ANY,
            ANY,
            trigger=True,
        ),
        BlockKind(
            "schedule",
            "Schedule",
            "a cron schedule in a time zone, per installation",
            ANY,
            _obj({"scheduledAt": {"type": "string", "format": "date-time"}}),
            trigger=True,
        ),
        BlockKind(
            "installation",
            "On installation",
            "when the workflow is installed or upgraded",
            ANY,
            _obj({"reason": {"enum": ["installed", "upgraded"]}, "version": {"type": "integer"}}),
            trigger=True,
        ),
        BlockKind(
            "streamData",
            "Stream Data",
            "POST the data, signed, to a URL",
            _obj(
                {"url": {"type": "string", "format": "uri"}, "body": ANY, "headers": HEADERS},
                ("url",),
            ),
            _RESPONSE,
            side_effects=True,
        ),
        BlockKind(
            "http",
            "HTTP request",
            "any HTTP request; auth none, basic, bearer or the installation's credential",
            _obj(
                {
                    "method": {
                        "enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
                    },
                    "url": {"type": "string"},
                    "headers": HEADERS,
                    "query": {"type": "object"},
                    "body": ANY,
                    "auth": {
                        "type": "object",
                        "properties": {
                            "type": {"enum": ["none", "basic", "bearer", "credential"]},
                            "username": {"type": "string"},
                            "password": {"type": "string", "writeOnly": True},
                            "token": {"type": "string", "writeOnly": True},
                            "app": {"type": "string"},
                        },
                    },
                },
                ("url",),
            ),
            _obj({"statusCode": {"type": "integer"}, "headers": {"type": "object"}, "body": ANY}),
            side_effects=True,
        ),
        BlockKind(
            "appAction",
            "App action",
            "an action of a connected app (see the app)",
            ANY,
            ANY,
            side_effects=True,
        ),
        BlockKind(
            "sql",
            "SQL destination",
            "insert or upsert rows into a MySQL/MariaDB or PostgreSQL table",
            _obj(
                {
                    "connection": {
                        "type": "string",
                        "description": "a server sql_connections name",
                    },
                    "table": {"type": "string"},
                    "schema": {"type": "string"},
                    "rows": {"type": ["array", "object"]},
                    "mode": {"enum": ["insert", "upsert"], "default": "insert"},
                    "keyColumns": {"type": "array", "items": {"type": "string"}},
                    "batchSize": {"type": "integer", "minimum": 1, "default": 500},
                },
                ("connection", "table", "rows"),
            ),
            _obj(
                {
                    "table": {"type": "string"},
                    "mode": {"type": "string"},
                    "rows": {"type": "integer"},
                    "statements": {"type": "integer", "description": "INSERT statements sent"},
                }
            ),
            side_effects=True,
        ),
        BlockKind(
            "destination",
            "Destination",
            "send rows or events to an event bus, warehouse or cloud service (see destinations)",
            ANY,
            ANY,
            side_effects=True,
        ),
        BlockKind(
            "code", "Code", "JavaScript main(input) in a sandbox; inputs are its input", ANY, ANY
        ),
        BlockKind("formatter", "Formatter", "text, number, date and JSON operations", ANY, ANY),
        BlockKind(
            "delay",
            "Delay",
            "wait some seconds or until a time; the run holds no worker meanwhile",
            {
                "type": "object",
                "properties": {
                    "seconds": {"type": "number", "minimum": 0},
                    "until": {"type": "string", "format": "date-time"},
                },
            },
            _obj({"until": {"type": "string", "format": "date-time"}}, ("until",)),
        ),
        BlockKind(
            "stop",
            "Stop",
            "end the run here, as succeeded or failed",
            _obj({"status": {"enum": ["succeeded", "failed"]}, "message": {"type": "string"}}),
            _obj({"status": {"type": "string"}, "message": {"type": "string"}}),
        ),
        BlockKind(
            "if",
            "If / else",
            "run one list of blocks or the other",
            _obj({"condition": ANY}, ("condition",)),
            _obj({"result": {"type": "boolean"}}, ("result",)),
        ),
        BlockKind(
            "branch",
            "Branch",
            "run every path whose condition is true, or a default",
            ANY,
            _obj(
                {
                    "paths": {"type": "array", "items": {"type": "string"}},
                    "default": {"type": "boolean"},
                }
            ),
        ),
        BlockKind(
            "iterate",
            "Iterate",
            "run the nested blocks once per item (item and index in scope); collect a value "
            "per item into items, e.g. rows for one SQL or destination block after it",
            _obj(
                {
                    "items": {"type": "array"},
                    "maxItems": {"type": "integer", "minimum": 1},
                    "collect": {
                        "description": "evaluated once per item after its blocks ran (item, "
                        "index and the item's blocks in scope); the values, nulls left out, "
                        "are the output's items"
                    },
                },
                ("items",),
            ),
            _obj(
                {
                    "count": {"type": "integer"},
                    "items": {
                        "type": "array",
                        "description": "what collect gave for each item, in order (only "
                        "when collect is set)",
                    },
                },
                ("count",),
            ),
        ),
    )
}


def catalog() -> list[dict[str, Any]]:
    """Every block type with its schemas, for the builder (``GET /manage/blocks``)."""
    from solder.destinations import DESTINATIONS
    from solder.engine import formatters

    out: list[dict[str, Any]] = []
    for kind in KINDS.values():
        entry: dict[str, Any] = {
            "type": kind.type,
            "title": kind.title,
            "description": kind.description,
            "trigger": kind.trigger,
            "sideEffects": kind.side_effects,
            "inputSchema": kind.input,
            "outputSchema": kind.output,
        }
        if kind.type == "formatter":
            entry["operations"] = [
                {
                    "name": op.name,
                    "description": op.description,
                    "inputSchema": op.input_schema,
                    "outputSchema": op.output_schema,
                }
                for op in formatters.OPERATIONS.values()
            ]
        if kind.type == "destination":
            entry["destinations"] = [d.describe() for d in DESTINATIONS.values()]
        out.append(entry)
    return out
