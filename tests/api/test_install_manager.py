"""/manage/users and /manage/users/{userId}/workflows: the installation manager's API.

Users a page at a time with a username-prefix search; one user's copies with their
versions, field values and credentials' health; changing field values (checked like an
install); moving a copy to any released version; the /logs filters the runs explorer adds.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
import yaml

from solder.push import push
from tests.conftest import Server
from tests.eventflow import Installed, StreamBlock, install_flow, write_flow
from tests.flows import install_quickstart, ok, push_quickstart, settled, wait_until

BLOCK = "6f0c6b51-0000-4000-8000-00000000d001"


@pytest.fixture
def block(receiver_url: str) -> StreamBlock:
    return StreamBlock("notify-isv", BLOCK, f"{receiver_url}/parcels")


@pytest.fixture
def flow(api: httpx2.Client, tmp_path: Path, block: StreamBlock) -> tuple[Path, Installed]:
    directory = write_flow(tmp_path / "flow", [block])
    return directory, install_flow(api, directory, [block])


def refused(resp: httpx2.Response, status: int, *words: str) -> None:
    assert resp.status_code == status, resp.text
    assert set(resp.json()) - {"field"} == {"message"}
    for word in words:
        assert word in resp.json()["message"], resp.text


def release_with_field(api: httpx2.Client, directory: Path, field: dict[str, Any]) -> None:
    path = directory / "parcels.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["workflows"][0]["blocks"][0]["fields"].append(field)
    path.write_text(yaml.safe_dump(spec))
    root = str(api.base_url).rsplit("/2023-12", 1)[0]
    with httpx2.Client(base_url=root, headers=api.headers, timeout=30) as mgmt:
        push(mgmt, directory, release=True)


def copies(api: httpx2.Client, user: str) -> dict[str, Any]:
    got: dict[str, Any] = ok(api.get(f"/manage/users/{user}/workflows"))
    return got


def test_users_page_sorted_by_username_with_a_prefix_search(api: httpx2.Client) -> None:
    names = [f"user-{i:02}" for i in range(12)] + ["gregg", "greta", "Grace"]
    ok(api.post("/users/batch", json={"users": [{"username": n} for n in names]}))
    page = ok(api.get("/manage/users", params={"limit": 5}))
    assert [u["username"] for u in page["data"]] == sorted(names)[:5]
    assert (page["totalItems"], page["totalPages"], page["currentPage"]) == (15, 3, 1)
    assert set(page["data"][0]) == {"userId", "username", "fullName", "createdAt"}
    last = ok(api.get("/manage/users", params={"limit": 5, "skip": 10}))
    assert [u["username"] for u in last["data"]] == sorted(names)[10:]
    found = ok(api.get("/manage/users", params={"search": "gre"}))
    assert ([u["username"] for u in found["data"]], found["totalItems"]) == (["gregg", "greta"], 2)
    assert ok(api.get("/manage/users", params={"search": "user-1"}))["totalItems"] == 2
    assert ok(api.get("/manage/users", params={"search": "zz"}))["totalItems"] == 0
    refused(api.get("/manage/users", params={"limit": 0}), 422, "limit")


def test_a_users_copies_show_version_fields_credentials_and_state(
    api: httpx2.Client, receiver_url: str
) -> None:
    push_quickstart(api)
    gregg = install_quickstart(api, "gregg", receiver_url)
    got = copies(api, "gregg")
    assert got["user"]["userId"] == gregg["userId"]
    assert len(got["data"]) == 2
    for copy in got["data"]:
        assert (copy["version"], copy["latestVersion"], copy["versions"]) == (1, 1, [1])
        assert copy["active"] is True
        assert copy["installationId"] == gregg["installationId"]
        (cred,) = copy["credentials"]
        assert (cred["credentialId"], cred["type"], cred["health"]) == (
            gregg["credentialId"], "bigcommerce", "connected",
        )  # fmt: skip
        assert set(cred) == {
            "credentialId",
            "type",
            "name",
            "health",
            "expiresAt",
            "pausedUntil",
            "updatedAt",
        }  # fmt: skip: no secret in it
    text = str(got)
    assert "accessToken" not in text
    assert "ciphertext" not in text
    with_fields = [c for c in got["data"] if c["fields"]]
    assert with_fields
    assert all(f["value"] for c in with_fields for f in c["fields"])
    refused(api.get("/manage/users/nobody/workflows"), 404, "userId")


def test_field_values_change_checked_like_an_install_and_runs_use_them(
    api: httpx2.Client, flow: tuple[Path, Installed], receiver_url: str
) -> None:
    _, info = flow
    path = f"/manage/users/{info.user_id}/workflows/{info.workflow_id}/fields"
    (copy,) = copies(api, "gregg")["data"]
    assert copy["fields"] == [{
        "blockId": BLOCK, "name": "url", "displayName": "url", "type": "url",
        "required": True, "value": f"{receiver_url}/parcels",
    }]  # fmt: skip
    refused(api.put(path, json={"fields": [{"blockId": BLOCK, "name": "nope"}]}), 422, "nope")
    refused(api.put(path, json={"fields": [{"blockId": BLOCK, "name": "url"}]}), 422, "required")
    refused(api.put(path, json={"fields": []}), 422, "fields")
    new_url = f"{receiver_url}/moved"
    change = {"fields": [{"blockId": BLOCK, "name": "url", "value": new_url}]}
    assert ok(api.put(path, json=change)) == {"success": True}
    (copy,) = copies(api, "gregg")["data"]
    assert (copy["fields"][0]["value"], copy["active"]) == (new_url, True)

    ok(
        api.post(
            "/run/event", json={"event": "Parcel Shipped", "userId": "gregg", "data": {"n": 1}}
        )
    )
    (run,) = settled(api, info.workflow_id, info.user_id, 1)
    assert run["status"] == "succeeded"
    paths = wait_until("the post", lambda: ok(httpx2.get(f"{receiver_url}/_received"))["data"])
    assert paths[0]["path"] == "/moved"


def test_a_copy_moves_to_any_released_version_and_back(
    api: httpx2.Client, flow: tuple[Path, Installed]
) -> None:
    directory, info = flow
    release_with_field(api, directory, {"name": "tag", "required": False, "default": "blue"})
    path = f"/manage/users/gregg/workflows/{info.workflow_id}/version"
    (copy,) = copies(api, "gregg")["data"]
    assert (copy["version"], copy["latestVersion"], copy["versions"]) == (1, 2, [2, 1])
    assert ok(api.put(path, json={"version": 2})) == {"message": "upgraded", "version": 2}
    (copy,) = copies(api, "gregg")["data"]
    assert copy["version"] == 2
    assert copy["active"] is True
    assert {f["name"]: f["value"] for f in copy["fields"]}["tag"] == "blue"
    assert ok(api.put(path, json={"version": 1}))["version"] == 1  # pinned back
    (copy,) = copies(api, "gregg")["data"]
    assert (copy["version"], [f["name"] for f in copy["fields"]]) == (1, ["url"])
    assert "already" in ok(api.put(path, json={"version": 1}))["message"]
    refused(api.put(path, json={"version": 7}), 404, "version", "7")
    refused(api.put(path, json={"version": "x"}), 422, "version")
    release_with_field(api, directory, {"name": "must", "required": True})
    refused(api.put(path, json={"version": 3}), 409, "must", "reinstall")


def test_logs_filter_by_version_and_creation_time(
    api: httpx2.Client, flow: tuple[Path, Installed]
) -> None:
    directory, info = flow

    def fire(n: int, done: int) -> None:
        body = {"event": "Parcel Shipped", "userId": "gregg", "data": {"n": n}}
        ok(api.post("/run/event", json=body))
        settled(api, info.workflow_id, info.user_id, done)

    fire(1, 1)
    release_with_field(api, directory, {"name": "tag", "required": False, "default": "x"})
    ok(api.put(f"/workflows/{info.workflow_id}/upgrade", params={"userId": "gregg"}))
    fire(2, 2)
    fire(3, 3)

    def logs(**params: Any) -> dict[str, Any]:
        page: dict[str, Any] = ok(api.get("/logs", params=params))
        return page

    newest = logs(sortBy="createdAt")["data"]
    assert [e["inputs"]["n"] for e in newest] == [3, 2, 1]
    assert [e["inputs"]["n"] for e in logs(sortBy="createdAt", sortOrder="asc")["data"]] == [
        1, 2, 3,
    ]  # fmt: skip
    v2 = logs(workflowId=info.workflow_id, version=2)
    assert (v2["totalItems"], [e["inputs"]["n"] for e in v2["data"]]) == (2, [3, 2])
    assert logs(workflowId=info.workflow_id, version=1)["totalItems"] == 1
    middle = datetime.fromisoformat(newest[1]["startedAt"])
    later = logs(since=(middle - timedelta(milliseconds=1)).isoformat())
    assert [e["inputs"]["n"] for e in later["data"]] == [3, 2]
    earlier = logs(until=(middle - timedelta(milliseconds=1)).isoformat())
    assert [e["inputs"]["n"] for e in earlier["data"]] == [1]
    assert logs(since="2000-01-01T00:00:00Z", until="2000-01-02T00:00:00Z")["totalItems"] == 0
    refused(api.get("/logs", params={"version": 2}), 422, "version", "workflowId")
    refused(api.get("/logs", params={"workflowId": info.workflow_id, "version": 9}), 404, "9")
    refused(api.get("/logs", params={"since": "yesterday"}), 422, "since")
    refused(api.get("/logs", params={"since": "2026-01-01T00:00:00"}), 422, "since")  # no zone


def test_the_management_lists_are_for_the_key_not_a_user_token(
    server: Server, api: httpx2.Client, flow: tuple[Path, Installed]
) -> None:
    _, info = flow
    token = ok(api.get(f"/users/{info.user_id}/token"))["token"]
    with httpx2.Client(base_url=server.url, headers={"x-alloy-user-token": token}) as user:
        for path in ("/manage/users", f"/manage/users/{info.user_id}/workflows", "/manage/keys"):
            refused(user.get(path), 403, "API key")
    with server.client(server.prod_key) as prod:
        refused(prod.get(f"/manage/users/{info.user_id}/workflows"), 404, "userId")
