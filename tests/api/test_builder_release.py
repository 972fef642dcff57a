"""Releasing from the builder: a version note kept with the version and shown in its history."""

from __future__ import annotations

import httpx2

from tests.api.builder import manager, quickstart, refused
from tests.conftest import Server
from tests.flows import ok


def versions(mgmt: httpx2.Client, workflow_id: str) -> list[dict[str, object]]:
    answer = ok(mgmt.get(f"/2023-12/workflows/{workflow_id}/versions"))
    data: list[dict[str, object]] = answer["data"]
    return data


def test_a_release_keeps_its_note_and_the_history_shows_it(server: Server) -> None:
    with manager(server) as mgmt:
        wf = quickstart(mgmt)["new-order-to-acmeco"]
        first = ok(mgmt.post(f"/manage/workflows/{wf}/release", json={"note": "First cut"}))
        assert first == {"workflowId": wf, "version": 1, "released": True}
        # nothing changed: no new version, and the first note stays
        again = ok(mgmt.post(f"/manage/workflows/{wf}/release", json={"note": "ignored"}))
        assert again["released"] is False
        history = versions(mgmt, wf)
        assert [(v["version"], v["note"]) for v in history] == [(1, "First cut")]


def test_the_body_stays_optional(server: Server) -> None:
    with manager(server) as mgmt:
        wf = quickstart(mgmt)["new-order-to-acmeco"]
        assert ok(mgmt.post(f"/manage/workflows/{wf}/release"))["version"] == 1
        assert versions(mgmt, wf)[0]["note"] is None


def test_a_draft_ahead_of_its_versions_is_listed_without_a_note(server: Server) -> None:
    with manager(server) as mgmt:
        wf = quickstart(mgmt)["new-order-to-acmeco"]
        history = versions(mgmt, wf)
        assert history[0]["status"] == "draft"
        assert history[0]["note"] is None


def test_a_bad_note_is_refused_naming_it(server: Server) -> None:
    with manager(server) as mgmt:
        wf = quickstart(mgmt)["new-order-to-acmeco"]
        refused(mgmt.post(f"/manage/workflows/{wf}/release", json={"note": "x" * 2001}), "note")
        refused(mgmt.post(f"/manage/workflows/{wf}/release", json={"note": 5}), "note")
        refused(mgmt.post(f"/manage/workflows/{wf}/release", json={"notes": "x"}), "notes")
        # nothing was released by the refusals
        assert ok(mgmt.post(f"/manage/workflows/{wf}/release"))["version"] == 1
