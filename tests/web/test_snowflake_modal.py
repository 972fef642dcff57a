"""The install modal in a real browser connecting the end user's own Snowflake (fakesnow): a
workflow whose Snowflake block writes with ``credential: installation`` asks for the app; the
optional fields may stay empty, a refused password is said without being shown, the right one
connects, and the installed workflow writes rows as that user."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.blockflow import Flow
from tests.conftest import Server
from tests.destinations.emulators import FakeSnowflake
from tests.destinations.test_snowflake_credential import settings, snow  # noqa: F401 - fixtures
from tests.flows import ok
from tests.web.browser import install, results

pytestmark = pytest.mark.browser
PASSWORD = "modal pa ss"


def test_the_user_connects_snowflake_in_the_modal_and_the_run_writes_as_them(
    server: Server,
    api: httpx2.Client,
    page: Any,
    tmp_path: Path,
    snow: FakeSnowflake,  # noqa: F811 - the fixture
) -> None:
    load = {
        "key": "load", "type": "destination", "destination": "snowflake",
        "inputs": {"credential": "installation", "table": "orders", "mode": "merge",
                   "keyColumns": ["id"], "rows": "{{ trigger.orders }}"},
    }  # fmt: skip
    flow = Flow(api, tmp_path, [load])
    flow.release()
    flow.user_id = ok(api.post("/users", json={"username": "ada"}))["userId"]
    token = ok(api.get(f"/users/{flow.user_id}/token"))["token"]
    integration = ok(api.get("/integrations", params={"userId": flow.user_id}))["data"][0]
    flow.workflow_id = integration["workflows"][0]["workflowId"]

    modal = install(page, token, integrationId=integration["integrationId"])
    card = modal.get_by_role("region", name="Snowflake")
    card.get_by_label("Account identifier").fill("solderacct")
    card.get_by_label("User", exact=True).fill("ada")
    card.get_by_label("Database (optional)").fill(snow.database)
    card.get_by_label("Schema (optional)").fill("PUBLIC")
    snow.refused.add("wrong " + PASSWORD)
    card.get_by_label("Password (optional)").fill("wrong " + PASSWORD)
    card.get_by_role("button", name="Connect Snowflake").click()
    alert = modal.get_by_role("alert")
    alert.get_by_text("snowflake refused it").wait_for()
    assert PASSWORD not in (alert.text_content() or "")
    card.get_by_label("Password (optional)").fill(PASSWORD)
    card.get_by_role("button", name="Connect Snowflake").click()
    card.get_by_text("Connected").wait_for()
    modal.get_by_role("button", name="Continue").click()
    modal.get_by_role("button", name="Install").click()
    page.wait_for_function("window.results.length === 1")
    assert results(page) == [{"success": True, "workflowIds": [flow.workflow_id]}]

    run = flow.run({"orders": [{"id": 1, "name": "from the modal"}]})
    assert run["status"] == "succeeded", run["error"]
    assert snow.sql("SELECT id, name FROM orders") == [(1, "from the modal")]
