"""The Snowflake destination writing as the end user: the ``snowflake`` app credential they
connect in the install modal (password, or a PEM private key), against fakesnow.

fakesnow signs anyone in; the emulator's login layer refuses the passwords and key
fingerprints a test names with Snowflake's own answer (code 390100), so a refused credential
goes through the connector's real error path.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from solder.client.errors import ValidationError
from solder.config import Settings
from solder.destinations import DESTINATIONS, sending
from solder.destinations import snowflake as warehouse
from solder.destinations.snowflake import CredentialProblem, from_credential, pem_text
from tests.blockflow import Flow, outputs
from tests.conftest import Server
from tests.destinations.emulators import FakeSnowflake, fakesnow_server
from tests.flows import ok
from tests.web.test_pages import page

PASSWORD = "user's pa ss:w0rd"
PASSPHRASE = "open sesame 42"


@pytest.fixture
def snow() -> Iterator[FakeSnowflake]:
    with fakesnow_server() as emulator:
        emulator.sql("CREATE TABLE orders (id INT, name VARCHAR)")
        yield emulator


@pytest.fixture
def settings(settings: Settings, snow: FakeSnowflake) -> Settings:
    settings.app_base_urls = {**settings.app_base_urls, "snowflake": snow.endpoint}
    return settings


def key_pair(passphrase: str | None = PASSPHRASE) -> tuple[str, str]:
    """A PKCS#8 PEM private key and the fingerprint Snowflake knows its public key by."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    encryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, "SHA256:" + base64.b64encode(hashlib.sha256(public).digest()).decode()


def credential(snow: FakeSnowflake, **data: str) -> dict[str, Any]:
    base = {"account": "solderacct", "user": "gregg", "warehouse": "LOAD_WH",
            "database": snow.database, "schema": "PUBLIC"}  # fmt: skip
    return {"type": "snowflake", "data": {**base, **data}}


LOAD = {
    "key": "load", "type": "destination", "destination": "snowflake",
    "inputs": {"credential": "installation", "table": "orders", "mode": "merge",
               "keyColumns": ["id"], "rows": "{{ trigger.orders }}"},
}  # fmt: skip


def test_a_pasted_key_that_lost_its_line_breaks_is_read(snow: FakeSnowflake) -> None:
    pem, _ = key_pair()
    one_line = pem.replace("\n", "")
    assert pem_text(one_line).decode() == pem
    target = from_credential(
        {"account": "solderacct", "user": "u", "privateKey": one_line,
         "privateKeyPassphrase": PASSPHRASE},
        snow.endpoint,
    )  # fmt: skip
    assert "private_key" in target.params
    assert (target.params["host"], target.params["port"]) == (snow.host, snow.port)
    default = from_credential({"account": "solderacct", "user": "u", "password": "x"},
                              "https://snowflakecomputing.com")  # fmt: skip
    assert "host" not in default.params  # the connector finds the account's own host


@pytest.mark.parametrize(
    ("data", "part"),
    [
        ({"account": "solderacct", "user": "u"}, "password"),
        ({"account": "no such/account", "user": "u", "password": "x"}, "account"),
        ({"account": "solderacct", "user": "u", "privateKey": "-----BEGIN PRIVATE KEY-----"
          "c2VjcmV0LWtleS1ieXRlcw==-----END PRIVATE KEY-----"}, "privateKey"),
        ({"account": "solderacct", "user": "u", "password": "x", "database": "a;b"}, "database"),
    ],
)  # fmt: skip
def test_an_unusable_credential_names_its_field_and_not_its_secret(
    data: dict[str, str], part: str
) -> None:
    with pytest.raises(CredentialProblem) as caught:
        from_credential(data)
    assert caught.value.part == part
    assert caught.value.field == "credential"
    assert "c2VjcmV0" not in caught.value.message


