"""The CLI's side of ``solder push``: read definition files and send them to a server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2

from solder.client import ConnectionFailed, Solder, SolderAPIError
from solder.client.models import Model
from solder.engine import documents
from solder.errors import BadInput

SUFFIXES = (".yaml", ".yml", ".json")


def read_documents(path: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    files = sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES) if path.is_dir() else [path]
    for file in files:
        for doc in documents.parse(file.read_text(), is_json=file.suffix == ".json",
                                   where=str(file)):  # fmt: skip
            yield file, doc


@dataclass
class PushReport:
    lines: list[str] = field(default_factory=list)


@contextmanager
def _refusals() -> Iterator[None]:
    """The server's refusal as the CLI shows it: ``PUT /manage/integrations: HTTP 422: ...``."""
    try:
        yield
    except ConnectionFailed:
        raise
    except SolderAPIError as exc:
        request = exc.response.request if exc.response is not None else None
        where = f"{request.method} {request.url.path}: " if request is not None else ""
        raise BadInput(f"{where}HTTP {exc.status}: {exc.message}", exc.field) from exc


def push(client: httpx2.Client, path: Path, *, release: bool) -> PushReport:
    """Events first (workflows name them), then integrations; release what changed.

    ``client`` carries the API key; its base URL is the server's root.
    """
    report = PushReport()
    api = Solder(http=client, version=None)
    docs = list(read_documents(path))
    with _refusals():
        for file, doc in docs:
            if "events" in doc:
                for event in api.push_events(doc):
                    state = "changed" if event.changed else "unchanged"
                    report.lines.append(f"event {event.name!r}: {state} ({file.name})")
        for file, doc in docs:
            if "integration" not in doc:
                if "events" not in doc:
                    raise BadInput(f"{file}: expected an 'integration' or 'events' document")
                continue
            pushed = api.push_integration(doc)
            report.lines.append(
                f"integration {doc['integration'].get('key')}: {pushed.integration_id}"
            )
            for wf in pushed.workflows:
                state = "changed" if wf.changed else "unchanged"
                line = f"  workflow {wf.key}: {wf.workflow_id} draft {state}"
                if release:
                    rel = api.release_workflow(wf.workflow_id)
                    verb = "released" if rel.released else "already"
                    line += f", {verb} v{rel.version}"
                report.lines.append(line)
    return report


@dataclass
class Installed:
    installation_id: str
    credential_ids: list[str]
    asked: list[dict[str, Any]]


def _json(model: Model) -> dict[str, Any]:
    return model.model_dump(by_alias=True, exclude_unset=True)


def install_headless(
    api: httpx2.Client,
    user_id: str,
    integration_id: str,
    credentials: list[dict[str, Any]],
    answer: Callable[[dict[str, Any], dict[str, Any]], Any],
) -> Installed:
    """:meth:`solder.client.Solder.install` on an ``httpx2`` client, in the server's JSON.

    ``api`` is a client on a version prefix (e.g. ``/2023-12``) carrying the API key; the
    blocks and fields given to ``answer(block, field)`` and listed in ``asked`` are the
    objects ``startInstallation`` answered.
    """
    client = Solder(http=api, version=None)
    done = client.install(
        user_id,
        integration_id,
        lambda block, field: answer(_json(block), _json(field)),
        credentials=credentials,
    )
    return Installed(done.installation_id, done.credential_ids, [_json(b) for b in done.asked])
