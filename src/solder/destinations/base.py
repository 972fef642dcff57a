"""What a destination is: a place a workflow sends rows or events to, declared as a value.

A destination block (``type: destination``) names one of these by ``destination`` and a
server connection by ``inputs.connection``. The connection is a URL kept in the server's
``destination_connections`` setting, so a password or key never enters a workflow definition
or a run's stored input; the block's other inputs are checked against ``input`` at push time
and again when the block runs.

``send`` runs on a worker thread and may be called more than once for one step (a crash or a
retry repeats it): ``DestinationCall.idempotency_key`` is the same on every attempt, and a
destination marked ``idempotent`` uses it (or the data's own keys) so a repeat changes
nothing. Errors follow ``solder.errors``: ``BadInput``/``FatalError`` naming the field for
what a retry cannot fix, ``Retriable`` for what it may.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DestinationCall:
    connection: str
    """The connection's URL, secret included: never log it or put it in an error."""
    connection_name: str
    inputs: dict[str, Any]
    """The block's mapped inputs, ``connection`` left out."""
    idempotency_key: str
    """``<run id>:<step id>``: the same on every attempt of this step (per item in an iterate)."""
    run_id: str
    step_id: str
    workflow_id: str
    user_id: str
    credential: Mapping[str, Any] | None = field(default=None, repr=False)
    """With ``inputs.credential: installation``: the installing user's credential for the
    destination's ``app`` (``connection`` is then empty). Secret: never log it."""
    endpoint: str | None = None
    """The server's override of that app's base URL (``app_base_urls``), if any."""


@dataclass(frozen=True)
class Destination:
    key: str
    """What ``destination:`` names in a block, e.g. ``rabbitmq``."""
    title: str
    description: str
    input: dict[str, Any]
    """JSON Schema of the inputs besides ``connection``; the builder draws the form from it."""
    output: dict[str, Any]
    schemes: tuple[str, ...]
    """URL schemes a connection for it may use, e.g. ``("amqp", "amqps")``."""
    idempotent: bool
    """Whether running the block twice for one step leaves the destination as running it once."""
    send: Callable[[DestinationCall], Any]
    credential: str = "connection"
    """Where its credential comes from by default: ``connection`` (a named server connection)."""
    app: str | None = None
    """The app whose credential the installing user may connect instead (``inputs.credential:
    installation``); the install modal then asks for it. None: server connections only."""

    def describe(self) -> dict[str, Any]:
        described = {
            "destination": self.key,
            "title": self.title,
            "description": self.description,
            "credential": self.credential,
            "credentials": [self.credential, *([INSTALLATION] if self.app else [])],
            "schemes": list(self.schemes),
            "idempotent": self.idempotent,
            "inputSchema": with_connection(self.input, self.app),
            "outputSchema": self.output,
        }
        if self.app:
            described["app"] = self.app
        return described


CONNECTION = {
    "type": "string",
    "description": "a name from the server's destination_connections setting",
}


INSTALLATION = "installation"
CREDENTIAL = {
    "enum": ["connection", INSTALLATION],
    "default": "connection",
    "description": "connection: the server connection named in connection; installation: the "
    "installing user's own credential for the destination's app, connected in the install "
    "modal (a literal value, not a mapping)",
}


def with_connection(schema: dict[str, Any], app: str | None = None) -> dict[str, Any]:
    """The block's whole input schema: the destination's own plus ``connection`` (and, for a
    destination an end user can connect, ``credential``: then ``connection`` is required
    unless ``credential`` is ``installation``, and refused with it)."""
    if app is None:
        props = {"connection": CONNECTION, **schema.get("properties", {})}
        required = ["connection", *schema.get("required", [])]
        return {**schema, "type": "object", "properties": props, "required": required}
    props = {"connection": CONNECTION, "credential": CREDENTIAL, **schema.get("properties", {})}
    installation = {
        "properties": {"credential": {"const": INSTALLATION}},
        "required": ["credential"],
    }
    which = {
        "if": installation,
        "then": {"not": {"required": ["connection"]}},
        "else": {"required": ["connection"]},
    }
    return {**schema, "type": "object", "properties": props,
            "allOf": [*schema.get("allOf", []), which]}  # fmt: skip