def test_the_user_connects_snowflake_and_the_run_writes_as_them(
    api: httpx2.Client,
    server: Server,
    tmp_path: Path,
    snow: FakeSnowflake,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="solder")
    flow = Flow(api, tmp_path, [LOAD], credentials=[credential(snow, password=PASSWORD)])
    # the install modal's plan asks for the snowflake app, with the fields it needs
    flow.release()
    user_id = ok(api.post("/users", json={"username": "modal"}))["userId"]
    token = ok(api.get(f"/users/{user_id}/token"))["token"]
    integration = ok(api.get("/integrations", params={"userId": user_id}))["data"][0]
    _, plan = page(server, "/forge-install", integrationId=integration["integrationId"],
                   token=token)  # fmt: skip
    (asked,) = [a for a in plan["apps"] if a["app"] == "snowflake"]
    fields = {p["name"]: (p["required"], p["secret"]) for p in asked["properties"]}
    assert fields["account"] == (True, False)
    assert fields["password"] == fields["privateKey"] == (False, True)

    flow.install()
    orders = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    run = flow.run({"orders": orders})
    assert run["status"] == "succeeded", run["error"]
    assert outputs(run)["load"]["inserted"] == 2
    assert snow.sql("SELECT id, name FROM orders ORDER BY id") == [(1, "a"), (2, "b")]
    # the password is never given back: not in the run, not in the credential's listing
    listed = api.get("/credentials", params={"userId": flow.user_id})
    assert PASSWORD not in str(run) + listed.text

    # later Snowflake refuses it (rotated): once the open session is gone, the run fails
    # naming the credential, not echoing it
    snow.refused.add(PASSWORD)
    warehouse.close_all()
    failed = flow.run({"orders": [{"id": 3, "name": "c"}]})
    assert failed["status"] == "failed"
    message = failed["error"]["message"]
    assert message.startswith("inputs.credential: Snowflake (solderacct) refused the credentials "
                              "of the installation's snowflake credential")  # fmt: skip
    assert "Incorrect username or password" in message
    assert PASSWORD not in str(failed)
    assert failed["results"][-1]["attempts"] == 1  # the user must reconnect: not retried
    assert "refused the credentials" in caplog.text  # logged, without the secret
    assert PASSWORD not in caplog.text


def test_a_key_pair_credential_writes_and_a_refused_key_is_not_stored(
    api: httpx2.Client, tmp_path: Path, snow: FakeSnowflake
) -> None:
    pem, _ = key_pair()
    given = credential(snow, privateKey=pem.replace("\n", ""), privateKeyPassphrase=PASSPHRASE)
    flow = Flow(api, tmp_path, [LOAD], credentials=[given]).install()
    run = flow.run({"orders": [{"id": 7, "name": "key"}]})
    assert run["status"] == "succeeded", run["error"]
    assert snow.sql("SELECT id, name FROM orders") == [(7, "key")]

    other, fingerprint = key_pair(passphrase=None)
    snow.refused.add(fingerprint)
    body = {"userId": flow.user_id, **{"credential": credential(snow, privateKey=other)}}
    refused = api.post("/headless/credentials", json=body)
    assert refused.status_code == 422
    assert refused.json()["message"].startswith("credential: snowflake refused it: ")
    assert "Incorrect username or password" in refused.json()["message"]
    assert "PRIVATE KEY" not in refused.text


@pytest.mark.parametrize(
    ("data", "field", "says"),
    [
        ({"password": PASSWORD, "account": "solderacct"}, "credential", "refused"),
        ({}, "credential.data.password", "or privateKey is required"),
        ({"privateKey": "not a key " + PASSWORD}, "credential.data.privateKey", "not a PEM"),
    ],
)
def test_connecting_a_wrong_credential_fails_naming_it_without_echoing_it(
    api: httpx2.Client, snow: FakeSnowflake, data: dict[str, str], field: str, says: str
) -> None:
    snow.refused.add(PASSWORD)
    user_id = ok(api.post("/users", json={"username": "wrong"}))["userId"]
    body = {"userId": user_id, "credential": credential(snow, **data)}
    resp = api.post("/headless/credentials", json=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["message"].startswith(f"{field}: ")
    assert says in resp.json()["message"]
    assert PASSWORD not in resp.text


def test_installing_without_a_snowflake_credential_is_refused(
    api: httpx2.Client, tmp_path: Path
) -> None:
    with pytest.raises(ValidationError, match="credentialIds: no snowflake credential given"):
        Flow(api, tmp_path, [LOAD]).install()


@pytest.mark.parametrize(
    ("inputs", "says"),
    [
        ({"credential": "installation", "connection": "warehouse"}, "not both"),
        ({"credential": "{{ trigger.which }}"}, "must be written in the workflow"),
        ({"credential": "mine"}, "'mine' is not connection or installation"),
        ({}, "inputs.connection: required"),
    ],
)
def test_a_pushed_block_with_a_wrong_credential_choice_is_refused(
    api: httpx2.Client, tmp_path: Path, inputs: dict[str, Any], says: str
) -> None:
    block = {**LOAD, "inputs": {"table": "orders", "rows": [], **inputs}}
    with pytest.raises(Exception, match=says):
        Flow(api, tmp_path, [block]).release()


def test_only_snowflake_offers_the_installation_credential() -> None:
    problems = sending.credential_problems(DESTINATIONS["rabbitmq"], {"credential": "connection"})
    assert problems == [
        "inputs.credential: rabbitmq writes only with a server connection (inputs.connection)"
    ]
    described = {k: d.describe() for k, d in DESTINATIONS.items()}
    assert described["snowflake"]["credentials"] == ["connection", "installation"]
    assert described["snowflake"]["app"] == "snowflake"
    assert "credential" in described["snowflake"]["inputSchema"]["properties"]
    for key, d in described.items():
        if key != "snowflake":
            assert d["credentials"] == ["connection"]
            assert "credential" not in d["inputSchema"]["properties"]
