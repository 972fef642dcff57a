"""What the client returns: pydantic models of the server's JSON.

Attributes are snake_case (``user.full_name``); the server's camelCase names are the aliases,
so ``Model.model_validate(server_json)`` reads a response and ``model.model_dump(by_alias=True)``
gives the JSON back exactly as the server wrote it. Fields the server adds later are kept
(``extra="allow"``), so a newer server never breaks an older client.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

T = TypeVar("T")


class Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")


class Page(Model, Generic[T]):
    """One page of a list. The totals are there when the server counted (``/users?page``,
    ``/logs``); ``/workflows/{id}/logs`` and ``/errors`` only say what is on the page."""

    data: list[T]
    total_items: int | None = None
    total_pages: int | None = None
    current_page: int | None = None
    page_size: int | None = None


class User(Model):
    user_id: str
    username: str
    full_name: str | None = None


class UsersCreated(Model):
    message: str
    user_ids: list[str]


class Credential(Model):
    credential_id: str
    type: str
    name: str | None = None
    created_at: str | None = None
    updated_at: str | None = None


class Block(Model):
    name: str
    id: str
    type: str
    icon: str | None = None


class Workflow(Model):
    workflow_id: str
    name: str
    installed: bool
    active: bool
    version: int | None = None
    installed_version: int | None = None
    integration_id: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    blocks: list[Block] = []


class Integration(Model):
    integration_id: str
    app: str
    icon: str | None = None
    installed: bool
    workflows: list[Workflow] = []


class WorkflowVersion(Model):
    version_id: str | None
    version_name: str
    version: int | None = None
    last_modified: str | None = None
    status: str
    note: str | None = None


class WorkflowUser(Model):
    user_id: str
    username: str
    full_name: str | None = None
    workflow_active: bool
    installed_version: int | None = None
    installed_at: str | None = None


class Upgraded(Model):
    message: str
    version: int


class Installation(Model):
    installation_id: str
    integration_id: str
    user_id: str
    form_data: Any = None
    credential_ids: list[str] = []
    workflow_ids: list[str] = []
    status: str | None = None
    installed_at: str | None = None
    enabled: bool


class AskedField(Model):
    """A field the user must answer (``required``), with its choices when it has fixed ones."""

    name: str
    display_name: str
    type: str
    required: bool
    options: Any = None
    default: Any = None


class AskedBlock(Model):
    workflow_id: str
    app: str | None = None
    block_id: str
    fields: list[AskedField] = []


class StartedInstallation(Model):
    installation_id: str
    data: list[AskedBlock]


class CompletedInstallation(Model):
    message: str
    workflow_ids: list[str] = []


class CredentialCreated(Model):
    success: bool
    credential_id: str


class CredentialProperty(Model):
    name: str
    display_name: str | None = None
    description: str | None = None
    secret: bool | None = None


class CredentialMetadata(Model):
    connector: str
    icon: str | None = None
    is_oauth: bool
    properties: list[CredentialProperty] = []


class AppAction(Model):
    key: str
    name: str
    description: str | None = None
    idempotent: bool
    input_schema: dict[str, Any]
    output_schema: Any = None
    sample: Any = None


class AppTrigger(Model):
    key: str
    name: str
    delivery: str


class AppMetadata(Model):
    app: str
    name: str
    version: str | int | None = None
    description: str | None = None
    icon: str | None = None
    auth: str
    triggers: list[AppTrigger] = []
    actions: list[AppAction] = []
    options: list[str] = []


class Option(Model):
    value: Any
    label: str


class PassthroughResponse(Model):
    """The provider's answer: its status code, headers and parsed body (``data``)."""

    status_code: int
    headers: dict[str, Any] = {}
    data: Any = None


class EventDefinition(Model):
    name: str
    description: str | None = None
    body: Any = None


class BlockResult(Model):
    block_id: str
    block_name: str | None = None
    block_type: str | None = None
    status: str | None = None
    started_at: str | None = None
    stopped_at: str | None = None
    data: Any = None
    error: Any = None


class Execution(Model):
    execution_id: str
    status: str
    started_at: str | None = None
    stopped_at: str | None = None
    attempt: int | None = None
    error: Any = None
    results: list[BlockResult] = []
    inputs: Any = None
    workflow_id: str | None = None
    user_id: str | None = None


class WorkflowError(Model):
    workflow_id: str
    execution_id: str | None = None
    user_id: str | None = None
    block: Any = None
    error_occurred_at: str | None = None
    message: str | None = None


class Rerun(Model):
    message: str
    execution_uuid: str


class EventPushed(Model):
    name: str
    changed: bool


class WorkflowPushed(Model):
    workflow_id: str
    key: str
    changed: bool


class IntegrationPushed(Model):
    integration_id: str
    workflows: list[WorkflowPushed]


class Released(Model):
    workflow_id: str
    version: int
    released: bool


class Settings(Model):
    error_webhook_url: str | None = None
    frame_ancestors: list[str] | None = None
    error_event_bridge: dict[str, Any] | None = None
    """``{connection, eventBus, source, detailType}``: failed runs also go on this bus."""


class ErrorDelivery(Model):
    id: str
    target: str | None = None
    execution_id: str | None = None
    status: str
    attempts: int
    last_error: str | None = None
    created_at: str | None = None
    delivered_at: str | None = None
    next_attempt_at: str | None = None
