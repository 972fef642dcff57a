"""/logs and re-runs: paging, filters, sort order, who sees what, and running an execution again.

Each test installs a one-block custom-event flow whose Stream Data block posts to the sandbox
receiver, fires events and waits for their runs to finish.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest

from solder.config import EgressSettings, EngineSettings, Settings
from solder.push import push
from solder.store import runs
from tests.conftest import Server
from tests.eventflow import Installed, StreamBlock, fire, install_flow, write_flow
from tests.flows import ok, runs_of, settled

UNFINISHED = ("queued", "running")
BLOCK = "6f0c6b51-0000-4000-8000-00000000e001"
EXECUTION_KEYS = {
    "executionId",
    "status",
    "startedAt",
    "stoppedAt",
    "attempt",
    "error",
    "results",
    "inputs",
}


@pytest.fixture
def settings(database_url: str, secret_key: str) -> Settings:
    """Slow retries: a run whose block answered 503 stays unfinished for the test's length."""
    engine = EngineSettings(
        workers=2, poll_interval=0.05, backoff_base=30, backoff_max=30, http_timeout=5
    )
    return Settings(
        database_url=database_url,
        secret_key=secret_key,
        engine=engine,
        egress=EgressSettings(allow_networks=["127.0.0.1/32"]),
    )


@pytest.fixture
def block(receiver_url: str) -> StreamBlock:
    return StreamBlock("notify-isv", BLOCK, f"{receiver_url}/parcels")


@pytest.fixture
def flow_dir(tmp_path: Path, block: StreamBlock) -> Path:
    return write_flow(tmp_path / "flow", [block])


def install(api: httpx2.Client, flow_dir: Path, block: StreamBlock, name: str) -> Installed:
    return install_flow(api, flow_dir, [block], username=name)


def run_events(api: httpx2.Client, info: Installed, *numbers: int) -> list[dict[str, Any]]:
    """Fire one event per number, each after the last finished; return every run of the
    user on the workflow, newest first."""
    for i, n in enumerate(numbers, start=len(runs_of(api, info.workflow_id, info.user_id))):
        fire(api, info.user_id, n)
        settled(api, info.workflow_id, info.user_id, i + 1)
    return runs_of(api, info.workflow_id, info.user_id)


def refused(resp: httpx2.Response, status: int, *words: str) -> None:
    assert resp.status_code == status, resp.text
    assert set(resp.json()) - {"field"} == {"message"}
    for word in words:
        assert word in resp.json()["message"], resp.text


