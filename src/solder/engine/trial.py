"""A test run of a workflow's draft, from the builder, on the engine that runs real runs.

``TrialExecution`` is a :class:`RunExecution` whose store is a list: it walks the same tree
and runs each block through the same code (mapping, ``run_block``, the control blocks'
decisions), so outgoing requests are really made, but nothing is written for it: no run,
no block results, no installation, no trigger state or polling cursor, no error-stream
notice, no metrics. The trigger's output is the sample given; the fields the end user would
fill in come with the request; app blocks use the credentials of the user named, if any.

It differs from a run in what a test is for: a failing block is not retried (the test shows
the failure at once), a ``delay`` does not wait (its output says until when it would have),
and a ``stop`` ends the test as it ends a run.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from types import SimpleNamespace
from typing import Any

from solder.engine.definitions import AnyBlock, WorkflowDef
from solder.engine.runner import Halt, InstalledCopy, RunExecution, Scope, Write
from solder.errors import SolderError
from solder.runtime.metrics import BlockOutcome
from solder.runtime.services import Services
from solder.store.types import iso, new_id, utcnow


class TrialExecution(RunExecution):
    def __init__(
        self,
        services: Services,
        wf: WorkflowDef,
        *,
        workflow_id: str,
        environment: str,
        trigger: Any,
        config: dict[str, dict[str, Any]],
        user: Any | None,
        credential_ids: list[str],
    ) -> None:
        super().__init__(services, f"test_{new_id()}", 0)
        self.wf = wf
        user_id = user.id if user is not None else ""
        self.run = SimpleNamespace(workflow_id=workflow_id, user_id=user_id, payload=trigger)
        self.install = InstalledCopy(
            id="", environment=environment, user_id=user_id, credential_ids=credential_ids,
            config=config,
        )  # fmt: skip
        self.user = user
        self.steps: list[dict[str, Any]] = []
        self.error: str | None = None
        self.stopped: Any = None
        self.failed_input: Any = None

    def trial(self) -> dict[str, Any]:
        """Run the workflow once; ``{status, error?, steps}`` as the builder shows it."""
        user = self.user
        scope = Scope(
            {
                "trigger": None,
                "blocks": {},
                "user": {"id": user.id, "username": user.username} if user else None,
                "execution": {"id": self.run_id, "workflowId": self.run.workflow_id},
            }
        )
        status = "succeeded"
        try:
            scope.context["trigger"] = self._step(self.wf.trigger, scope)
            self._sequence(list(self.wf.blocks), scope)
        except Halt as halt:
            status = halt.status
        answer: dict[str, Any] = {"status": status, "steps": self.steps}
        if self.error is not None:
            answer["error"] = self.error
        return answer

    # -- one step, recorded in the answer instead of the store ----------------------------

    def _attempt(
        self,
        block: AnyBlock,
        step_id: str,
        position: int,
        attempt: int,
        scope: Scope,
        *,
        first: bool,
    ) -> Any:
        step: dict[str, Any] = {"blockKey": block.key, "type": block.type, "status": "running"}
        if scope.suffix:
            step["index"] = int(scope.suffix.rsplit("#", 1)[1])
        step |= {"input": None, "output": None, "error": None, "startedAt": iso(utcnow())}
        self.steps.append(step)
        began = time.perf_counter()
        try:
            output = super()._attempt(block, step_id, position, attempt, scope, first=first)
        except Halt:
            if self.stopped is not None:  # a stop block: it did its work
                step |= {"status": "succeeded", "input": self.inputs.get(step_id),
                         "output": self.stopped}  # fmt: skip
            else:
                step |= {"status": "failed", "input": self.failed_input, "error": self.error}
            self._timed(step, began)
            raise
        step |= {"status": "succeeded", "input": self.inputs.get(step_id), "output": output}
        self._timed(step, began)
        return output

    def _run(self, block: AnyBlock, inp: dict[str, Any], scope: Scope, context: Any) -> Any:
        if block is self.wf.trigger:
            return self.run.payload  # the sample stands for what the trigger would give
        return super()._run(block, inp, scope, context)

    @staticmethod
    def _timed(step: dict[str, Any], began: float) -> None:
        step["finishedAt"] = iso(utcnow())
        step["durationMs"] = round((time.perf_counter() - began) * 1000, 1)

    # -- what a run stores or waits for, a test does not ------------------------------------

    def _failed(self, block: AnyBlock, attempt: int, exc: Exception, record: Any) -> str:
        self.error = exc.message if isinstance(exc, SolderError) else f"{type(exc).__name__}: {exc}"
        if isinstance(record, partial):
            self.failed_input = record.keywords.get("inp")
        return "failed"

    def _delay(self, done: Write, output: Any) -> None:
        return None

    def _stop(self, block: Any, done: Write, output: Any) -> None:
        self.stopped = output
        if output["status"] == "failed":
            self.error = output["message"]
        raise Halt(output["status"])

    def _commit(self, *writes: Write, renew: bool = True) -> None:
        self.pending.clear()
        self.unsaved_effect = False

    def _keep_lease(self) -> None:
        return None

    def _leased(self) -> AbstractContextManager[None]:
        return nullcontext()

    def _measure(self, block: AnyBlock, outcome: BlockOutcome, began: float) -> None:
        return None
