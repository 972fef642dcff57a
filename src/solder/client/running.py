"""Running workflows and reading what they did: events, webhooks, logs, errors, reruns."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from solder.client.calls import Call, Paged, endpoint, new_idempotency_key, pages, path
from solder.client.models import Execution, Page, Rerun, WorkflowError

Order = Literal["asc", "desc"]
Status = Literal["queued", "running", "succeeded", "failed"]


def _workflow_logs(
    workflow_id: str, user_id: str | None, page: int, limit: int, order: Order, errors: bool
) -> Call[Any]:
    params = {"userId": user_id, "page": page, "limit": limit, "order": order, "error": errors}
    where = path("/workflows/{w}/logs", w=workflow_id)
    return Call("GET", where, Page[Execution], params=params)


def _workflow_errors(workflow_id: str, user_id: str | None, page: int, limit: int) -> Call[Any]:
    params = {"userId": user_id, "page": page, "limit": limit}
    where = path("/workflows/{w}/errors", w=workflow_id)
    return Call("GET", where, Page[WorkflowError], params=params)


def _logs(skip: int, limit: int, filters: Mapping[str, Any]) -> Call[Any]:
    return Call("GET", "/logs", Page[Execution], params={"skip": skip, "limit": limit, **filters})


def _filters(
    sort_by: str, sort_order: str, user_id: str | None, workflow_id: str | None, status: str | None
) -> dict[str, Any]:
    return {"sortBy": sort_by, "sortOrder": sort_order, "userId": user_id,
            "workflowId": workflow_id, "status": status}  # fmt: skip


class Running:
    @endpoint
    def run_event(
        event: str,
        user_id: str,
        data: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> Call[str]:
        """Fire a custom event for the user; returns the server's message.

        Sent with an ``Idempotency-Key`` (``idempotency_key``, or a new one per call); a retry
        after no answer or a 5xx sends the same key, so the server runs the event once. Pass
        your own key to make your own retries (across processes) safe too.
        """
        body = {"event": event, "userId": user_id, "data": dict(data or {})}
        key = idempotency_key or new_idempotency_key()
        return Call("POST", "/run/event", str, json=body, envelope="message", idempotency_key=key)

    @endpoint
    def run_workflow(
        user_id: str,
        workflow_id: str | None = None,
        data: Mapping[str, Any] | None = None,
        *,
        workflow_name: str | None = None,
        idempotency_key: str | None = None,
    ) -> Call[str]:
        """Start the user's copy of a webhook-triggered workflow; idempotent like
        :meth:`run_event`."""
        body = {"userId": user_id, "workflowId": workflow_id, "workflowName": workflow_name,
                "data": dict(data or {})}  # fmt: skip
        key = idempotency_key or new_idempotency_key()
        return Call("POST", "/run/workflow", str, json=body, envelope="message",
                    idempotency_key=key)  # fmt: skip

    @endpoint
    def workflow_logs(
        workflow_id: str,
        user_id: str | None = None,
        *,
        page: int = 1,
        limit: int = 10,
        order: Order = "desc",
        errors_only: bool = False,
    ) -> Call[list[Execution]]:
        """One page of the workflow's executions (``limit`` at most 30), newest first."""
        call = _workflow_logs(workflow_id, user_id, page, limit, order, errors_only)
        return Call("GET", call.path, list[Execution], params=call.params, envelope="data")

    @pages
    def iter_workflow_logs(
        workflow_id: str,
        user_id: str | None = None,
        *,
        order: Order = "desc",
        errors_only: bool = False,
        page_size: int = 30,
    ) -> Paged[Execution]:
        """Every execution of the workflow, ``page_size`` (at most 30) at a time."""
        return Paged(
            lambda n: _workflow_logs(workflow_id, user_id, n, page_size, order, errors_only),
            page_size,
        )

    @endpoint
    def workflow_errors(
        workflow_id: str, user_id: str | None = None, *, page: int = 1, limit: int = 100
    ) -> Call[list[WorkflowError]]:
        """One page of the workflow's failed executions: block, time and message."""
        call = _workflow_errors(workflow_id, user_id, page, limit)
        return Call("GET", call.path, list[WorkflowError], params=call.params, envelope="data")

    @pages
    def iter_workflow_errors(
        workflow_id: str, user_id: str | None = None, *, page_size: int = 100
    ) -> Paged[WorkflowError]:
        """Every failed execution of the workflow, ``page_size`` at a time."""
        return Paged(lambda n: _workflow_errors(workflow_id, user_id, n, page_size), page_size)

    @endpoint
    def rerun(workflow_id: str, execution_id: str, user_id: str) -> Call[Rerun]:
        """Run a past execution again with its inputs; returns the new ``execution_uuid``."""
        where = path("/workflows/{w}/rerun/{e}", w=workflow_id, e=execution_id)
        return Call("POST", where, Rerun, params={"userId": user_id})

    @endpoint
    def list_logs(
        *,
        skip: int = 0,
        limit: int = 20,
        sort_by: Literal["startedAt", "stoppedAt"] = "startedAt",
        sort_order: Order = "desc",
        user_id: str | None = None,
        workflow_id: str | None = None,
        status: Status | None = None,
    ) -> Call[Page[Execution]]:
        """One page of the environment's executions (``limit`` at most 100), with totals."""
        return _logs(skip, limit, _filters(sort_by, sort_order, user_id, workflow_id, status))

    @pages
    def iter_logs(
        *,
        sort_by: Literal["startedAt", "stoppedAt"] = "startedAt",
        sort_order: Order = "desc",
        user_id: str | None = None,
        workflow_id: str | None = None,
        status: Status | None = None,
        page_size: int = 100,
    ) -> Paged[Execution]:
        """Every matching execution, ``page_size`` (at most 100) at a time."""
        filters = _filters(sort_by, sort_order, user_id, workflow_id, status)
        return Paged(lambda n: _logs((n - 1) * page_size, page_size, filters), page_size)

    @endpoint
    def get_log(execution_id: str) -> Call[Execution]:
        """One execution, with each block's input, output and error."""
        return Call("GET", path("/logs/{e}", e=execution_id), Execution, envelope="data")
