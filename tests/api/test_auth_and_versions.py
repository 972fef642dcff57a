"""Who may call (API keys, environments), which versions answer, and the published spec."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest
from sqlalchemy import MetaData, select

from tests.conftest import Server
from tests.flows import install_quickstart, ok, push_quickstart, workflow_ids

DATED = ("/2023-01", "/2023-06", "/2023-12", "/2024-03")


def bare(server: Server, headers: dict[str, str], prefix: str = "/2023-12") -> httpx2.Client:
    return httpx2.Client(base_url=server.url + prefix, headers=headers, timeout=10)


def message_of(resp: httpx2.Response, status: int) -> str:
    assert resp.status_code == status, resp.text
    message = resp.json()["message"]
    assert isinstance(message, str)
    return message


def database_text(server: Server) -> str:
    """Every row of every table, as text."""
    meta = MetaData()
    meta.reflect(server.services.engine)
    with server.services.engine.connect() as conn:
        rows = [
            repr(tuple(row)) for table in meta.sorted_tables for row in conn.execute(select(table))
        ]
    return "\n".join(rows)


def test_a_missing_or_unknown_key_is_401(server: Server, api: httpx2.Client) -> None:
    ok(api.post("/users", json={"username": "gregg"}))
    with bare(server, {}) as anonymous:
        assert "Authorization" in message_of(anonymous.get("/users"), 401)
        message_of(anonymous.post("/users", json={"username": "mallory"}), 401)
    for header in (f"Bearer {server.dev_key}x", "Bearer solder_sk_dev_guess", "Basic Z3JlZ2c6"):
        with bare(server, {"Authorization": header}) as client:
            message_of(client.get("/users"), 401)
    assert [u["username"] for u in ok(api.get("/users"))["data"]] == ["gregg"]


@pytest.mark.parametrize("scheme", ["bearer", "Bearer", "BEARER"])
def test_the_scheme_is_case_insensitive(server: Server, api: httpx2.Client, scheme: str) -> None:
    ok(api.post("/users", json={"username": "gregg"}))
    with bare(server, {"Authorization": f"{scheme} {server.dev_key}"}) as client:
        assert [u["username"] for u in ok(client.get("/users"))["data"]] == ["gregg"]


def test_every_version_reaches_the_same_data(server: Server, api: httpx2.Client) -> None:
    push_quickstart(api)
    auth = {"Authorization": f"Bearer {server.dev_key}"}
    styles = [(prefix, auth) for prefix in DATED] + [("", {**auth, "x-api-version": "2025-09"})]
    for i, (prefix, headers) in enumerate(styles):
        with bare(server, headers, prefix) as client:
            ok(client.post("/users", json={"username": f"user{i}"}))
    expected = {path: ok(api.get(path)) for path in ("/users", "/integrations", "/events")}
    assert len(expected["/users"]["data"]) == len(styles)
    for prefix, headers in styles:
        with bare(server, headers, prefix) as client:
            for path, body in expected.items():
                assert ok(client.get(path)) == body, (prefix, path)


def test_an_unknown_header_version_is_400(server: Server) -> None:
    headers = {"Authorization": f"Bearer {server.dev_key}", "x-api-version": "2019-01"}
    with bare(server, headers, prefix="") as client:
        assert "x-api-version" in message_of(client.get("/users"), 400)


def test_keys_carry_their_environment_prefix(server: Server) -> None:
    assert server.dev_key.startswith("solder_sk_dev_")
    assert server.prod_key.startswith("solder_sk_live_")


def test_keys_are_stored_hashed(server: Server, api: httpx2.Client) -> None:
    ok(api.post("/users", json={"username": "gregg"}))
    dump = database_text(server)
    assert "gregg" in dump  # the dump does hold the data
    for key in (server.dev_key, server.prod_key):
        secret = key.removeprefix("solder_sk_dev_").removeprefix("solder_sk_live_")
        assert key not in dump
        assert secret[4:] not in dump  # at most a short display prefix is kept


def test_the_other_environment_sees_nothing(
    server: Server, api: httpx2.Client, receiver_url: str
) -> None:
    push_quickstart(api)
    info = install_quickstart(api, "gregg", receiver_url)
    user_id, workflow_id = info["userId"], next(iter(workflow_ids(api).values()))
    hidden = [
        f"/users/{user_id}",
        "/users/gregg",
        f"/users/{user_id}/credentials",
        f"/integrations/{info['integrationId']}",
        f"/workflows/{workflow_id}",
        f"/workflows/{workflow_id}/versions",
        f"/workflows/{workflow_id}/users",
        f"/workflows/{workflow_id}/logs",
        f"/installations/{info['installationId']}",
    ]
    with server.client(server.prod_key) as prod:
        for path in hidden:
            message_of(prod.get(path), 404)
        for path in ("/users", "/integrations", "/workflows", "/events", "/installations"):
            assert ok(prod.get(path))["data"] == [], path
        ref = {"userId": user_id, "workflowId": workflow_id}
        message_of(prod.put("/workflows/deactivate", json=ref), 404)
        message_of(prod.delete(f"/workflows/{workflow_id}", params={"userId": user_id}), 404)
        event = {"event": "Fulfillment Updated", "userId": user_id, "data": {}}
        message_of(prod.post("/run/event", json=event), 404)
        assert ok(prod.post("/users", json={"username": "gregg"}))["userId"] != user_id
    listed = ok(api.get("/integrations", params={"userId": user_id}))["data"][0]
    assert all(w["installed"] and w["active"] for w in listed["workflows"])


@pytest.mark.parametrize(
    ("env", "prefix", "sees"),
    [("development", "solder_sk_dev_", ["gregg"]), ("production", "solder_sk_live_", [])],
)
def test_keys_create_prints_a_key_that_authenticates(
    server: Server,
    api: httpx2.Client,
    database_url: str,
    tmp_path: Path,
    env: str,
    prefix: str,
    sees: list[str],
) -> None:
    ok(api.post("/users", json={"username": "gregg"}))
    child_env = {
        **os.environ,
        "SOLDER_DATABASE_URL": database_url,
        "SOLDER_KEY_FILE": str(tmp_path / "solder.key"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "solder", "keys", "create", "--env", env],
        env=child_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    key = done.stdout.splitlines()[-1]
    assert done.stdout.endswith(key + "\n")
    assert key.startswith(prefix)
    assert key.strip() == key
    with bare(server, {"Authorization": f"Bearer {key}"}) as client:
        assert [u["username"] for u in ok(client.get("/users"))["data"]] == sees
    assert key not in database_text(server)


def test_openapi_lists_the_main_paths(server: Server) -> None:
    resp = httpx2.get(server.url + "/openapi.json", timeout=10)
    assert resp.status_code == 200
    spec = json.loads(resp.text)
    assert spec["openapi"].startswith("3.")
    for path in (
        "/users",
        "/integrations",
        "/workflows/{workflow_id}/logs",
        "/run/event",
        "/headless/startInstallation",
    ):
        assert path in spec["paths"], path
    assert "post" in spec["paths"]["/run/event"]
    # the hottest route reads its body itself; its declared schema still documents it
    body = spec["paths"]["/run/event"]["post"]["requestBody"]["content"]["application/json"]
    assert set(body["schema"]["required"]) == {"event", "userId"}
