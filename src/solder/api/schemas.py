"""Request bodies. Field names follow Alloy's (camelCase); unknown fields are ignored."""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError


def _unstorable(value: Any, where: str) -> tuple[str, str] | None:
    """The first value no store keeps as sent: text with NUL (PostgreSQL refuses it), NaN or
    infinity (not JSON, though Python's parser accepts them). Returns (path, problem)."""
    if isinstance(value, str):
        return (where, "must not contain a NUL character") if "\x00" in value else None
    if isinstance(value, float) and not math.isfinite(value):
        return where, "must be a finite number"
    items: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            if "\x00" in str(key):
                return path, "must not contain a NUL character"
            items.append((path, item))
    elif isinstance(value, list):
        items = [(f"{where}[{i}]", item) for i, item in enumerate(value)]
    for path, item in items:
        found = _unstorable(item, path)
        if found is not None:
            return found
    return None


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        found = _unstorable(data, "")
        if found is not None:
            raise PydanticCustomError(
                "unstorable",
                "{where}: {problem}",
                {"where": found[0] or "body", "problem": found[1]},
            )
        return data


class NewUser(Body):
    username: str = Field(min_length=1, max_length=255)
    full_name: str | None = Field(default=None, alias="fullName", max_length=255)


class UserBatch(Body):
    users: list[NewUser] = Field(min_length=1, max_length=1000)


class UserChanges(Body):
    username: str | None = Field(default=None, min_length=1, max_length=255)
    full_name: str | None = Field(default=None, alias="fullName", max_length=255)


class WorkflowRef(Body):
    user_id: str = Field(alias="userId", min_length=1)
    workflow_id: str | None = Field(default=None, alias="workflowId")
    workflow_name: str | None = Field(default=None, alias="workflowName")


class CredentialIn(Body):
    type: str = Field(min_length=1)
    data: dict[str, Any]


class NewCredential(Body):
    user_id: str = Field(alias="userId", min_length=1)
    credential: CredentialIn


class StartInstallation(Body):
    user_id: str = Field(alias="userId", min_length=1)
    integration_id: str = Field(alias="integrationId", min_length=1)
    credential_ids: list[str] = Field(default_factory=list, alias="credentialIds")
    workflow_ids: list[str] | None = Field(default=None, alias="workflowIds")
    version_ids: list[str] | None = Field(
        default=None,
        alias="versionIds",
        description="with workflowIds: one per workflow, in order (empty: the newest); "
        "otherwise version ids of the integration's workflows; the rest get the newest",
    )
    output_override: Any = Field(
        default=None,
        alias="outputOverride",
        description="{url?, headers?}: where the Stream Data of these workflows goes instead",
    )


class FieldValue(Body):
    name: str
    value: Any = None


class BlockAnswers(Body):
    workflow_id: str = Field(alias="workflowId")
    block_id: str = Field(alias="blockId")
    fields: list[FieldValue] = Field(default_factory=list)


class CompleteInstallation(Body):
    installation_id: str = Field(alias="installationId", min_length=1)
    data: list[BlockAnswers] = Field(default_factory=list)


class RunEvent(Body):
    event: str = Field(min_length=1)
    user_id: str = Field(alias="userId", min_length=1)
    data: dict[str, Any] = Field(default_factory=dict)


class RunWorkflow(Body):
    user_id: str = Field(alias="userId", min_length=1)
    workflow_id: str | None = Field(default=None, alias="workflowId")
    workflow_name: str | None = Field(default=None, alias="workflowName")
    data: dict[str, Any] = Field(default_factory=dict)


class PassthroughRequest(Body):
    """``POST /passthrough``; ``body``, ``query`` and ``extraHeaders`` are checked by
    ``solder.apps.passthrough`` (each may also come as a string holding JSON, Alloy's form)."""

    method: str = Field(min_length=1)
    path: str = Field(min_length=1)
    body: Any = None
    query: Any = None
    extra_headers: Any = Field(default=None, alias="extraHeaders")
