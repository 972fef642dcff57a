"""/healthz, /readyz and /metrics: no API key, not in the Alloy surface, honest about the store."""

from __future__ import annotations

import dataclasses
import shutil
import socket
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Connection, select, text, update

from solder.api import ops
from solder.api.app import create_app
from solder.runtime.metrics import Metrics, metrics_of
from solder.runtime.services import Services
from solder.store import accounts, runs
from solder.store.db import make_engine
from solder.store.tables import runs as runs_table
from solder.store.types import utcnow
from tests.conftest import Server
from tests.eventflow import StreamBlock, fire, install_flow, write_flow
from tests.servers import run_asgi

BLOCK = "6f0c6b51-0000-4000-8000-0000000000ab"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    """Every sample of ``GET /metrics``, keyed by name and labels."""
    resp = httpx2.get(f"{url}/metrics")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(resp.text)
        for s in family.samples
    }


def sample(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def claim(conn: Connection, run_id: str, fence: int) -> int:
    claimed = runs.claim(conn, run_id, fence, "test", timedelta(minutes=5))
    assert claimed is not None
    return claimed


@pytest.fixture
def idle(services: Services) -> Iterator[Server]:
    """A server whose process runs no workers: runs stay where the test puts them."""
    with services.engine.begin() as conn:
        dev = accounts.create_key(conn, "development")
        prod = accounts.create_key(conn, "production")
    with run_asgi(create_app(services, workers=False)) as url:
        services.public_url = url
        yield Server(url=url, services=services, dev_key=dev, prod_key=prod)


@pytest.fixture
def dead_services(services: Services, tmp_path: Path) -> Iterator[Services]:
    """``services`` with its engine pointed where no database answers.

    SQLite: a file in a directory that was removed. PostgreSQL: a port bound by this test but
    never listening, so connections are refused.
    """
    with socket.socket() as sock:
        if services.embedded:
            gone = tmp_path / "gone"
            gone.mkdir()
            shutil.rmtree(gone)
            url = f"sqlite:///{gone / 'solder.sqlite'}"
        else:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            url = services.engine.url.set(host="127.0.0.1", port=port).render_as_string(
                hide_password=False
            )
        dead = dataclasses.replace(services, engine=make_engine(url))
        yield dead
        dead.engine.dispose()


def test_healthz_answers_without_a_key(server: Server) -> None:
    resp = httpx2.get(f"{server.url}/healthz")
    assert (resp.status_code, resp.json()) == (200, {"status": "ok"})


def test_readyz_is_ready_on_a_migrated_store_with_workers_running(server: Server) -> None:
    resp = httpx2.get(f"{server.url}/readyz")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok", "workers": "ok"},
    }


def test_readyz_without_workers_is_ready_and_says_so(idle: Server) -> None:
    resp = httpx2.get(f"{idle.url}/readyz")
    assert resp.status_code == 200, resp.text
    assert resp.json()["checks"] == {
        "database": "ok",
        "migrations": "ok",
        "workers": "not running",
    }


@pytest.mark.parametrize(
    ("statement", "state"),
    [
        ("UPDATE alembic_version SET version_num = 'f00dfeedbeef'", "unknown revision"),
        ("DELETE FROM alembic_version", "not initialised"),
        ("DROP TABLE alembic_version", "not initialised"),
    ],
)
def test_readyz_names_migrations_when_the_schema_is_not_at_head(
    idle: Server, statement: str, state: str
) -> None:
    with idle.services.engine.begin() as conn:
        conn.execute(text(statement))
    resp = httpx2.get(f"{idle.url}/readyz")
    assert resp.status_code == 503, resp.text
    body = resp.json()
    assert body["status"] == "not ready"
    assert body["message"] == "not ready: migrations"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["migrations"].startswith(state)


