"""The hot-path statements written as plain SQL (``store/raw.py``) store values exactly as the
SQLAlchemy column types do: either side reads what the other wrote, on both backends."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from solder.errors import BadInput, Conflict, NotFound
from solder.store import runs
from solder.store.tables import (
    block_results,
    custom_events,
    events,
    installations,
    workflow_installs,
    workflows,
)
from solder.store.types import new_id, utcnow
from tests.store.test_concurrency import seed_runs

LEASE = timedelta(minutes=5)
PAYLOAD = {"orderId": "42", "note": "café ☕", "items": [1, 2.5, None, True], "nested": {"a": {}}}


def test_a_run_claimed_and_finished_raw_reads_back_through_sqlalchemy(engine: Engine) -> None:
    with engine.begin() as conn:
        (run_id,) = seed_runs(conn, 1)
    before = utcnow()
    with engine.begin() as conn:
        fence = runs.claim(conn, run_id, 0, "me", LEASE)
    assert fence == 1
    with engine.connect() as conn:
        row: Any = runs.get_run(conn, run_id)
    assert (row.status, row.lease_owner, row.fence) == ("running", "me", 1)
    assert before <= row.started_at <= utcnow()
    assert row.lease_expires_at - row.started_at == pytest.approx(LEASE, abs=timedelta(seconds=1))

    error = {"message": "no ☕", "block": "Stream Data", "blockId": "b1"}
    with engine.begin() as conn:
        runs.finish(conn, run_id, 1, "failed", error)
    with engine.connect() as conn:
        row = runs.get_run(conn, run_id)
    assert (row.status, row.error, row.lease_expires_at) == ("failed", error, None)
    assert row.started_at <= row.finished_at <= utcnow()


def test_due_times_compare_the_same_whichever_side_wrote_them(engine: Engine) -> None:
    with engine.begin() as conn:
        first, second = seed_runs(conn, 2)
        fence = runs.claim(conn, first, 0, "me", LEASE)
        assert fence == 1
        runs.retry_later(conn, first, fence, utcnow() + timedelta(seconds=30), 1)  # SQLAlchemy
    with engine.connect() as conn:
        assert [d.id for d in runs.claimable(conn, utcnow(), 10)] == [second]
        due_later = runs.claimable(conn, utcnow() + timedelta(seconds=31), 10)
    assert {d.id for d in due_later} == {first, second}
    with engine.begin() as conn:  # an expired lease makes a running run claimable again
        assert runs.claim(conn, second, 0, "gone", timedelta(seconds=-1)) == 1
    with engine.connect() as conn:
        assert second in [d.id for d in runs.claimable(conn, utcnow(), 10)]


def test_block_results_and_the_loaded_run_keep_json_and_times(engine: Engine) -> None:
    with engine.begin() as conn:
        (run_id,) = seed_runs(conn, 1)
    started = utcnow().replace(microsecond=123456)
    block = {"id": "b1#0", "key": "stream", "type": "streamData", "name": "Send"}
    with engine.begin() as conn:
        runs.record_block(conn, run_id, block, 3, inp=PAYLOAD, attempt=1, started_at=started,
                          status="failed", error="HTTP 500", first=True)  # fmt: skip
        runs.record_block(conn, run_id, block, 3, inp=PAYLOAD, attempt=2, started_at=started,
                          status="succeeded", output=[PAYLOAD, "x"])  # fmt: skip
    with engine.connect() as conn:
        (row,) = runs.results_of(conn, [run_id])[run_id]
        loaded = runs.load_for_execution(conn, run_id)
        stored = conn.execute(select(block_results.c.started_at)).scalar_one()
    described = (row.block_id, row.block_name, row.block_type, row.position)
    assert described == ("b1#0", "Send", "streamData", 3)
    assert (row.status, row.attempts, row.error) == ("succeeded", 2, None)
    assert (row.input, row.output) == (PAYLOAD, [PAYLOAD, "x"])
    assert stored == started
    assert row.started_at == started
    assert (loaded.id, loaded.username, loaded.definition, loaded.attempt) == (
        run_id,
        "gregg",
        {},
        0,
    )
    assert loaded.payload == {"n": 0}
    assert loaded.install_id is None
    assert loaded.install_config is None


def _event_and_installs(engine: Engine, run_id: str) -> str:
    """The custom event ``Order`` and an active installed copy of the seeded workflow for its
    user, started by it; returns the copy's id."""
    with engine.begin() as conn:
        run: Any = runs.get_run(conn, run_id)
        integration_id = conn.execute(
            select(workflows.c.integration_id).where(workflows.c.id == run.workflow_id)
        ).scalar_one()
        now = utcnow()
        conn.execute(custom_events.insert().values(
            id=new_id(), environment="development", name="Order", body={"orderId": "1"},
            created_at=now, updated_at=now,
        ))  # fmt: skip
        installation = new_id()
        conn.execute(installations.insert().values(
            id=installation, environment="development", user_id=run.user_id,
            integration_id=integration_id, credential_ids=[], workflow_ids=[run.workflow_id],
            form_data={}, status="installed", created_at=now,
        ))  # fmt: skip
        copy_id = new_id()
        conn.execute(workflow_installs.insert().values(
            id=copy_id, environment="development", installation_id=installation,
            user_id=run.user_id, workflow_id=run.workflow_id, version_id=run.version_id,
            config={}, credential_ids=[], active=True, state={}, trigger_key="event:Order",
            installed_at=now, updated_at=now,
        ))  # fmt: skip
        return copy_id


