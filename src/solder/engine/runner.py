"""Executes one claimed run, block by block, checkpointing each block's result.

A block that finished in an earlier attempt (or before a crash) is not run again: its stored
output is reused. A failing block is retried with exponential backoff and jitter when the
failure may pass (``RetryableError`` or an unexpected exception), up to
``engine.max_attempts``; a ``StepError`` of any other kind fails the run at once.

Commits are the cost that matters (each one is an fsync), so a block's attempt is written once,
when it ends, and the results of blocks without side effects (triggers, reads) ride along with
the next commit: if the process dies before it, re-running them is harmless. The result of a
block with side effects is committed before the run moves on, so it never runs twice after it
finished; the last block's result commits together with the run's end.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

from sqlalchemy import Connection

from solder.engine import mapping
from solder.engine.blocks import BlockCall, has_side_effects, run_block
from solder.engine.definitions import AnyBlock, WorkflowDef
from solder.engine.lifecycle import credential_for
from solder.errors import RetryableError, SolderError, StepError
from solder.runtime.services import Services
from solder.store import catalog, installs, runs, users
from solder.store.types import utcnow

log = logging.getLogger("solder.engine")

Write = Callable[[Connection], None]

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


def _describe(block: AnyBlock) -> dict[str, Any]:
    return {"id": block.id, "key": block.key, "name": block.name, "type": block.type}


class RunExecution:
    def __init__(self, services: Services, run_id: str, fence: int) -> None:
        self.services = services
        self.run_id = run_id
        self.fence = fence
        self.lease = timedelta(seconds=services.settings.engine.lease_seconds)
        self.renewed = time.monotonic()  # the claim has just set the lease
        self.pending: list[Write] = []

    def execute(self) -> str:
        """Run what is left of the run; return its status after this attempt."""
        with self.services.reader.connect() as conn:
            run = runs.get_run(conn, self.run_id)
            event = runs.get_event(conn, run.event_id)
            wf = WorkflowDef.model_validate(catalog.version(conn, run.version_id).definition)
            install = installs.install_by_id(conn, run.workflow_install_id)
            user = users.get(conn, run.environment, run.user_id)
            done = {r.block_id: r for r in runs.results_of(conn, [self.run_id])[self.run_id]}
        if install is None:
            error = {"message": "the workflow was uninstalled before the run", "block": None}
            self._commit(partial(runs.finish, run_id=self.run_id, fence=self.fence,
                                 status="failed", error=error))  # fmt: skip
            return "failed"
        outputs: dict[str, Any] = {}
        context: dict[str, Any] = {
            "trigger": None,
            "blocks": outputs,
            "user": {"id": user.id, "username": user.username},
            "execution": {"id": self.run_id, "workflowId": run.workflow_id},
        }
        blocks = wf.all_blocks()
        for position, block in enumerate(blocks):
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
                attempts = 0 if previous is None else int(previous.attempts)
                status, output = self._attempt(call, position, attempts + 1, install, context)
                if status != "succeeded":
                    return status
                if has_side_effects(block) and position < len(blocks) - 1:
                    self._commit()
            outputs[block.key] = output
            if position == 0:
                context["trigger"] = output
        self._commit(partial(runs.finish, run_id=self.run_id, fence=self.fence,
                             status="succeeded"))  # fmt: skip
        log.info("run succeeded", extra={"run_id": self.run_id, "workflow_id": run.workflow_id})
        return "succeeded"

    def _commit(self, *writes: Write) -> None:
        """One transaction: check the lease is still ours, then every pending write."""
        with self.services.engine.begin() as conn:
            runs.renew(conn, self.run_id, self.fence, self.lease)
            for write in [*self.pending, *writes]:
                write(conn)
        self.pending.clear()
        self.renewed = time.monotonic()

    def _keep_lease(self) -> None:
        if time.monotonic() - self.renewed > self.lease.total_seconds() / 3:
            self._commit()

    def _attempt(
        self, call: BlockCall, position: int, attempt: int, install: Any, context: dict[str, Any]
    ) -> tuple[str, Any]:
        block = call.block
        config = (install.config or {}).get(block.id, {})
        record = partial(
            runs.record_block,
            run_id=self.run_id,
            block=_describe(block),
            position=position,
            attempt=attempt,
            started_at=utcnow(),
        )
        inp: dict[str, Any] | None = None
        self._keep_lease()
        try:
            rendered = mapping.render(block.inputs, {**context, "config": config})
            assert isinstance(rendered, dict)
            inp = {**config, **rendered}
            output = run_block(call, inp)
        except Exception as exc:  # noqa: BLE001 - the step boundary: every failure is recorded
            return self._failed(block, attempt, exc, partial(record, inp=inp)), None
        self.pending.append(partial(record, inp=inp, status="succeeded", output=output))
        return "succeeded", output

    def _failed(self, block: AnyBlock, attempt: int, exc: Exception, record: Any) -> str:
        cfg = self.services.settings.engine
        message = exc.message if isinstance(exc, SolderError) else f"{type(exc).__name__}: {exc}"
        retryable = isinstance(exc, RetryableError) or not isinstance(exc, StepError)
        extra = {"run_id": self.run_id, "block": block.key, "attempt": attempt}
        if retryable and attempt < cfg.max_attempts:
            retry_after = exc.retry_after if isinstance(exc, RetryableError) else None
            delay = backoff(self.services, attempt, retry_after)
            at = utcnow() + timedelta(seconds=delay)
            self._commit(
                partial(record, status="retrying", error=message),
                partial(runs.retry_later, run_id=self.run_id, fence=self.fence, at=at,
                        attempt=attempt),
            )  # fmt: skip
            log.warning("block failed, retrying in %.2fs: %s", delay, message, extra=extra)
            return "queued"
        error = {"message": message, "block": block.name or block.key, "blockId": block.id}
        self._commit(
            partial(record, status="failed", error=message),
            partial(runs.finish, run_id=self.run_id, fence=self.fence, status="failed",
                    error=error),
        )  # fmt: skip
        log.error("run failed at block %s: %s", block.key, message, extra=extra)
        return "failed"
