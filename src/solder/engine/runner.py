"""Executes one claimed run, block by block, checkpointing each block's result.

A workflow is a tree: ``if``, ``branch`` and ``iterate`` hold lists of blocks. The runner walks
it depth first. Each visit of a block is a *step* with its own stored result, keyed by the
block's id plus, inside ``iterate``, the item's index (``<block id>#<i>``), so one block run
for 100 items leaves 100 results.

A step that finished in an earlier attempt (or before a crash) is not run again: its stored
output is reused, and a control block's stored decision (the ``if`` taken, the paths chosen,
the items of an ``iterate`` from its recorded input) sends the walk down the same way. A
failing block is retried with exponential backoff and jitter when the failure may pass
(``RetryableError`` or an unexpected exception), up to ``engine.max_attempts``; a
``StepError`` of any other kind fails the run at once.

Commits are the cost that matters (each one is an fsync), so a step is written once, when it
ends, and the results of steps without side effects (triggers, logic, formatters, code) ride
along with the next commit: if the process dies before it, re-running them is harmless. The
result of a step with side effects is committed before the next step starts (or with the
run's end, for the last one), so it never runs twice after it finished.

``delay`` and ``stop`` end this attempt: a delay commits its step and puts the run back in the
queue, due when the delay is over (no worker waits); a stop finishes the run.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol

from sqlalchemy import Connection

from solder.engine import errorstream, mapping
from solder.engine import output as overrides
from solder.engine.blocks import BlockCall, delay_until, has_side_effects, run_block
from solder.engine.definitions import (
    AnyBlock,
    BranchBlock,
    DelayBlock,
    IfBlock,
    IterateBlock,
    StepBlock,
    StopBlock,
    StreamDataBlock,
    released,
)
from solder.engine.lifecycle import credential_for, pause_credential
from solder.errors import FatalError, RateLimited, RetryableError, SolderError, StepError
from solder.runtime.metrics import BlockOutcome, DeliveryKind
from solder.runtime.services import Services
from solder.store import runs
from solder.store.types import iso, utcnow

log = logging.getLogger("solder.engine")

Write = Callable[[Connection], None]

DELIVERIES: dict[str, DeliveryKind] = {
    "streamData": "stream_data",
    "http": "http",
    "appAction": "app_action",
}
"""Blocks whose attempts count as outbound deliveries in the metrics."""

MAX_DOUBLINGS = 64
"""Past this many doublings the delay is ``backoff_max`` for any sane settings; capping the
exponent keeps ``2 ** n`` a float when ``engine.max_attempts`` is in the thousands."""


RATE_LIMIT_WAIT_MAX = 3600.0
"""The longest a run waits on one 429's ``Retry-After``."""


class Holder(Protocol):
    """A worker pool that can wait out a short retry itself (``WorkerPool``).

    Going back to the store for a retry costs two commits on its way (the failure, then the
    claim when it is due), and a commit waits for the disk: on a disk busy with other writes a
    0.2 s backoff became a second. A held run keeps its lease and its place in the pool, and
    is queued again when due, so only the failure's commit is on the way, and it overlaps the
    backoff.
    """

    def reserve(self, wanted: int) -> int: ...

    def free(self, places: int) -> None: ...


def backoff(services: Services, attempt: int, retry_after: float | None) -> float:
    cfg = services.settings.engine
    delay = min(cfg.backoff_max, cfg.backoff_base * 2.0 ** min(attempt - 1, MAX_DOUBLINGS))
    delay = random.uniform(delay / 2, delay)
    if retry_after is not None:
        delay = max(delay, min(retry_after, cfg.backoff_max))
    return delay


def _describe(block: AnyBlock) -> dict[str, Any]:
    return {"id": block.id, "key": block.key, "name": block.name, "type": block.type}


def truthy(value: Any) -> bool:
    """A condition's verdict: JSON ``true``, a non-zero number, non-empty text, list or object.

    The text ``"false"`` (what a mapping mixed with text yields) counts as false too.
    """
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "0", "null")
    return bool(value)


@dataclass(frozen=True)
class InstalledCopy:
    """The user's copy of the workflow, as a run needs it."""

    id: str
    environment: str
    user_id: str
    credential_ids: list[str]
    config: dict[str, Any]
    output_override: dict[str, Any] | None = None
    """Where its Stream Data goes instead (``engine.output``)."""


