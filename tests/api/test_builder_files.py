"""Export and import of definition files: the builder and git hold the same workflows."""

from __future__ import annotations

import json
from pathlib import Path

import httpx2
import yaml

from solder.push import push
from tests.api.builder import QUICKSTART_FILES, manager, quickstart, refused
from tests.conftest import Server
from tests.flows import ok

YAML = {"Content-Type": "text/yaml"}
JSON = {"Content-Type": "application/json"}

# Written by hand in the style of docs/workflows.md: flow mappings, nested blocks of every
# kind, user fields, a block with an id of its own and a multi-line code block.
HAND_WRITTEN = """\
integration: {key: shop, app: bigcommerce, name: Shop}
workflows:
  - key: big-orders
    name: Tell the warehouse about big orders
    trigger: {key: placed, type: appEvent, app: bigcommerce, event: order_created}
    blocks:
      - key: big
        type: if
        inputs: {condition: "{{ $number(trigger.total_inc_tax) > 500 }}"}
        then:
          - key: warn
            type: streamData
            fields: [{name: url, type: url, displayName: Your webhook}]
            inputs: {body: {order: "{{ trigger.id }}"}}
        else:
          - key: note
            id: 0b9e5c43-6c5e-4a53-a4a3-3d4f1b2f9e10
            type: code
            code: |
              function main(input) {
                return {small: true, id: input.id};
              }
            inputs: {id: "{{ trigger.id }}"}
      - key: route
        type: branch
        paths:
          - key: paid
            condition: "{{ trigger.status = 'Paid' }}"
            blocks:
              - {key: each, type: iterate, inputs: {items: "{{ trigger.products }}"},
                 blocks: [{key: line, type: formatter, operation: text.upper,
                           inputs: {value: "{{ item.name }}"}}]}
        default:
          - {key: done, type: stop, inputs: {status: succeeded}}
"""


def export(mgmt: httpx2.Client, integration: str, fmt: str = "yaml", **params: str) -> str:
    resp = mgmt.get(f"/manage/integrations/{integration}/export", params={"format": fmt, **params})
    assert resp.status_code == 200, resp.text
    media = "text/yaml" if fmt == "yaml" else "application/json"
    assert resp.headers["content-type"].startswith(media)
    return resp.text


def import_(mgmt: httpx2.Client, text: str, headers: dict[str, str], **params: str) -> dict:
    return dict(ok(mgmt.post("/manage/import", content=text, headers=headers, params=params)))


def test_the_quick_start_round_trips_byte_for_byte(server: Server) -> None:
    with manager(server) as mgmt:
        ids = quickstart(mgmt)
        integration = "bigcommerce-quickstart"
        first = export(mgmt, integration)
        report = import_(mgmt, first, YAML)
        assert sorted((w["key"], w["changed"]) for w in report["workflows"]) == [
            ("fulfillment-to-bigcommerce", False),
            ("new-order-to-acmeco", False),
        ]
        assert {w["workflowId"] for w in report["workflows"]} == set(ids.values())
        assert export(mgmt, integration) == first
        # what push stored and what the export says are the same definitions
        pushed = yaml.safe_load(QUICKSTART_FILES[1].read_text())
        exported = yaml.safe_load(first)
        assert exported["integration"] == pushed["integration"]
        assert [w["key"] for w in exported["workflows"]] == [w["key"] for w in pushed["workflows"]]
        # no derived ids, and the keys in the model's order
        assert "id:" not in first
        trigger = exported["workflows"][0]["trigger"]
        assert list(trigger) == ["key", "name", "type", "app", "event"]


def test_json_round_trips_too_with_a_two_space_indent(server: Server) -> None:
    with manager(server) as mgmt:
        quickstart(mgmt)
        first = export(mgmt, "bigcommerce-quickstart", "json")
        assert first.endswith("}\n")
        assert first.startswith('{\n  "integration": {\n    "key": "bigcommerce-quickstart",')
        report = import_(mgmt, first, JSON)
        assert [w["changed"] for w in report["workflows"]] == [False, False]
        assert export(mgmt, "bigcommerce-quickstart", "json") == first
        as_yaml = export(mgmt, "bigcommerce-quickstart")
        assert yaml.safe_load(as_yaml) == json.loads(first)


