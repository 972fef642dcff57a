"""Installing headlessly, running, and reading what ran, through the client on a real server."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from solder.client import Conflict, Installed, NotFound, Solder, ValidationError
from solder.client.models import AskedBlock, AskedField, Execution
from tests.client.conftest import EVENT, ON_EVENT, ON_HOOK, fail_next, integration, push_flow
from tests.conftest import Server


def install(solder: Solder, username: str, receiver_url: str) -> tuple[str, Installed]:
    user_id = solder.create_user(username)
    (parcels,) = solder.list_integrations(user_id)
    asked: list[tuple[str, str]] = []

    def answer(block: AskedBlock, field: AskedField) -> str:
        asked.append((block.workflow_id, field.name))
        return f"{receiver_url}/parcels"

    installed = solder.install(user_id, parcels.integration_id, answer)
    assert sorted(asked) == sorted((w.workflow_id, "url") for w in parcels.workflows)
    return user_id, installed


def finished(solder: Solder, workflow_id: str, user_id: str, count: int) -> list[Execution]:
    """The workflow's runs for the user, once ``count`` of them finished."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        runs = solder.workflow_logs(workflow_id, user_id, limit=30)
        if sum(r.status in ("succeeded", "failed") for r in runs) >= count:
            return runs
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {count} finished runs")


@pytest.mark.usefixtures("pushed")
def test_install_list_and_read_the_catalog(solder: Solder, receiver_url: str) -> None:
    user_id, installed = install(solder, "gregg", receiver_url)
    (parcels,) = solder.list_integrations(user_id)
    assert parcels.installed
    assert {w.name: (w.active, w.version) for w in parcels.workflows} == {
        ON_EVENT: (True, 1),
        ON_HOOK: (True, 1),
    }
    assert solder.get_integration("parcels", user_id) == parcels
    workflows = {w.name: w for w in solder.list_workflows(user_id)}
    on_event = workflows[ON_EVENT]
    assert solder.get_workflow(on_event.workflow_id, user_id).installed_version == 1
    (version,) = solder.workflow_versions(on_event.workflow_id)
    assert (version.version_name, version.status) == ("v1", "released")
    (who,) = solder.workflow_users(on_event.workflow_id)
    assert (who.user_id, who.workflow_active, who.installed_version) == (user_id, True, 1)
    assert [e.name for e in solder.list_events()] == [EVENT]

    (installation,) = solder.list_installations(user_id)
    assert installation.installation_id == installed.installation_id
    assert sorted(installation.workflow_ids) == sorted(installed.workflow_ids)
    assert solder.get_installation(installed.installation_id).enabled
    assert solder.install_url(user_id, parcels.integration_id).startswith("http")


@pytest.mark.usefixtures("pushed")
def test_an_event_sent_twice_with_one_key_runs_once(solder: Solder, receiver_url: str) -> None:
    user_id, _ = install(solder, "gregg", receiver_url)
    flows = {w.name: w.workflow_id for w in solder.list_workflows()}
    sent = "Event successfully triggered"
    assert solder.run_event(EVENT, user_id, {"n": 1}, idempotency_key="order-1") == sent
    assert solder.run_event(EVENT, user_id, {"n": 1}, idempotency_key="order-1") == sent
    assert solder.run_event(EVENT, user_id, {"n": 2}) == sent  # a fresh key of its own
    assert solder.run_event(EVENT, user_id, {"n": 2}) == sent  # another one: a second run
    runs = finished(solder, flows[ON_EVENT], user_id, 3)
    assert sorted(r.inputs["n"] for r in runs) == [1, 2, 2]
    with pytest.raises(Conflict) as reused:
        solder.run_event(EVENT, user_id, {"n": 3}, idempotency_key="order-1")
    assert reused.value.field == "Idempotency-Key"

    hook = flows[ON_HOOK]
    assert solder.run_workflow(user_id, hook, {"x": 1}, idempotency_key="call-1") == "success"
    assert solder.run_workflow(user_id, hook, {"x": 1}, idempotency_key="call-1") == "success"
    assert solder.run_workflow(user_id, workflow_name=ON_HOOK, data={"x": 2}) == "success"
    assert sorted(r.inputs["x"] for r in finished(solder, hook, user_id, 2)) == [1, 2]

    with pytest.raises(ValidationError) as bad:
        solder.run_event(EVENT, user_id, {"n": "one"})
    assert bad.value.field is not None
    assert bad.value.field.endswith("n")


