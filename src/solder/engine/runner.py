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
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection

from solder.engine import mapping
from solder.engine.blocks import BlockCall, has_side_effects, run_block
from solder.engine.definitions import AnyBlock, released
from solder.engine.lifecycle import credential_for
from solder.errors import RetryableError, SolderError, StepError
from solder.runtime.services import Services
from solder.store import runs
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


@dataclass(frozen=True)
class InstalledCopy:
    """The user's copy of the workflow, as a run needs it."""

    id: str
    environment: str
    user_id: str
    credential_ids: list[str]
    config: dict[str, Any]


class RunExecution:
    def __init__(
        self, services: Services, run_id: str, fence: int, claimed_at: float | None = None
    ) -> None:
        self.services = services
        self.run_id = run_id
        self.fence = fence
        self.lease = timedelta(seconds=services.settings.engine.lease_seconds)
        # the claim set the lease; renewals count from then
        self.renewed = time.monotonic() if claimed_at is None else claimed_at
        self.pending: list[Write] = []

    def execute(self) -> str:
        """Run what is left of the run; return its status after this attempt."""
        with self.services.reader.connect() as conn:
            run = runs.load_for_execution(conn, self.run_id)
            # a first claim (fence 1) cannot have results yet: skip the query
            stored = runs.results_of(conn, [self.run_id])[self.run_id] if self.fence > 1 else []
        done = {r.block_id: r for r in stored}
        wf = released(run.version_id, run.definition)
        if run.install_id is None:
            error = {"message": "the workflow was uninstalled before the run", "block": None}
            self._commit(partial(runs.finish, run_id=self.run_id, fence=self.fence,
                                 status="failed", error=error), renew=False)  # fmt: skip
            return "failed"
        install = InstalledCopy(
            id=run.install_id,
            environment=run.install_environment,
            user_id=run.user_id,
            credential_ids=run.install_credential_ids or [],
            config=run.install_config or {},
        )
        event = SimpleNamespace(payload=run.payload)
        user = SimpleNamespace(id=run.user_id, username=run.username)
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
                status, output = self._attempt(
                    call, position, attempts + 1, install, context, first=previous is None
                )
                if status != "succeeded":
                    return status
                if has_side_effects(block) and position < len(blocks) - 1:
                    self._commit()
            outputs[block.key] = output
            if position == 0:
                context["trigger"] = output
        self._commit(partial(runs.finish, run_id=self.run_id, fence=self.fence,
                             status="succeeded"), renew=False)  # fmt: skip
        log.info("run succeeded", extra={"run_id": self.run_id, "workflow_id": run.workflow_id})
        return "succeeded"

    def _commit(self, *writes: Write, renew: bool = True) -> None:
        """One transaction: check the lease is still ours, then every pending write.

        ``renew=False`` when the writes end with a fenced change of the run (finish, retry),
        which checks the lease itself.
        """
        with self.services.engine.begin() as conn:
            if renew:
                runs.renew(conn, self.run_id, self.fence, self.lease)
            for write in [*self.pending, *writes]:
                write(conn)
        self.pending.clear()
        self.renewed = time.monotonic()

    def _keep_lease(self) -> None:
        if time.monotonic() - self.renewed > self.lease.total_seconds() / 3:
            self._commit()

    def _attempt(
        self,
        call: BlockCall,
        position: int,
        attempt: int,
        install: InstalledCopy,
        context: dict[str, Any],
        *,
        first: bool,
    ) -> tuple[str, Any]:
        block = call.block
        config = install.config.get(block.id or "", {})
        record = partial(
            runs.record_block,
            run_id=self.run_id,
            block=_describe(block),
            position=position,
            attempt=attempt,
            started_at=utcnow(),
            first=first,
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
                renew=False,
            )  # fmt: skip
            log.warning("block failed, retrying in %.2fs: %s", delay, message, extra=extra)
            return "queued"
        error = {"message": message, "block": block.name or block.key, "blockId": block.id}
        self._commit(
            partial(record, status="failed", error=message),
            partial(runs.finish, run_id=self.run_id, fence=self.fence, status="failed",
                    error=error),
            renew=False,
        )  # fmt: skip
        log.error("run failed at block %s: %s", block.key, message, extra=extra)
        return "failed"