class Halt(Exception):
    """Ends the walk of the tree: the run was finished or put back in the queue."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


@dataclass
class Scope:
    """Where a step runs: the mapping context and the step-id suffix of enclosing iterations."""

    context: dict[str, Any]
    suffix: str = ""

    @property
    def outputs(self) -> dict[str, Any]:
        blocks: dict[str, Any] = self.context["blocks"]
        return blocks

    def item(self, index: int, item: Any) -> Scope:
        """The scope of one iteration: its own copy of the outputs, ``item`` and ``index``."""
        context = {**self.context, "blocks": dict(self.outputs), "item": item, "index": index}
        return Scope(context, f"{self.suffix}#{index}")


def _write_all(writes: list[Write], conn: Connection) -> None:
    for write in writes:
        write(conn)


def _finished(run_id: str, stored: Future[None]) -> None:
    """The outcome of a pipelined final commit (``RunExecution._finish``)."""
    error = stored.exception()
    if error is None:
        # DEBUG: a line per successful run is noise at hundreds a second; the run's record,
        # /metrics and the logs API tell the same
        log.debug("run succeeded", extra={"run_id": run_id})
    elif isinstance(error, runs.LeaseLost):
        log.warning("lost the lease of run %s; another worker has it", run_id)
    else:  # the run stays ours until the lease lapses; then it is taken again
        log.error("storing the success of run %s failed: %s", run_id, error,
                  extra={"run_id": run_id})  # fmt: skip


class RunExecution:
    def __init__(
        self,
        services: Services,
        run_id: str,
        fence: int,
        claimed_at: float | None = None,
        *,
        pipelined: bool = False,
        holder: Holder | None = None,
        resumed: bool = False,
    ) -> None:
        """``pipelined``: the run's final success is committed while the caller goes on to
        its next run (``execute`` returns before that commit lands; see ``_finish``).
        ``holder``: a short retry ends this attempt with ``"held"`` and ``due`` set, and the
        caller queues the run again at ``due`` under the same fence (``resumed=True``)."""
        self.services = services
        self.pipelined = pipelined
        self.holder = holder
        self.resumed = resumed
        self.due: float | None = None
        """Monotonic time a held run is due again."""
        self.run_id = run_id
        self.fence = fence
        self.lease = timedelta(seconds=services.settings.engine.lease_seconds)
        # the claim set the lease; renewals count from then
        self.renewed = time.monotonic() if claimed_at is None else claimed_at
        self.pending: list[Write] = []
        self.position = 0
        self.done: dict[str, Any] = {}
        self.inputs: dict[str, dict[str, Any]] = {}  # mapped inputs of this attempt's steps
        # a step with side effects finished and its result is not committed yet: it is, before
        # the next step starts (or with the run's end), so a finished effect never runs again
        self.unsaved_effect = False

    @property
    def lease_seconds(self) -> float:
        return self.lease.total_seconds()

    def execute(self) -> str:
        """Run what is left of the run; return its status after this attempt."""
        with self.services.reader.connect() as conn:
            run = runs.load_for_execution(conn, self.run_id)
            # a first claim (fence 1) cannot have results yet, unless it was held for a retry
            earlier = self.fence > 1 or self.resumed
            stored = runs.results_of(conn, [self.run_id])[self.run_id] if earlier else []
        if run.fence != self.fence:
            # taken by someone else while it waited here (in the queue, or held for a retry,
            # through a stall longer than its lease): their run now; sending a step would
            # repeat theirs, and our commits would be refused anyway
            raise runs.LeaseLost(self.run_id)
        self.done = {r.block_id: r for r in stored}
        wf = released(run.version_id, run.definition)
        if self.fence > self.services.settings.engine.max_claims:
            error = {
                "message": f"the run was taken {self.fence - 1} times without finishing (a "
                "worker crashing on it each time?); it is failed so it blocks nothing else",
                "block": None,
            }
            self._commit(partial(runs.finish, run_id=self.run_id, fence=self.fence,
                                 status="failed", error=error), renew=False)  # fmt: skip
            log.error("run failed as poison after %d claims", self.fence - 1,
                      extra={"run_id": self.run_id})  # fmt: skip
            return "failed"
        if run.install_id is None:
            error = {"message": "the workflow was uninstalled before the run", "block": None}
            self._commit(partial(runs.finish, run_id=self.run_id, fence=self.fence,
                                 status="failed", error=error), renew=False)  # fmt: skip
            return "failed"
        self.run = run
        self.install = InstalledCopy(
            id=run.install_id,
            environment=run.install_environment,
            user_id=run.user_id,
            credential_ids=run.install_credential_ids or [],
            config=run.install_config or {},
            output_override=run.install_output_override,
        )
        scope = Scope(
            {
                "trigger": None,
                "blocks": {},
                "user": {"id": run.user_id, "username": run.username},
                "execution": {"id": self.run_id, "workflowId": run.workflow_id},
            }
        )
        try:
            scope.context["trigger"] = self._step(wf.trigger, scope)
            self._sequence(list(wf.blocks), scope)
        except Halt as halt:
            return halt.status
        self._finish()
        return "succeeded"

    def _finish(self) -> None:
        """Commit the run's success: its last steps' results and its terminal state.

        Pipelined, the executor does not wait for that commit: it takes its next run while
        the group commit gathers this one with others. Nothing is promised to anyone before
        the commit lands, and until then the run is still ours under its lease; should the
        process die first, the run is taken again and its unrecorded steps run again, as
        after any crash (their requests carry the same ``Idempotency-Key``).
        """
        finish = partial(runs.finish, run_id=self.run_id, fence=self.fence, status="succeeded")
        if not self.pipelined:
            self._commit(finish, renew=False)
            return
        writes: list[Write] = [*self.pending, finish]
        self.pending.clear()
        self.unsaved_effect = False
        stored = self.services.commits.submit(partial(_write_all, writes))
        stored.add_done_callback(partial(_finished, self.run_id))

    # -- walking the tree ---------------------------------------------------------------

    def _sequence(self, blocks: list[StepBlock], scope: Scope) -> None:
        for block in blocks:
            output = self._step(block, scope)
            if isinstance(block, IfBlock):
                self._sequence(block.then if output["result"] else block.otherwise, scope)
            elif isinstance(block, BranchBlock):
                chosen = set(output["paths"])
                for path in block.paths:
                    if path.key in chosen:
                        self._sequence(path.blocks, scope)
                if output.get("default") and block.default:
                    self._sequence(block.default, scope)
            elif isinstance(block, IterateBlock):
                items = self._items_of(block, scope)
                for index, item in enumerate(items):
                    self._sequence(block.blocks, scope.item(index, item))

    def _items_of(self, block: IterateBlock, scope: Scope) -> list[Any]:
        """The items an iterate step chose: from its recorded input, or just computed."""
        step_id = f"{block.id}{scope.suffix}"
        step = self.done.get(step_id)
        inp = step.input if step is not None and step.status == "succeeded" else None
        if inp is None:
            inp = self.inputs[step_id]
        items: list[Any] = inp.get("items") or []
        return items

    def _step(self, block: AnyBlock, scope: Scope) -> Any:
        """One visit of a block: reuse its stored result, or run it (and its retries)."""
        step_id = f"{block.id}{scope.suffix}"
        position = self.position
        self.position += 1
        previous = self.done.get(step_id)
        if previous is not None and previous.status == "succeeded":
            output = previous.output
        else:
            attempts = 0 if previous is None else int(previous.attempts)
            output = self._attempt(
                block, step_id, position, attempts + 1, scope, first=previous is None
            )
        scope.outputs[block.key] = output
        return output

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
        config = self.install.config.get(block.id or "", {})
        record = partial(
            runs.record_block,
            run_id=self.run_id,
            block={**_describe(block), "id": step_id},
            position=position,
            attempt=attempt,
            started_at=utcnow(),
            first=first,
        )
        inp: dict[str, Any] | None = None
        self._keep_lease()
        began = time.perf_counter()
        try:
            context = {**scope.context, "config": config}
            try:
                rendered = mapping.render(block.inputs, context)
            except SolderError as exc:
                raise FatalError(f"block {block.key}: {exc.message}", field=exc.field) from exc
            assert isinstance(rendered, dict)
            inp = {**config, **rendered}
            if isinstance(block, StreamDataBlock):
                inp = overrides.apply(inp, self.install.output_override)
            with self._leased():
                output = self._run(block, inp, scope, context)
        except Exception as exc:  # noqa: BLE001 - the step boundary: every failure is recorded
            status = self._failed(block, attempt, exc, partial(record, inp=inp))
            self._measure(block, "failed" if status == "failed" else "retrying", began)
            raise Halt(status) from None
        self._measure(block, "succeeded", began)
        self.inputs[step_id] = inp
        done = partial(record, inp=inp, status="succeeded", output=output)
        if isinstance(block, DelayBlock):
            self._delay(done, output)
        if isinstance(block, StopBlock):
            self._stop(block, done, output)
        self.pending.append(done)
        if has_side_effects(block):
            self.unsaved_effect = True
        return output

    def _run(self, block: AnyBlock, inp: dict[str, Any], scope: Scope, context: Any) -> Any:
        """What one block does; control blocks decide here, leaves go to ``run_block``."""
        if isinstance(block, IfBlock):
            return {"result": truthy(inp.get("condition"))}
        if isinstance(block, BranchBlock):
            chosen = []
            for i, path in enumerate(block.paths):
                where = f"paths[{i}].condition"
                try:
                    verdict = mapping.render(path.condition, context, path=where)
                except SolderError as exc:
                    raise FatalError(f"block {block.key}: {exc.message}", field=where) from exc
                if truthy(verdict):
                    chosen.append(path.key)
            return {"paths": chosen, "default": not chosen and block.default is not None}
        if isinstance(block, IterateBlock):
            items = inp.get("items")
            if items is None:
                items = []
            if not isinstance(items, list):
                raise FatalError(
                    f"block {block.key}: inputs.items: must be a list, got {type(items).__name__}",
                    field="items",
                )
            bound = min(
                int(inp.get("maxItems") or self.services.settings.engine.iterate_max),
                self.services.settings.engine.iterate_max,
            )
            if len(items) > bound:
                raise FatalError(
                    f"block {block.key}: inputs.items: {len(items)} items, more than the "
                    f"limit of {bound}",
                    field="items",
                )
            return {"count": len(items)}
        call = BlockCall(
            services=self.services,
            block=block,
            run_id=self.run_id,
            step_id=f"{block.id}{scope.suffix}",
            workflow_id=self.run.workflow_id,
            user_id=self.run.user_id,
            install=self.install,
            payload=self.run.payload,
            credential=lambda app, refresh=False: credential_for(
                self.services, self.install, app, refresh=refresh
            ),
            pause=lambda app, seconds: pause_credential(self.services, self.install, app, seconds),
        )
        return run_block(call, inp)

    def _delay(self, done: Write, output: Any) -> None:
        at = delay_until(output)
        self._commit(
            done,
            partial(runs.wait_until, run_id=self.run_id, fence=self.fence, at=at),
            renew=False,
        )
        log.info("run waits until %s", iso(at), extra={"run_id": self.run_id})
        raise Halt("queued")

    def _stop(self, block: StopBlock, done: Write, output: Any) -> None:
        status = output["status"]
        error = None
        writes = [done]
        if status == "failed":
            error = {"message": output["message"], "block": block.name or block.key,
                     "blockId": block.id}  # fmt: skip
            writes.append(self._notice(block, output["message"]))
        self._commit(
            *writes,
            partial(runs.finish, run_id=self.run_id, fence=self.fence, status=status,
                    error=error),
            renew=False,
        )  # fmt: skip
        raise Halt(status)

    # -- commits and failures -------------------------------------------------------------

    def _measure(self, block: AnyBlock, outcome: BlockOutcome, began: float) -> None:
        app = getattr(block, "app", None)
        metrics = self.services.metrics
        metrics.block_finished(block.type, app, outcome, time.perf_counter() - began)
        kind = DELIVERIES.get(block.type)
        if kind is not None:
            sent = {"succeeded": "ok", "retrying": "retry", "failed": "failed"}[outcome]
            metrics.delivery(kind, app, sent)  # type: ignore[arg-type]

    def _notice(self, block: AnyBlock, message: str) -> Write:
        """The error-stream notice of this run's failure, written with the failure."""
        return partial(
            errorstream.notice,
            env=self.install.environment,
            run_id=self.run_id,
            user_id=self.run.user_id,
            workflow_id=self.run.workflow_id,
            block=_describe(block),
            message=message,
        )

    def _commit(self, *writes: Write, renew: bool = True) -> None:
        """One transaction: check the lease is still ours, then every pending write.

        ``renew=False`` when the writes end with a fenced change of the run (finish, retry),
        which checks the lease itself. The transaction is the process's group commit, shared
        with other runs' and accepted events' writes; this returns once it has committed.
        """
        batch = [*self.pending, *writes]
        if renew:
            batch.insert(0, partial(runs.renew, run_id=self.run_id, fence=self.fence,
                                    lease=self.lease))  # fmt: skip
        self.services.commits.run(partial(_write_all, batch))
        self.pending.clear()
        self.unsaved_effect = False
        self.renewed = time.monotonic()

    def _leased(self) -> AbstractContextManager[None]:
        """While a block works: the heartbeat keeps the run's lease alive."""
        return self.services.heartbeat.hold(self)

    def _keep_lease(self) -> None:
        """Before a step runs: commit a finished side effect, and renew an aging lease."""
        if self.unsaved_effect or time.monotonic() - self.renewed > self.lease.total_seconds() / 3:
            self._commit()

    def _hold(self, record: Any, message: str, at: datetime, delay: float, attempt: int) -> bool:
        """Record a failed attempt and keep the run for a retry due at ``at``, if a holder
        has room and the wait is short enough not to need a renewal of the lease."""
        holder = self.holder
        if holder is None or delay >= self.lease_seconds / 3 or not holder.reserve(1):
            return False
        try:
            self._commit(
                partial(record, status="retrying", error=message),
                partial(runs.retry_held, run_id=self.run_id, fence=self.fence, at=at,
                        attempt=attempt, lease=self.lease),
                renew=False,
            )  # fmt: skip
        except BaseException:
            holder.free(1)
            raise
        return True

    def _failed(self, block: AnyBlock, attempt: int, exc: Exception, record: Any) -> str:
        cfg = self.services.settings.engine
        message = exc.message if isinstance(exc, SolderError) else f"{type(exc).__name__}: {exc}"
        retryable = isinstance(exc, RetryableError) or not isinstance(exc, StepError)
        extra = {"run_id": self.run_id, "block": block.key, "attempt": attempt,
                 "install_id": self.install.id}  # fmt: skip
        # A 429: the run waits as long as the app said, whatever its attempts (the poison
        # bound on claims, engine.max_claims, still ends it)
        limited = isinstance(exc, RateLimited)
        if limited or (retryable and attempt < cfg.max_attempts):
            retry_after = exc.retry_after if isinstance(exc, RetryableError) else None
            if isinstance(exc, RateLimited):
                delay = min(retry_after or backoff(self.services, 1, None), RATE_LIMIT_WAIT_MAX)
            else:
                delay = backoff(self.services, attempt, retry_after)
            at = utcnow() + timedelta(seconds=delay)
            due = time.monotonic() + delay
            why = "rate limited, waiting" if limited else "block failed, retrying in"
            if not limited and self._hold(record, message, at, delay, attempt):
                self.due = due
                log.warning("%s %.2fs: %s", why, delay, message, extra=extra)
                return "held"
            self._commit(
                partial(record, status="retrying", error=message),
                partial(runs.retry_later, run_id=self.run_id, fence=self.fence, at=at,
                        attempt=attempt),
                renew=False,
            )  # fmt: skip
            log.warning("%s %.2fs: %s", why, delay, message, extra=extra)
            return "queued"
        error = {"message": message, "block": block.name or block.key, "blockId": block.id}
        self._commit(
            partial(record, status="failed", error=message),
            partial(runs.finish, run_id=self.run_id, fence=self.fence, status="failed",
                    error=error),
            self._notice(block, message),
            renew=False,
        )  # fmt: skip
        log.error("run failed at block %s: %s", block.key, message, extra=extra)
        return "failed"