def received(receiver_url: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = ok(httpx2.get(f"{receiver_url}/_received"))["data"]
    return records


def ids(page: dict[str, Any]) -> list[str]:
    return [e["executionId"] for e in page["data"]]


def test_logs_page_through_every_execution_newest_first(
    api: httpx2.Client, flow_dir: Path, block: StreamBlock
) -> None:
    info = install(api, flow_dir, block, "gregg")
    per_workflow = run_events(api, info, 1, 2, 3, 4, 5)

    page = ok(api.get("/logs"))
    assert {k: page[k] for k in ("totalItems", "totalPages", "currentPage", "pageSize")} == {
        "totalItems": 5,
        "totalPages": 1,
        "currentPage": 1,
        "pageSize": 20,
    }
    started = [datetime.fromisoformat(e["startedAt"]) for e in page["data"]]
    assert started == sorted(started, reverse=True)
    assert sorted(e["inputs"]["n"] for e in page["data"]) == [1, 2, 3, 4, 5]
    by_id = {e["executionId"]: e for e in per_workflow}
    for item in page["data"]:
        assert set(item) == EXECUTION_KEYS | {"workflowId", "userId"}
        assert (item["workflowId"], item["userId"]) == (info.workflow_id, info.user_id)
        rest = {k: v for k, v in item.items() if k not in ("workflowId", "userId")}
        assert rest == by_id[item["executionId"]]  # the /workflows/{id}/logs shape

    every = ids(page)
    second = ok(api.get("/logs", params={"skip": 2, "limit": 2}))
    assert ids(second) == every[2:4]
    assert (second["totalItems"], second["totalPages"]) == (5, 3)
    assert (second["currentPage"], second["pageSize"]) == (2, 2)
    last = ok(api.get("/logs", params={"skip": 4, "limit": 2}))
    assert (ids(last), last["currentPage"]) == (every[4:], 3)
    beyond = ok(api.get("/logs", params={"skip": 50, "limit": 10}))
    assert (beyond["data"], beyond["totalItems"], beyond["currentPage"]) == ([], 5, 6)

    assert ids(ok(api.get("/logs", params={"sortOrder": "asc"}))) == every[::-1]
    by_stop = ok(api.get("/logs", params={"sortBy": "stoppedAt", "sortOrder": "asc"}))["data"]
    stopped = [datetime.fromisoformat(e["stoppedAt"]) for e in by_stop]
    assert stopped == sorted(stopped)

    one = ok(api.get(f"/logs/{every[0]}"))
    assert one == {"data": page["data"][0]}


def test_logs_filter_by_user_workflow_and_status(
    api: httpx2.Client, flow_dir: Path, block: StreamBlock, receiver_url: str
) -> None:
    gregg = install(api, flow_dir, block, "gregg")
    ok(httpx2.post(f"{receiver_url}/_fail", json={"status": 400, "count": 1}))
    (failed,) = run_events(api, gregg, 1)
    assert failed["status"] == "failed"
    run_events(api, gregg, 2, 3)
    hilda = install(api, flow_dir, block, "hilda")
    run_events(api, hilda, 4)

    def logs(**params: Any) -> dict[str, Any]:
        page: dict[str, Any] = ok(api.get("/logs", params=params))
        return page

    assert logs()["totalItems"] == 4
    for ref in (hilda.user_id, "hilda"):  # an id or a username
        page = logs(userId=ref)
        assert [(e["userId"], e["inputs"]) for e in page["data"]] == [(hilda.user_id, {"n": 4})]
        assert page["totalItems"] == 1
    assert logs(workflowId=gregg.workflow_id)["totalItems"] == 4
    assert ids(logs(status="failed")) == [failed["executionId"]]
    assert logs(status="succeeded", userId="gregg")["totalItems"] == 2
    assert logs(status="queued") | {"data": None} == {
        "data": None,
        "totalItems": 0,
        "totalPages": 0,
        "currentPage": 1,
        "pageSize": 20,
    }
    refused(api.get("/logs", params={"userId": "nobody"}), 404, "userId", "nobody")
    refused(api.get("/logs", params={"workflowId": "nope"}), 404, "workflowId", "nope")


def test_sorted_by_stop_time_unfinished_executions_come_last(
    api: httpx2.Client, flow_dir: Path, block: StreamBlock, receiver_url: str
) -> None:
    info = install(api, flow_dir, block, "gregg")
    finished = run_events(api, info, 1, 2)
    ok(httpx2.post(f"{receiver_url}/_fail", json={"status": 503, "count": 1}))
    fire(api, info.user_id, 3)  # its retry waits 30 s: it stays unfinished
    pending = settled(api, info.workflow_id, info.user_id, 2)[0]
    assert (pending["inputs"], pending["stoppedAt"]) == ({"n": 3}, None)

    for order in ("asc", "desc"):
        page = ok(api.get("/logs", params={"sortBy": "stoppedAt", "sortOrder": order}))
        stopped = [e["stoppedAt"] for e in page["data"]]
        assert stopped[-1] is None
        done = [datetime.fromisoformat(s) for s in stopped[:-1]]
        assert done == sorted(done, reverse=order == "desc")
        assert len(done) == len(finished)
    by_start = ok(api.get("/logs"))["data"]
    assert by_start[0]["executionId"] == pending["executionId"]  # started last
    unfinished = [ok(api.get("/logs", params={"status": s}))["totalItems"] for s in UNFINISHED]
    assert sum(unfinished) == 1


def test_the_other_environment_and_other_users_see_nothing(
    server: Server, api: httpx2.Client, flow_dir: Path, block: StreamBlock
) -> None:
    gregg = install(api, flow_dir, block, "gregg")
    (mine,) = run_events(api, gregg, 1)
    hilda = install(api, flow_dir, block, "hilda")
    (theirs,) = run_events(api, hilda, 2)

    with server.client(server.prod_key) as prod:
        page = ok(prod.get("/logs"))
        assert (page["data"], page["totalItems"], page["totalPages"]) == ([], 0, 0)
        refused(prod.get(f"/logs/{mine['executionId']}"), 404, "executionId")
        path = f"/workflows/{gregg.workflow_id}/rerun/{mine['executionId']}"
        refused(prod.post(path, params={"userId": gregg.user_id}), 404, "userId")

    token = ok(api.get(f"/users/{gregg.user_id}/token"))["token"]
    headers = {"x-alloy-user-token": token}
    with httpx2.Client(base_url=server.url + "/2023-12", headers=headers, timeout=10) as browser:
        page = ok(browser.get("/logs"))
        assert (ids(page), page["totalItems"]) == ([mine["executionId"]], 1)
        assert ok(browser.get(f"/logs/{mine['executionId']}"))["data"]["userId"] == gregg.user_id
        refused(browser.get(f"/logs/{theirs['executionId']}"), 404, "executionId")
        refused(browser.get("/logs", params={"userId": hilda.user_id}), 404, "userId")
        path = f"/workflows/{gregg.workflow_id}/rerun/{mine['executionId']}"
        refused(browser.post(path, params={"userId": gregg.user_id}), 403)


def test_rerun_runs_the_same_payload_as_a_new_execution(
    server: Server, api: httpx2.Client, flow_dir: Path, block: StreamBlock, receiver_url: str
) -> None:
    info = install(api, flow_dir, block, "gregg")
    (first,) = run_events(api, info, 7)
    path = f"/workflows/{info.workflow_id}/rerun/{first['executionId']}"

    answer = ok(api.post(path, params={"userId": "gregg"}))
    assert set(answer) == {"message", "executionUuid"}
    assert answer["message"] == "Execution re-run"
    new_id = answer["executionUuid"]
    assert new_id != first["executionId"]
    done = settled(api, info.workflow_id, info.user_id, 2)
    assert {e["executionId"]: e["status"] for e in done} == {
        first["executionId"]: "succeeded",
        new_id: "succeeded",
    }
    again = ok(api.get(f"/logs/{new_id}"))["data"]
    assert (again["inputs"], again["userId"]) == ({"n": 7}, info.user_id)

    original, repeat = received(receiver_url)
    assert original["headers"]["x-alloy-executionuuid"] == first["executionId"]
    assert repeat["headers"]["x-alloy-executionuuid"] == new_id
    assert repeat["body"] == original["body"]
    assert repeat["verified"] is True

    with server.services.reader.connect() as conn:
        old_run, new_run = runs.get_run(conn, first["executionId"]), runs.get_run(conn, new_id)
        old_event, event = (
            runs.get_event(conn, old_run.event_id),
            runs.get_event(conn, new_run.event_id),
        )
    assert event.id != old_event.id
    assert (event.kind, event.name, event.payload) == ("rerun", old_event.name, {"n": 7})
    assert event.dedupe_key is None
    assert new_run.version_id == old_run.version_id


def test_rerun_uses_the_version_the_user_has_now(
    api: httpx2.Client, flow_dir: Path, block: StreamBlock, receiver_url: str
) -> None:
    info = install(api, flow_dir, block, "gregg")
    (first,) = run_events(api, info, 7)
    v2 = StreamBlock(block.key, block.id, block.url, body={"version": "two"})
    root = str(api.base_url).rsplit("/2023-12", 1)[0]
    with httpx2.Client(base_url=root, headers=api.headers, timeout=30) as mgmt:
        push(mgmt, write_flow(flow_dir, [v2]), release=True)
    upgrade = f"/workflows/{info.workflow_id}/upgrade"
    assert ok(api.put(upgrade, params={"userId": "gregg"}))["version"] == 2

    path = f"/workflows/{info.workflow_id}/rerun/{first['executionId']}"
    new_id = ok(api.post(path, params={"userId": "gregg"}))["executionUuid"]
    settled(api, info.workflow_id, info.user_id, 2)
    assert ok(api.get(f"/logs/{new_id}"))["data"]["status"] == "succeeded"
    original, repeat = received(receiver_url)
    assert (original["json"], repeat["json"]) == ({"n": 7}, {"version": "two"})
    assert repeat["headers"]["x-alloy-executionuuid"] == new_id


def test_rerun_is_refused_for_unknown_foreign_or_uninstalled_executions(
    api: httpx2.Client, flow_dir: Path, block: StreamBlock
) -> None:
    gregg = install(api, flow_dir, block, "gregg")
    (run,) = run_events(api, gregg, 1)
    install(api, flow_dir, block, "hilda")
    path = f"/workflows/{gregg.workflow_id}/rerun/{run['executionId']}"

    unknown = f"/workflows/{gregg.workflow_id}/rerun/nope"
    refused(api.post(unknown, params={"userId": "gregg"}), 404, "executionId", "nope")
    refused(api.post(path, params={"userId": "hilda"}), 404, "executionId")
    refused(api.post(path), 422, "userId")

    ok(api.put("/workflows/deactivate", json={"userId": "gregg", "workflowId": gregg.workflow_id}))
    refused(api.post(path, params={"userId": "gregg"}), 409, "deactivated")
    ok(api.delete(f"/workflows/{gregg.workflow_id}", params={"userId": "gregg"}))
    refused(api.post(path, params={"userId": "gregg"}), 409, "installed")
    assert len(runs_of(api, gregg.workflow_id, gregg.user_id)) == 1


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("limit", "0"),
        ("limit", "101"),
        ("limit", "many"),
        ("skip", "-1"),
        ("sortOrder", "up"),
        ("sortBy", "name"),
        ("status", "bogus"),
    ],
)
def test_bad_query_values_are_422_naming_the_parameter(
    api: httpx2.Client, param: str, value: str
) -> None:
    refused(api.get("/logs", params={param: value}), 422, param)


def test_unknown_execution_is_404(api: httpx2.Client) -> None:
    refused(api.get("/logs/000000000000000000000000"), 404, "executionId")
