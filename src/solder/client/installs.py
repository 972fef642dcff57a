"""Installing workflows for a user, switching them on and off, and passthrough requests."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from solder.client.calls import Call, Script, endpoint, path
from solder.client.models import (
    AskedBlock,
    AskedField,
    CompletedInstallation,
    CredentialCreated,
    Installation,
    PassthroughResponse,
    StartedInstallation,
    Upgraded,
)

Answer = Callable[[AskedBlock, AskedField], Any]


@dataclass(frozen=True)
class Installed:
    """What :meth:`install` did: the installation, the credentials it stored, what it asked."""

    installation_id: str
    credential_ids: list[str]
    asked: list[AskedBlock]
    workflow_ids: list[str]


def _ref(user_id: str, workflow_id: str | None, workflow_name: str | None) -> dict[str, Any]:
    return {"userId": user_id, "workflowId": workflow_id, "workflowName": workflow_name}


def _start(
    user_id: str,
    integration_id: str,
    credential_ids: Sequence[str],
    workflow_ids: Sequence[str] | None,
    version_ids: Sequence[str] | None = None,
    output_override: Mapping[str, Any] | None = None,
) -> Call[StartedInstallation]:
    body = {
        "userId": user_id,
        "integrationId": integration_id,
        "credentialIds": list(credential_ids),
        "workflowIds": None if workflow_ids is None else list(workflow_ids),
        "versionIds": None if version_ids is None else list(version_ids),
        "outputOverride": None if output_override is None else dict(output_override),
    }
    return Call("POST", "/headless/startInstallation", StartedInstallation, json=body)


def _complete(
    installation_id: str, answers: Sequence[Mapping[str, Any]]
) -> Call[CompletedInstallation]:
    body = {"installationId": installation_id, "data": [dict(a) for a in answers]}
    return Call("POST", "/headless/completeInstallation", CompletedInstallation, json=body)


def _credential(user_id: str, type: str, data: Mapping[str, Any]) -> Call[CredentialCreated]:
    body = {"userId": user_id, "credential": {"type": type, "data": dict(data)}}
    return Call("POST", "/headless/credentials", CredentialCreated, json=body)


class Installs:
    @endpoint
    def activate_workflow(
        user_id: str, workflow_id: str | None = None, *, workflow_name: str | None = None
    ) -> Call[bool]:
        """Switch the user's copy of a workflow on; returns ``True``."""
        body = _ref(user_id, workflow_id, workflow_name)
        return Call("PUT", "/workflows/activate", bool, json=body, envelope="activated")

    @endpoint
    def deactivate_workflow(
        user_id: str, workflow_id: str | None = None, *, workflow_name: str | None = None
    ) -> Call[bool]:
        """Switch it off; returns the server's ``activated`` flag, so ``False``."""
        body = _ref(user_id, workflow_id, workflow_name)
        return Call("PUT", "/workflows/deactivate", bool, json=body, envelope="activated")

    @endpoint
    def upgrade_workflow(workflow_id: str, user_id: str) -> Call[Upgraded]:
        """Move the user's copy to the newest released version, carrying answers over; a new
        required field without a default is a ``Conflict`` naming it."""
        where = path("/workflows/{w}/upgrade", w=workflow_id)
        return Call("PUT", where, Upgraded, params={"userId": user_id})

    @endpoint
    def uninstall_workflow(workflow_id: str, user_id: str | None = None) -> Call[bool]:
        """Remove the user's copy; returns ``True``."""
        where = path("/workflows/{w}", w=workflow_id)
        return Call("DELETE", where, bool, params={"userId": user_id}, envelope="deleted")

    @endpoint
    def list_installations(user_id: str | None = None) -> Call[list[Installation]]:
        """Installations of the environment, or of one user."""
        params = {"userId": user_id}
        return Call("GET", "/installations", list[Installation], params=params, envelope="data")

    @endpoint
    def get_installation(installation_id: str) -> Call[Installation]:
        """One installation: its answers, credentials, workflows and whether it runs."""
        where = path("/installations/{i}", i=installation_id)
        return Call("GET", where, Installation, envelope="data")

    @endpoint
    def create_credential(user_id: str, type: str, data: Mapping[str, Any]) -> Call[str]:
        """Store a credential for the user (checked with the app first); returns its id."""
        body = _credential(user_id, type, data).json
        return Call("POST", "/headless/credentials", str, json=body, envelope="credentialId")

    @endpoint
    def oauth_url(app: str, user_id: str | None = None) -> Call[str]:
        """The consent URL that connects the user's account of an OAuth2 app."""
        params = {"app": app, "userId": user_id}
        return Call("GET", "/headless/oauthUrl", str, params=params, envelope=("data", "oauthUrl"))

    @endpoint
    def start_installation(
        user_id: str,
        integration_id: str,
        credential_ids: Sequence[str] = (),
        workflow_ids: Sequence[str] | None = None,
        *,
        version_ids: Sequence[str] | None = None,
        output_override: Mapping[str, Any] | None = None,
    ) -> Call[StartedInstallation]:
        """Begin a headless install; the result lists every field the user must answer.

        ``version_ids``: with ``workflow_ids`` one per workflow in order (``""``: the newest),
        else version ids of the integration's workflows. ``output_override``: ``{url,
        headers}`` for the installation's Stream Data blocks."""
        return _start(
            user_id, integration_id, credential_ids, workflow_ids, version_ids, output_override
        )

    @endpoint
    def complete_installation(
        installation_id: str, answers: Sequence[Mapping[str, Any]]
    ) -> Call[CompletedInstallation]:
        """Finish it: ``answers`` are ``{workflowId, blockId, fields: [{name, value}]}``."""
        return _complete(installation_id, answers)

    @endpoint
    def install(
        user_id: str,
        integration_id: str,
        answer: Answer,
        *,
        credentials: Sequence[Mapping[str, Any]] = (),
        credential_ids: Sequence[str] = (),
        workflow_ids: Sequence[str] | None = None,
        version_ids: Sequence[str] | None = None,
        output_override: Mapping[str, Any] | None = None,
    ) -> Script[Installed]:
        """Install an integration for a user without the modal, as an ISV backend does.

        ``credentials`` (``{"type": app, "data": {...}}``) are stored first and used with
        ``credential_ids``; ``answer(block, field)`` gives the value of each asked field.
        """
        ids = list(credential_ids)
        for c in credentials:
            created = yield _credential(user_id, c["type"], c["data"])
            ids.append(created.credential_id)
        started = yield _start(
            user_id, integration_id, ids, workflow_ids, version_ids, output_override
        )
        answers = [
            {
                "workflowId": block.workflow_id,
                "blockId": block.block_id,
                "fields": [{"name": f.name, "value": answer(block, f)} for f in block.fields],
            }
            for block in started.data
        ]
        done = yield _complete(started.installation_id, answers)
        return Installed(started.installation_id, ids, started.data, done.workflow_ids)

    @endpoint
    def passthrough(
        credential_id: str,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Call[PassthroughResponse]:
        """One request to the app's API with the user's stored credential. The provider's
        own refusals (its 4xx) come back as the result, with their ``status_code``; Solder's
        refusals (a path outside the app's API) raise."""
        request = {"method": method, "path": path, "body": body, "query": query,
                   "extraHeaders": extra_headers}  # fmt: skip
        params = {"credentialId": credential_id}
        return Call("POST", "/passthrough", PassthroughResponse, params=params,
                    json=request, passthrough=True)  # fmt: skip
