"""/manage routes of the builder's test run: run the draft once, keep the last answer.

The run itself is ``solder.engine.trial``: the engine's own block execution, with nothing
stored but the answer kept here for the builder's variable picker.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from solder.api.auth import ServerCaller, ServicesDep
from solder.engine.definitions import WorkflowDef
from solder.engine.trial import TrialExecution
from solder.errors import BadInput
from solder.store import catalog, installs, users
from solder.store.types import iso

router = APIRouter(prefix="/manage", tags=["builder"])


class TestBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    trigger: Any = Field(description="what the trigger would output (a sample event)")
    fields: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="the end user's answers: {blockKey: {fieldName: value}}",
    )
    user_id: str | None = Field(
        default=None,
        alias="userId",
        min_length=1,
        max_length=255,
        description="the user whose connected credentials the app blocks use",
    )


def user_config(wf: WorkflowDef, answers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``{blockKey: {field: value}}`` as a run's config: by block id, declared fields only."""
    blocks = {b.key: b for b in wf.all_blocks()}
    config: dict[str, Any] = {}
    for key, values in answers.items():
        block = blocks.get(key)
        if block is None:
            raise BadInput(f"fields.{key}: the draft has no block {key!r}", f"fields.{key}")
        declared = {f.name for f in block.fields}
        for name in values:
            if name not in declared:
                where = f"fields.{key}.{name}"
                raise BadInput(f"{where}: the block {key!r} has no user field {name!r}", where)
        config[block.id or ""] = dict(values)
    return config


@router.post("/workflows/{workflow_id}/test")
def run_test(
    workflow_id: str, body: TestBody, who: ServerCaller, services: ServicesDep
) -> dict[str, Any]:
    """Run the draft once, for real, outside any installation; keep the answer."""
    with services.reader.connect() as conn:
        row = catalog.get_workflow(conn, who.env, workflow_id)
        user = users.get(conn, who.env, body.user_id) if body.user_id is not None else None
        owned = installs.list_credentials(conn, who.env, user.id) if user is not None else []
    wf = WorkflowDef.model_validate(row.draft)
    execution = TrialExecution(
        services,
        wf,
        workflow_id=row.id,
        environment=who.env,
        trigger=body.trigger,
        config=user_config(wf, body.fields),
        user=user,
        credential_ids=[c.id for c in owned],
    )
    answer = execution.trial()
    with services.engine.begin() as conn:
        catalog.keep_test(conn, row.id, answer)
    return answer


@router.get("/workflows/{workflow_id}/test")
def last_test(workflow_id: str, who: ServerCaller, services: ServicesDep) -> dict[str, Any]:
    """The last test's answer (with ``testedAt``), or ``{data: null}``."""
    with services.reader.connect() as conn:
        row = catalog.get_workflow(conn, who.env, workflow_id)
        kept = catalog.last_test(conn, row.id)
    if kept is None:
        return {"data": None}
    return {**kept.result, "testedAt": iso(kept.tested_at)}
