"""What can be installed and what the server knows: integrations, workflows, events, apps."""

from __future__ import annotations

from solder.client.calls import Call, endpoint, path
from solder.client.models import (
    AppMetadata,
    CredentialMetadata,
    EventDefinition,
    Integration,
    Option,
    Workflow,
    WorkflowUser,
    WorkflowVersion,
)


class Catalog:
    @endpoint
    def list_integrations(user_id: str | None = None) -> Call[list[Integration]]:
        """Released integrations; with ``user_id``, what that user installed and runs."""
        params = {"userId": user_id}
        return Call("GET", "/integrations", list[Integration], params=params, envelope="data")

    @endpoint
    def get_integration(integration_id: str, user_id: str | None = None) -> Call[Integration]:
        """One integration, by id, key or app name."""
        where = path("/integrations/{i}", i=integration_id)
        return Call("GET", where, Integration, params={"userId": user_id}, envelope="data")

    @endpoint
    def list_workflows(user_id: str | None = None) -> Call[list[Workflow]]:
        """Every workflow, drafts included (``version`` is ``None`` until released)."""
        params = {"userId": user_id}
        return Call("GET", "/workflows", list[Workflow], params=params, envelope="data")

    @endpoint
    def get_workflow(workflow_id: str, user_id: str | None = None) -> Call[Workflow]:
        """One workflow, by id or name; with ``user_id``, that user's state of it."""
        where = path("/workflows/{w}", w=workflow_id)
        return Call("GET", where, Workflow, params={"userId": user_id}, envelope="data")

    @endpoint
    def workflow_versions(
        workflow_id: str, user_id: str | None = None
    ) -> Call[list[WorkflowVersion]]:
        """The workflow's released versions, and its draft."""
        where = path("/workflows/{w}/versions", w=workflow_id)
        params = {"userId": user_id}
        return Call("GET", where, list[WorkflowVersion], params=params, envelope="data")

    @endpoint
    def workflow_users(workflow_id: str) -> Call[list[WorkflowUser]]:
        """The users who installed the workflow, with their version and state."""
        where = path("/workflows/{w}/users", w=workflow_id)
        return Call("GET", where, list[WorkflowUser], envelope="data")

    @endpoint
    def list_events() -> Call[list[EventDefinition]]:
        """The custom events defined, with the sample their payloads are checked against."""
        return Call("GET", "/events", list[EventDefinition], envelope="data")

    @endpoint
    def app_metadata() -> Call[list[AppMetadata]]:
        """Every app of the server: auth kind, triggers, actions with their JSON schemas."""
        return Call("GET", "/metadata/apps", list[AppMetadata], envelope="data")

    @endpoint
    def credential_metadata(app: str | None = None) -> Call[list[CredentialMetadata]]:
        """The credential fields of every app, or of ``app``."""
        where = "/metadata/credentials" if app is None else path("/metadata/credentials/{a}", a=app)
        return Call("GET", where, list[CredentialMetadata], envelope="data")

    @endpoint
    def app_options(
        app: str, name: str, credential_id: str, user_id: str | None = None
    ) -> Call[list[Option]]:
        """A dropdown's entries, loaded from the app with the user's own credential."""
        where = path("/metadata/apps/{a}/options/{n}", a=app, n=name)
        params = {"credentialId": credential_id, "userId": user_id}
        return Call("GET", where, list[Option], params=params, envelope="data")