@pytest.mark.usefixtures("pushed")
def test_logs_errors_pages_and_reruns(solder: Solder, receiver_url: str) -> None:
    user_id, _ = install(solder, "gregg", receiver_url)
    workflow_id = next(w.workflow_id for w in solder.list_workflows() if w.name == ON_EVENT)
    fail_next(receiver_url)
    solder.run_event(EVENT, user_id, {"n": 0})
    finished(solder, workflow_id, user_id, 1)
    for n in range(1, 5):
        solder.run_event(EVENT, user_id, {"n": n})
    runs = finished(solder, workflow_id, user_id, 5)

    every = list(solder.iter_workflow_logs(workflow_id, user_id, page_size=2))
    assert [r.execution_id for r in every] == [r.execution_id for r in runs]
    assert len(solder.workflow_logs(workflow_id, user_id, page=3, limit=2)) == 1
    (failed,) = solder.workflow_logs(workflow_id, user_id, errors_only=True)
    assert failed.inputs == {"n": 0}
    (error,) = solder.workflow_errors(workflow_id, user_id)
    assert error.execution_id == failed.execution_id
    assert error.message
    assert [e.execution_id for e in solder.iter_workflow_errors(workflow_id, page_size=1)] == [
        failed.execution_id
    ]

    page = solder.list_logs(limit=2, user_id=user_id, sort_order="asc")
    assert (page.total_items, page.total_pages, len(page.data)) == (5, 3, 2)
    assert [r.execution_id for r in solder.iter_logs(user_id=user_id, page_size=2)] == [
        r.execution_id for r in runs
    ]
    assert [r.execution_id for r in solder.iter_logs(status="failed")] == [failed.execution_id]
    detail = solder.get_log(failed.execution_id)
    assert (detail.status, detail.workflow_id, detail.user_id) == ("failed", workflow_id, user_id)
    assert [r.block_type for r in detail.results] == ["customEvent", "streamData"]
    assert "HTTP 400" in str(detail.results[-1].error)

    again = solder.rerun(workflow_id, failed.execution_id, user_id)
    assert again.execution_uuid != failed.execution_id
    finished(solder, workflow_id, user_id, 6)
    assert solder.get_log(again.execution_uuid).inputs == {"n": 0}

    assert solder.delete_user_logs(user_id) == "Success"
    assert solder.workflow_logs(workflow_id, user_id) == []
    with pytest.raises(NotFound) as gone:
        solder.get_log(failed.execution_id)
    assert gone.value.field == "executionId"


def test_switch_off_and_on_upgrade_and_uninstall(
    solder: Solder, server: Server, tmp_path: Path, receiver_url: str
) -> None:
    push_flow(server, tmp_path / "v1", integration())
    user_id, _ = install(solder, "gregg", receiver_url)
    hook = next(w.workflow_id for w in solder.list_workflows() if w.name == ON_HOOK)

    assert solder.deactivate_workflow(user_id, hook) is False
    assert not solder.get_workflow(hook, user_id).active
    with pytest.raises(Conflict, match="deactivated"):
        solder.run_workflow(user_id, hook)
    assert solder.activate_workflow(user_id, workflow_name=ON_HOOK) is True
    assert solder.get_workflow(hook, user_id).active
    assert "2 workflows deactivated" in solder.deactivate_user_workflows(user_id)
    assert not any(w.active for w in solder.list_workflows(user_id))
    solder.activate_workflow(user_id, hook)

    # v2 adds a field with a default: the user's answers carry over
    field = {"name": "url", "type": "url", "required": True}
    v2 = integration(field)
    v2["workflows"][1]["blocks"][0]["fields"].append(
        {"name": "channel", "type": "string", "default": "web"}
    )
    push_flow(server, tmp_path / "v2", v2)
    assert solder.get_workflow(hook, user_id).version == 2
    upgraded = solder.upgrade_workflow(hook, user_id)
    assert upgraded.version == 2
    assert solder.get_workflow(hook, user_id).installed_version == 2

    assert solder.uninstall_workflow(hook, user_id) is True
    assert not solder.get_workflow(hook, user_id).installed
    with pytest.raises(NotFound):
        solder.upgrade_workflow(hook, user_id)
