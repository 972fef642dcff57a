"""Solder's own routes (``/manage``): pushing definitions, releasing, environment settings.

Not part of Alloy's surface: what ``solder push`` uses, and an ISV's deploy scripts can.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from solder.client.calls import Call, endpoint, path
from solder.client.models import (
    ErrorDelivery,
    EventPushed,
    IntegrationPushed,
    Released,
    Settings,
)


class Manage:
    @endpoint
    def push_events(document: Mapping[str, Any]) -> Call[list[EventPushed]]:
        """Store the custom events of an events file (``{"events": [...]}``)."""
        return Call("PUT", "/manage/events", list[EventPushed], json=dict(document),
                    envelope="data")  # fmt: skip

    @endpoint
    def push_integration(document: Mapping[str, Any]) -> Call[IntegrationPushed]:
        """Store an integration file as drafts; every problem is named at once (422)."""
        return Call("PUT", "/manage/integrations", IntegrationPushed, json=dict(document))

    @endpoint
    def release_workflow(workflow_id: str) -> Call[Released]:
        """Release the workflow's draft as its next version (``released`` is ``False`` when
        the draft equals the newest version)."""
        return Call("POST", path("/manage/workflows/{w}/release", w=workflow_id), Released)

    @endpoint
    def workflow_draft(workflow_id: str) -> Call[dict[str, Any]]:
        """The workflow's draft definition, as pushed."""
        where = path("/manage/workflows/{w}/draft", w=workflow_id)
        return Call("GET", where, dict[str, Any], envelope="data")

    @endpoint
    def get_settings() -> Call[Settings]:
        """The environment's settings (the error webhook, the origins that may frame the modal)."""
        return Call("GET", "/manage/settings", Settings, envelope="data")

    @endpoint
    def update_settings(
        *,
        error_webhook_url: str | None = None,
        frame_ancestors: Sequence[str] | None = None,
        error_event_bridge: dict[str, Any] | None = None,
    ) -> Call[Settings]:
        """Set the environment's settings (``error_webhook_url``: failed runs are POSTed
        there, signed; ``frame_ancestors``: the origins whose pages may frame the install
        modal; ``error_event_bridge``: ``{"connection": ..., "eventBus": ...}``, failed runs
        are also put on that bus); an unset value is cleared."""
        body = {
            "errorWebhookUrl": error_webhook_url,
            "frameAncestors": None if frame_ancestors is None else list(frame_ancestors),
            "errorEventBridge": error_event_bridge,
        }
        return Call("PUT", "/manage/settings", Settings, json=body, envelope="data")

    @endpoint
    def error_deliveries() -> Call[list[ErrorDelivery]]:
        """The latest error-stream notices and how their delivery went."""
        return Call("GET", "/manage/errors/deliveries", list[ErrorDelivery], envelope="data")

    @endpoint
    def block_catalog() -> Call[list[dict[str, Any]]]:
        """Every block type with its input and output schema."""
        return Call("GET", "/manage/blocks", list[dict[str, Any]], envelope="data")