def test_readyz_says_upgrade_pending_when_the_code_has_a_newer_head(
    idle: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, known = ops._revisions()
    newer = (frozenset({"9999_next"}), known | {"9999_next"})
    monkeypatch.setattr(ops, "_revisions", lambda: newer)
    resp = httpx2.get(f"{idle.url}/readyz")
    assert resp.status_code == 503, resp.text
    assert resp.json()["checks"]["migrations"] == "upgrade pending"


def test_readyz_names_the_database_when_it_does_not_answer(dead_services: Services) -> None:
    with run_asgi(create_app(dead_services, workers=False)) as url:
        ready = httpx2.get(f"{url}/readyz")
        alive = httpx2.get(f"{url}/healthz")
        samples = scrape(url)
    assert ready.status_code == 503, ready.text
    assert ready.json() == {
        "status": "not ready",
        "message": "not ready: database, migrations",
        "checks": {
            "database": "unreachable",
            "migrations": "not checked",
            "workers": "not running",
        },
    }
    assert alive.status_code == 200  # liveness never asks the database
    assert sample(samples, "solder_store_up") == 0
    assert not any(name == "solder_runs" for name, _ in samples)


def test_ops_endpoints_are_not_in_the_openapi_surface(server: Server) -> None:
    paths = httpx2.get(f"{server.url}/openapi.json").json()["paths"]
    assert paths  # the Alloy surface is there
    assert {"/healthz", "/readyz", "/metrics"}.isdisjoint(paths)


def test_metrics_count_runs_by_status_and_the_due_backlog(idle: Server, tmp_path: Path) -> None:
    block = StreamBlock("notify", BLOCK, "https://receiver.invalid/in")
    with idle.client() as api:
        info = install_flow(api, write_flow(tmp_path / "flow", [block]), [block])
        for n in range(6):
            fire(api, info.user_id, n)
    engine, now = idle.services.engine, utcnow()
    with engine.begin() as conn:
        queued = conn.execute(
            select(runs_table.c.id, runs_table.c.fence).order_by(runs_table.c.created_at)
        ).all()
        assert len(queued) == 6
        fences = [claim(conn, r.id, r.fence) for r in queued[:4]]
        runs.finish(conn, queued[0].id, fences[0], "succeeded")
        runs.finish(conn, queued[1].id, fences[1], "failed", error={"message": "no"})
        # queued[2] stays running; queued[3] goes back to the queue, due in an hour
        runs.retry_later(conn, queued[3].id, fences[3], now + timedelta(hours=1), attempt=1)
        for (run_id, _), waited in zip(queued[4:], (90, 30), strict=True):
            conn.execute(
                update(runs_table)
                .where(runs_table.c.id == run_id)
                .values(next_attempt_at=now - timedelta(seconds=waited))
            )

    samples = scrape(idle.url)

    assert sample(samples, "solder_store_up") == 1
    by_status = {s: sample(samples, "solder_runs", status=s) for s in ("queued", "running")}
    by_status |= {s: sample(samples, "solder_runs", status=s) for s in ("succeeded", "failed")}
    assert by_status == {"queued": 3, "running": 1, "succeeded": 1, "failed": 1}
    assert sample(samples, "solder_backlog") == 2  # the retry due in an hour is not waiting
    oldest = sample(samples, "solder_oldest_queued_seconds")
    assert 90 <= oldest < 90 + 60


def test_metrics_on_an_empty_store_export_every_status_at_zero(idle: Server) -> None:
    samples = scrape(idle.url)
    for status in ("queued", "running", "succeeded", "failed"):
        assert sample(samples, "solder_runs", status=status) == 0
    assert sample(samples, "solder_backlog") == 0
    assert sample(samples, "solder_oldest_queued_seconds") == 0


def test_what_the_engine_records_is_served_with_its_labels(idle: Server) -> None:
    recorded = metrics_of(idle.services)  # what the engine reaches through its Services
    recorded.block_finished("streamData", None, "succeeded", 0.003)
    recorded.block_finished("streamData", None, "succeeded", 0.004)
    recorded.block_finished("action", "bigcommerce", "failed", 12.0)
    recorded.delivery("stream_data", None, "ok")
    recorded.delivery("app_action", "bigcommerce", "retry")
    recorded.delivery("app_action", "bigcommerce", "retry")
    recorded.accepted("webhook", 3)
    recorded.accepted("custom_event")

    samples = scrape(idle.url)

    fast = {"block_type": "streamData", "app": "", "outcome": "succeeded"}
    assert sample(samples, "solder_block_duration_seconds_count", **fast) == 2
    assert sample(samples, "solder_block_duration_seconds_sum", **fast) == pytest.approx(0.007)
    assert sample(samples, "solder_block_duration_seconds_bucket", **fast, le="0.0025") == 0
    assert sample(samples, "solder_block_duration_seconds_bucket", **fast, le="0.005") == 2
    slow = {"block_type": "action", "app": "bigcommerce", "outcome": "failed"}
    assert sample(samples, "solder_block_duration_seconds_bucket", **slow, le="0.0005") == 0
    assert sample(samples, "solder_block_duration_seconds_bucket", **slow, le="10.0") == 0
    assert sample(samples, "solder_block_duration_seconds_bucket", **slow, le="30.0") == 1
    retried = {"kind": "app_action", "app": "bigcommerce", "outcome": "retry"}
    assert sample(samples, "solder_deliveries_total", **retried) == 2
    assert sample(samples, "solder_deliveries_total", kind="stream_data", app="", outcome="ok") == 1
    assert sample(samples, "solder_events_accepted_total", source="webhook") == 3
    assert sample(samples, "solder_events_accepted_total", source="custom_event") == 1


def test_each_metrics_has_a_registry_of_its_own() -> None:
    first, second = Metrics(), Metrics()
    first.accepted("run_workflow")
    assert (
        first.registry.get_sample_value("solder_events_accepted_total", {"source": "run_workflow"})
        == 1
    )
    assert (
        second.registry.get_sample_value("solder_events_accepted_total", {"source": "run_workflow"})
        is None
    )


@pytest.mark.parametrize(
    "record",
    [
        lambda m: m.block_finished("streamData", None, "done", 0.1),
        lambda m: m.delivery("email", None, "ok"),
        lambda m: m.delivery("http", None, "maybe"),
        lambda m: m.accepted("cron"),
    ],
)
def test_an_unknown_label_value_is_refused(record: Callable[[Metrics], None]) -> None:
    with pytest.raises(ValueError, match="is not one of"):
        record(Metrics())