def accept(engine: Engine, **changes: Any) -> list[str]:
    """The ids of the runs ``runs.accept_custom_event`` made (none claimed)."""
    request: dict[str, Any] = {
        "env": "development", "name": "Order", "user_ref": "gregg", "payload": PAYLOAD,
        "check": lambda body, payload: None, "idempotency_key": "k1",
    }  # fmt: skip
    request.update(changes)
    with engine.begin() as conn:
        accepted = runs.accept_custom_event(conn, **request)
    assert accepted.claimed == 0
    return accepted.run_ids


def test_an_accepted_custom_event_reads_back_through_sqlalchemy(engine: Engine) -> None:
    with engine.begin() as conn:
        (seeded,) = seed_runs(conn, 1)
    copy_id = _event_and_installs(engine, seeded)
    before = utcnow()
    (run_id,) = accept(engine)
    with engine.connect() as conn:
        run: Any = runs.get_run(conn, run_id)
        event: Any = runs.get_event(conn, run.event_id)
        due = runs.claimable(conn, utcnow(), 10)
    assert (run.status, run.workflow_install_id, run.fence, run.attempt) == (
        "queued",
        copy_id,
        0,
        0,
    )
    assert before <= run.created_at == run.next_attempt_at <= utcnow()
    described = (event.kind, event.name, event.user_id, event.dedupe_key)
    assert described == ("custom", "Order", run.user_id, "idem:k1")
    assert event.payload == PAYLOAD
    assert event.received_at == run.created_at
    assert run_id in [d.id for d in due]

    assert accept(engine) == []  # the same request again: stored once
    with pytest.raises(Conflict, match="Idempotency-Key"):
        accept(engine, payload={"orderId": "43"})
    assert len(accept(engine, idempotency_key=None)) == 1
    with engine.connect() as conn:
        assert len(list(conn.execute(select(events.c.id).where(events.c.name == "Order")))) == 2


def test_refusals_name_the_field_and_write_nothing(engine: Engine) -> None:
    with engine.begin() as conn:
        (seeded,) = seed_runs(conn, 1)
    _event_and_installs(engine, seeded)

    def bad_payload(body: Any, payload: Any) -> None:
        raise BadInput("data.orderId: required", field="data.orderId")

    with pytest.raises(NotFound) as no_event:
        accept(engine, name="Nope")
    assert no_event.value.field == "event"
    with pytest.raises(NotFound) as no_user:
        accept(engine, user_ref="nobody")
    assert no_user.value.field == "userId"
    with pytest.raises(BadInput, match=r"data\.orderId"):
        accept(engine, check=bad_payload)
    with engine.connect() as conn:
        assert (
            list(conn.execute(select(events.c.id).where(events.c.name != "Parcel Shipped"))) == []
        )


class Places:
    """A ``runs.Claimer`` with ``free`` places."""

    owner = "host:1"
    lease = LEASE

    def __init__(self, free: int) -> None:
        self.free = free

    def take(self, wanted: int) -> int:
        return min(wanted, self.free)


def test_runs_claimed_as_they_are_stored_are_running_under_the_claimers_lease(
    engine: Engine,
) -> None:
    with engine.begin() as conn:
        (seeded,) = seed_runs(conn, 1)
    _event_and_installs(engine, seeded)
    with engine.begin() as conn:
        accepted = runs.accept_custom_event(
            conn, env="development", name="Order", user_ref="gregg", payload=PAYLOAD,
            check=lambda body, payload: None, idempotency_key=None, claim=Places(1),
        )  # fmt: skip
    assert accepted.claimed == 1
    (run_id,) = accepted.run_ids
    with engine.connect() as conn:
        run: Any = runs.get_run(conn, run_id)
        due = [d.id for d in runs.claimable(conn, utcnow(), 10)]
    assert (run.status, run.fence, run.lease_owner) == ("running", 1, "host:1")
    assert run.started_at == run.created_at
    assert run.lease_expires_at - run.created_at == LEASE
    assert run_id not in due  # nobody else takes it while the lease holds
    with engine.begin() as conn:  # and the claimer's fence 1 is the one that counts
        runs.finish(conn, run_id, 1, "succeeded")
    with engine.connect() as conn:
        assert runs.get_run(conn, run_id).status == "succeeded"

    with engine.begin() as conn:  # no places: stored queued, for the claimer
        accepted = runs.accept_custom_event(
            conn, env="development", name="Order", user_ref="gregg", payload=PAYLOAD,
            check=lambda body, payload: None, idempotency_key=None, claim=Places(0),
        )  # fmt: skip
    assert accepted.claimed == 0
    with engine.connect() as conn:
        assert runs.get_run(conn, accepted.run_ids[0]).status == "queued"
