"""Solder's own routes through the client, and ``solder push`` (which sends through it)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from solder.cli import main
from solder.client import NotFound, Solder, ValidationError
from tests.client.conftest import EVENT, ON_EVENT, integration
from tests.conftest import Server


def test_push_release_and_read_back_definitions(solder: Solder) -> None:
    events = {"events": [{"name": EVENT, "body": {"n": "Number"}}]}
    (pushed_event,) = solder.push_events(events)
    assert (pushed_event.name, pushed_event.changed) == (EVENT, True)
    assert not solder.push_events(events)[0].changed

    pushed = solder.push_integration(integration())
    assert [w.changed for w in pushed.workflows] == [True, True]
    on_event = pushed.workflows[0].workflow_id
    first = solder.release_workflow(on_event)
    assert (first.version, first.released) == (1, True)
    assert solder.release_workflow(on_event).released is False  # nothing changed since
    assert solder.workflow_draft(on_event)["name"] == ON_EVENT

    broken = integration()
    broken["workflows"][0]["trigger"]["event"] = "No Such Event"
    with pytest.raises(NotFound) as refused:
        solder.push_integration(broken)
    assert "No Such Event" in refused.value.message


def test_settings_deliveries_and_the_block_catalog(solder: Solder) -> None:
    assert solder.get_settings().error_webhook_url is None
    changed = solder.update_settings(error_webhook_url="https://acme.example/errors")
    assert changed.error_webhook_url == "https://acme.example/errors"
    assert solder.get_settings() == changed
    with pytest.raises(ValidationError) as invalid:
        solder.update_settings(error_webhook_url="not a url")
    assert invalid.value.field == "errorWebhookUrl"
    framed = solder.update_settings(frame_ancestors=["https://App.Acme.example"])
    assert framed.frame_ancestors == ["https://app.acme.example"]
    assert framed.error_webhook_url is None  # a PUT replaces every setting
    with pytest.raises(ValidationError) as invalid:
        solder.update_settings(frame_ancestors=["https://acme.example/path"])
    assert invalid.value.field == "frameAncestors[0]"
    assert solder.error_deliveries() == []
    assert "streamData" in {b["type"] for b in solder.block_catalog()}


def test_solder_push_reports_what_changed_and_the_servers_refusal(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOLDER_URL", server.url)
    monkeypatch.setenv("SOLDER_API_KEY", server.dev_key)
    (tmp_path / "events.yaml").write_text(
        yaml.safe_dump({"events": [{"name": EVENT, "body": {"n": "Number"}}]})
    )
    (tmp_path / "parcels.yaml").write_text(yaml.safe_dump(integration()))
    done = CliRunner().invoke(main, ["push", str(tmp_path), "--release"])
    assert done.exit_code == 0, done.output
    assert f"event {EVENT!r}: changed (events.yaml)" in done.output
    assert done.output.count("draft changed, released v1") == 2

    broken = integration()
    broken["workflows"][0]["blocks"][0]["type"] = "noSuchBlock"
    (tmp_path / "parcels.yaml").write_text(yaml.safe_dump(broken))
    refused = CliRunner().invoke(main, ["push", str(tmp_path)])
    assert refused.exit_code == 1
    assert "error: PUT /manage/integrations: HTTP 422: " in refused.output
    assert "noSuchBlock" in refused.output

    monkeypatch.setenv("SOLDER_URL", "http://127.0.0.1:9")  # nothing listens there
    unreachable = CliRunner().invoke(main, ["push", str(tmp_path)])
    assert unreachable.exit_code == 1
    assert "error: cannot reach http://127.0.0.1:9" in unreachable.output
