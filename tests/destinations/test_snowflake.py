"""The Snowflake destination through the official connector, against fakesnow's server mode.

fakesnow answers the connector's real HTTP requests and runs the SQL on DuckDB, so these tests
pin the statements, batching, transactions, key-pair loading and error mapping; what only a
real account shows (its limits, its auth checks, its type coercions) they cannot.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from solder.config import Settings
from solder.destinations import DESTINATIONS
from solder.destinations.base import DestinationCall
from solder.destinations.snowflake import parse_url, plan
from solder.errors import FatalError
from tests.blockflow import Flow, outputs
from tests.destinations.emulators import FakeSnowflake, fakesnow_server

PASSWORD = "pa ss:w/rd"


@pytest.fixture
def snow() -> Iterator[FakeSnowflake]:
    with fakesnow_server() as emulator:
        emulator.sql("CREATE TABLE orders (id INT, name VARCHAR, total NUMBER(10,2), meta VARIANT)")
        yield emulator


def call(url: str, **inputs: Any) -> DestinationCall:
    return DestinationCall(
        connection=url, connection_name="warehouse", inputs=inputs,
        idempotency_key="run-1:step-1", run_id="run-1", step_id="step-1",
        workflow_id="wf-1", user_id="user-1",
    )  # fmt: skip


def send(url: str, **inputs: Any) -> Any:
    return DESTINATIONS["snowflake"].send(call(url, **inputs))


def test_merge_by_key_twice_leaves_one_row_per_key_with_the_latest_values(
    snow: FakeSnowflake,
) -> None:
    rows = [{"id": i, "name": f"order {i}", "total": i * 1.5} for i in range(5)]
    first = send(snow.url(), table="orders", rows=rows, mode="merge", keyColumns=["id"])
    again = send(snow.url(), table="orders", mode="merge", keyColumns=["id"],
                 rows=[*rows[3:], {"id": 5, "name": "order 5", "total": 1}])  # fmt: skip
    assert first == {"table": "ORDERS", "mode": "merge", "rows": 5, "inserted": 5, "updated": 0,
                     "statements": 1}  # fmt: skip
    assert (again["inserted"], again["updated"]) == (1, 2)
    assert snow.sql("SELECT id, COUNT(*) FROM orders GROUP BY id ORDER BY id") == [
        (i, 1) for i in range(6)
    ]


def test_rows_go_in_batches_one_statement_each_in_one_transaction(snow: FakeSnowflake) -> None:
    rows = [{"id": i, "name": f"n{i}"} for i in range(5)] + [{"id": 9, "total": 2}]
    result = send(snow.url(), table="orders", rows=rows, batchSize=2)
    # 5 rows of one shape in batches of 2, then the row of another shape: 4 statements
    assert result["statements"] == 4
    assert result["rows"] == result["inserted"] == 6
    assert snow.sql("SELECT COUNT(*) FROM orders") == [(6,)]
    # a bad row in the last batch: nothing of the call is kept
    bad = [{"id": 10 + i, "name": "x"} for i in range(3)] + [{"id": 20, "colour": "red"}]
    with pytest.raises(FatalError) as caught:
        send(snow.url(), table="orders", rows=bad, batchSize=2)
    assert caught.value.field == "rows"
    assert "COLOUR" in caught.value.message
    assert snow.sql("SELECT COUNT(*) FROM orders") == [(6,)]


def test_objects_reach_a_variant_column_as_structure(snow: FakeSnowflake) -> None:
    send(snow.url(), table="orders", rows={"id": 1, "meta": {"tags": ["a", "b"], "n": 2}})
    assert snow.sql("SELECT meta:tags[1]::VARCHAR, meta:n::INT FROM orders") == [("b", 2)]


def test_key_pair_auth_from_a_pem_file(snow: FakeSnowflake, tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"open sesame"),
    )
    path = tmp_path / "rsa_key.p8"
    path.write_bytes(pem)
    url = snow.url(password="", private_key_file=str(path), private_key_file_pwd="open sesame")
    assert "private_key" in parse_url(url, "warehouse").params
    assert send(url, table="orders", rows=[{"id": 1}])["rows"] == 1
    wrong = snow.url(password="", private_key_file=str(path), private_key_file_pwd="nope-42")
    with pytest.raises(FatalError) as caught:
        send(wrong, table="orders", rows=[{"id": 2}])
    assert caught.value.field == "connection"
    assert "wrong passphrase" in caught.value.message
    assert "nope-42" not in caught.value.message


def test_an_unknown_table_fails_naming_the_table(snow: FakeSnowflake) -> None:
    with pytest.raises(FatalError) as caught:
        send(snow.url(), table="nowhere", rows=[{"id": 1}])
    assert caught.value.field == "table"
    assert caught.value.message.startswith("inputs.table: NOWHERE does not exist")


@pytest.mark.parametrize(
    ("inputs", "field", "says"),
    [
        ({"table": "orders; DROP TABLE x", "rows": []}, "table", "not a plain Snowflake"),
        ({"table": "t", "rows": [{"a b": 1}]}, "rows", "rows[0] column 'a b'"),
        ({"table": "t", "rows": [{"id": 1}], "mode": "merge"}, "keyColumns", "merge needs"),
        ({"table": "t", "rows": [{"n": 1}], "mode": "merge", "keyColumns": ["id"]},
         "rows", "rows[0]: merge needs a value for key column 'ID'"),
        ({"table": "t", "rows": [1]}, "rows", "rows[0]: must be an object"),
        ({"table": "t", "rows": [{"id": 1}], "mode": "upsert"}, "mode", "'upsert' is not"),
    ],
)  # fmt: skip
def test_inputs_are_checked_before_connecting(
    inputs: dict[str, Any], field: str, says: str
) -> None:
    with pytest.raises(FatalError) as caught:
        plan(inputs)
    assert caught.value.field == field
    assert says in caught.value.message


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("snowflake://u:hunter2@/db", "needs an account identifier"),
        ("snowflake://u:hunter2@acct/db?colour=red", "unknown parameter 'colour'"),
        ("snowflake://u@acct/db", "needs a password or private_key_file"),
        ("snowflake://u:hunter2@acct/a/b/c", "not /database or /database/schema"),
        ("snowflake://u:hunter2@acct/db?private_key_file=/nonexistent/k.p8",
         "private_key_file that cannot be read"),
    ],
)  # fmt: skip
def test_a_bad_connection_url_is_named_and_its_secret_kept(url: str, says: str) -> None:
    with pytest.raises(FatalError) as caught:
        parse_url(url, "warehouse")
    assert caught.value.field == "connection"
    assert caught.value.message.startswith("inputs.connection: 'warehouse' ")
    assert says in caught.value.message
    assert "hunter2" not in caught.value.message


@pytest.fixture
def settings(settings: Settings, snow: FakeSnowflake) -> Settings:
    settings.destination_connections = {"warehouse": SecretStr(snow.url(password=PASSWORD))}
    return settings


def test_a_workflow_merges_rows_and_the_password_stays_out_of_the_run(
    api: httpx2.Client, tmp_path: Path, snow: FakeSnowflake
) -> None:
    block = {
        "key": "load", "type": "destination", "destination": "snowflake",
        "inputs": {"connection": "warehouse", "table": "orders", "mode": "merge",
                   "keyColumns": ["id"], "rows": "{{ trigger.orders }}"},
    }  # fmt: skip
    flow = Flow(api, tmp_path, [block]).install()
    orders = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    for _ in range(2):
        run = flow.run({"orders": orders})
        assert run["status"] == "succeeded", run["error"]
    assert outputs(run)["load"]["updated"] == 2
    assert snow.sql("SELECT id, name FROM orders ORDER BY id") == [(1, "a"), (2, "b")]
    missing = flow.run({"orders": [{"id": 3, "colour": "red"}]})
    assert missing["status"] == "failed"
    assert missing["error"]["message"].startswith("inputs.rows: Snowflake (solderacct) refused")
    assert PASSWORD not in str(run) + str(missing)