def test_a_hand_written_file_imports_and_re_exports_stably(server: Server) -> None:
    with manager(server) as mgmt:
        report = import_(mgmt, HAND_WRITTEN, {"Content-Type": "application/yaml"})
        assert [(w["key"], w["changed"]) for w in report["workflows"]] == [("big-orders", True)]
        first = export(mgmt, report["integrationId"])
        again = import_(mgmt, first, YAML)
        assert [w["changed"] for w in again["workflows"]] == [False]
        assert export(mgmt, report["integrationId"]) == first
        doc = yaml.safe_load(first)
        blocks = doc["workflows"][0]["blocks"]
        # the id given by hand stays, the derived ones are left out
        assert blocks[0]["else"][0]["id"] == "0b9e5c43-6c5e-4a53-a4a3-3d4f1b2f9e10"
        assert "id" not in blocks[0]
        assert "id" not in blocks[0]["then"][0]
        # text with line breaks is written as a block, and reads back the same
        assert "code: |\n" in first
        assert blocks[0]["else"][0]["code"].startswith("function main(input) {\n")
        assert blocks[1]["paths"][0]["blocks"][0]["blocks"][0]["operation"] == "text.upper"
        assert list(blocks[0]["then"][0]["fields"][0]) == ["name", "displayName", "type"]


def test_an_export_of_one_workflow_and_bad_queries(server: Server) -> None:
    with manager(server) as mgmt:
        quickstart(mgmt)
        one = yaml.safe_load(export(mgmt, "bigcommerce-quickstart", workflow="new-order-to-acmeco"))
        assert [w["key"] for w in one["workflows"]] == ["new-order-to-acmeco"]
        path = "/manage/integrations/bigcommerce-quickstart/export"
        refused(mgmt.get(path, params={"format": "xml"}), "format")
        resp = mgmt.get(path, params={"workflow": "nope"})
        assert resp.status_code == 404
        assert resp.json()["field"] == "workflow"
        resp = mgmt.get("/manage/integrations/nope/export")
        assert resp.status_code == 404
        assert resp.json()["field"] == "integrationId"


def test_an_import_with_release_reports_versions(server: Server) -> None:
    with manager(server) as mgmt:
        events = QUICKSTART_FILES[0].read_text()
        text = events + "---\n" + QUICKSTART_FILES[1].read_text()
        report = import_(mgmt, text, YAML, release="true")
        assert report["events"] == [{"name": "Fulfillment Updated", "changed": True}]
        assert [(w["changed"], w["version"]) for w in report["workflows"]] == [(True, 1)] * 2
        again = import_(mgmt, text, YAML, release="true")
        assert [(w["changed"], w["version"]) for w in again["workflows"]] == [(False, 1)] * 2


def test_a_bad_import_is_refused_whole_naming_the_field(server: Server) -> None:
    with manager(server) as mgmt:
        refused(mgmt.post("/manage/import", content="a: 1", headers={"Content-Type": "text/csv"}),
                "Content-Type")  # fmt: skip
        refused(mgmt.post("/manage/import", content="a: [", headers=YAML), "body")
        refused(mgmt.post("/manage/import", content="- 1\n", headers=YAML), "body")
        refused(mgmt.post("/manage/import", content="other: 1\n", headers=YAML), "body")
        laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
            f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
            for p, c in zip("abcdefg", "bcdefgh", strict=True)
        )
        body = refused(mgmt.post("/manage/import", content=laughs, headers=YAML), "body")
        assert "aliases" in body["message"]
        # the events document is good, the integration is not: nothing is stored
        doc = yaml.safe_load(QUICKSTART_FILES[1].read_text())
        doc["workflows"][0]["blocks"][0]["type"] = "teleport"
        text = QUICKSTART_FILES[0].read_text() + "---\n" + yaml.safe_dump(doc)
        body = refused(mgmt.post("/manage/import", content=text, headers=YAML),
                       "workflows[0].blocks[0]")  # fmt: skip
        assert "teleport" in body["message"]
        assert ok(mgmt.get("/2023-12/events"))["data"] == []
        assert ok(mgmt.get("/2023-12/integrations"))["data"] == []


def test_solder_push_reads_an_export_as_unchanged(server: Server, tmp_path: Path) -> None:
    """The builder's file goes to git and comes back through the CLI without a change."""
    with manager(server) as mgmt:
        report = import_(mgmt, HAND_WRITTEN, YAML)
        folder = tmp_path / "defs"
        folder.mkdir()
        (folder / "shop.yaml").write_text(export(mgmt, report["integrationId"]))
        (folder / "shop.json").write_text(export(mgmt, report["integrationId"], "json"))
        lines = push(mgmt, folder, release=False).lines
        assert [line.split(": ", 1)[1] for line in lines if "workflow" in line] == [
            f"{report['workflows'][0]['workflowId']} draft unchanged"
        ] * 2
