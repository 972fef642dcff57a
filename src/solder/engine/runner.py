"""Executes one claimed run, block by block, checkpointing each block's result.

A block that finished in an earlier attempt (or before a crash) is not run again: its stored
output is reused. A failing block is retried with exponential backoff and jitter when the
failure may pass (``RetryableError`` or an unexpected exception), up to
``engine.max_attempts``; a ``StepError`` of any other kind fails the run at once.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta
from typing import Any

from solder.engine import mapping
from solder.engine.blocks import BlockCall, run_block
from solder.engine.definitions import AnyBlock, WorkflowDef
from solder.engine.lifecycle import credential_for
from solder.errors import RetryableError, SolderError, StepError
from solder.runtime.services import Services
from solder.store import catalog, installs, runs, users
from solder.store.types import utcnow

log = logging.getLogger("solder.engine")


MAX_DOUBLINGS = 64
"""Past this many doublings the delay is ``backoff_max`` for any sane settings; capping the
exponent keeps ``2 ** n`` a float when ``engine.max_attempts`` is in the thousands."""


def backoff(services: Services, attempt: int, retry_after: float | None) -> float:
    cfg = services.settings.engine
    delay = min(cfg.backoff_max, cfg.backoff_base * 2.0 ** min(attempt - 1, MAX_DOUBLINGS))
    delay = random.uniform(delay / 2, delay)
    if retry_after is not None:
        delay = max(delay, min(retry_after, cfg.backoff_max))
    return delay


class RunExecution:
    def __init__(self, services: Services, run_id: str, fence: int) -> None:
        self.services = services
        self.run_id = run_id
        self.fence = fence
        self.lease = timedelta(seconds=services.settings.engine.lease_seconds)

    def execute(self) -> str:
        """Run what is left of the run; return its status after this attempt."""
        engine = self.services.engine
        with self.services.reader.connect() as conn:
            run = runs.get_run(conn, self.run_id)
            event = runs.get_event(conn, run.event_id)
            wf = WorkflowDef.model_validate(catalog.version(conn, run.version_id).definition)
            install = installs.install_by_id(conn, run.workflow_install_id)
            user = users.get(conn, run.environment, run.user_id)
            done = {r.block_id: r for r in runs.results_of(conn, [self.run_id])[self.run_id]}
        if install is None:
            with engine.begin() as conn:
                error = {"message": "the workflow was uninstalled before the run", "block": None}
                runs.finish(conn, self.run_id, self.fence, "failed", error)
            return "failed"
        outputs: dict[str, Any] = {}
        context: dict[str, Any] = {
            "trigger": None,
            "blocks": outputs,
            "user": {"id": user.id, "username": user.username},
            "execution": {"id": self.run_id, "workflowId": run.workflow_id},
        }
        for position, block in enumerate(wf.all_blocks()):
            previous = done.get(block.id)
            if previous is not None and previous.status == "succeeded":
                output = previous.output
            else:
                call = BlockCall(
                    services=self.services,
                    block=block,
                    run_id=self.run_id,
                    workflow_id=run.workflow_id,
                    user_id=run.user_id,
                    install=install,
                    payload=event.payload,
                    credential=lambda app: credential_for(self.services, install, app),
                )
                status, output = self._attempt(call, block, position, install, context)
                if status != "succeeded":
                    return status
            outputs[block.key] = output
            if position == 0:
                context["trigger"] = output
        with engine.begin() as conn:
            runs.finish(conn, self.run_id, self.fence, "succeeded")
        log.info("run succeeded", extra={"run_id": self.run_id, "workflow_id": run.workflow_id})
        return "succeeded"

    def _attempt(
        self,
        call: BlockCall,
        block: AnyBlock,
        position: int,
        install: Any,
        context: dict[str, Any],
    ) -> tuple[str, Any]:
        engine = self.services.engine
        config = (install.config or {}).get(block.id, {})
        block_dict = {"id": block.id, "key": block.key, "name": block.name, "type": block.type}
        inp: dict[str, Any] | None = None
        mapping_error: SolderError | None = None
        try:
            rendered = mapping.render(block.inputs, {**context, "config": config})
            assert isinstance(rendered, dict)
            inp = {**config, **rendered}
        except SolderError as exc:
            mapping_error = exc
        with engine.begin() as conn:
            runs.renew(conn, self.run_id, self.fence, self.lease)
            attempt = runs.start_block(conn, self.run_id, block_dict, position, inp)
        try:
            if mapping_error is not None:
                raise mapping_error
            output = run_block(call, inp or {})
        except Exception as exc:  # noqa: BLE001 - the step boundary: every failure is recorded
            return self._failed(block, attempt, exc), None
        with engine.begin() as conn:
            runs.renew(conn, self.run_id, self.fence, self.lease)
            runs.end_block(conn, self.run_id, block.id or "", "succeeded", output=output)
        return "succeeded", output

    def _failed(self, block: AnyBlock, attempt: int, exc: Exception) -> str:
        cfg = self.services.settings.engine
        message = exc.message if isinstance(exc, SolderError) else f"{type(exc).__name__}: {exc}"
        retryable = isinstance(exc, RetryableError) or not isinstance(exc, StepError)
        extra = {"run_id": self.run_id, "block": block.key, "attempt": attempt}
        with self.services.engine.begin() as conn:
            if retryable and attempt < cfg.max_attempts:
                retry_after = exc.retry_after if isinstance(exc, RetryableError) else None
                delay = backoff(self.services, attempt, retry_after)
                runs.end_block(conn, self.run_id, block.id or "", "retrying", error=message)
                at = utcnow() + timedelta(seconds=delay)
                runs.retry_later(conn, self.run_id, self.fence, at, attempt)
                log.warning("block failed, retrying in %.2fs: %s", delay, message, extra=extra)
                return "queued"
            runs.end_block(conn, self.run_id, block.id or "", "failed", error=message)
            error = {"message": message, "block": block.name or block.key, "blockId": block.id}
            runs.finish(conn, self.run_id, self.fence, "failed", error)
        log.error("run failed at block %s: %s", block.key, message, extra=extra)
        return "failed"
