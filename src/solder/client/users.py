"""Users, their tokens, credentials and install links (``/users``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from solder.client.calls import Call, Paged, endpoint, pages, path
from solder.client.models import Credential, Page, User, UsersCreated


def _users_page(parent_workflow_id: str | None, page: int | None, limit: int | None) -> Call[Any]:
    params = {"parentWorkflowId": parent_workflow_id, "page": page, "limit": limit}
    return Call("GET", "/users", Page[User], params=params)


class Users:
    @endpoint
    def create_user(username: str, full_name: str | None = None) -> Call[str]:
        """Create an end user; returns its ``userId``. A taken username is a ``Conflict``."""
        body = {"username": username, "fullName": full_name}
        return Call("POST", "/users", str, json=body, envelope="userId")

    @endpoint
    def create_users(users: Sequence[str | Mapping[str, Any]]) -> Call[UsersCreated]:
        """Create up to 1000 users at once, all or none: usernames, or ``{username, fullName}``
        objects."""
        body = [{"username": u} if isinstance(u, str) else dict(u) for u in users]
        return Call("POST", "/users/batch", UsersCreated, json={"users": body})

    @endpoint
    def list_users(
        parent_workflow_id: str | None = None, page: int | None = None, limit: int | None = None
    ) -> Call[Page[User]]:
        """Users (those who installed ``parent_workflow_id``, if given). Without ``page`` the
        server sends them all and the totals are ``None``."""
        return _users_page(parent_workflow_id, page, limit)

    @pages
    def iter_users(parent_workflow_id: str | None = None, page_size: int = 100) -> Paged[User]:
        """Every user, fetched ``page_size`` at a time."""
        return Paged(lambda n: _users_page(parent_workflow_id, n, page_size), page_size)

    @endpoint
    def get_user(user_id: str) -> Call[User]:
        """One user, by ``userId`` or username."""
        return Call("GET", path("/users/{u}", u=user_id), User)

    @endpoint
    def update_user(
        user_id: str, *, username: str | None = None, full_name: str | None = None
    ) -> Call[User]:
        """Change a user's username and/or full name; returns the user as stored."""
        body = {"username": username} if username is not None else {}
        if full_name is not None:
            body["fullName"] = full_name
        return Call("PUT", path("/users/{u}", u=user_id), User, json=body)

    @endpoint
    def delete_user(user_id: str) -> Call[bool]:
        """Delete a user, deactivating their workflows first."""
        return Call("DELETE", path("/users/{u}", u=user_id), bool, envelope="success")

    @endpoint
    def delete_user_logs(user_id: str) -> Call[str]:
        """GDPR purge: every execution log, error and stored payload of the user."""
        return Call("DELETE", path("/users/{u}/logs", u=user_id), str, envelope="message")

    @endpoint
    def user_token(user_id: str) -> Call[str]:
        """A JWT for the user, valid one hour, for the frontend SDK or :meth:`as_user`."""
        return Call("GET", path("/users/{u}/token", u=user_id), str, envelope="token")

    @endpoint
    def deactivate_user_workflows(user_id: str) -> Call[str]:
        """Switch off every workflow the user installed; returns the server's message."""
        where = path("/users/{u}/deactivate-workflows", u=user_id)
        return Call("PUT", where, str, envelope="message")

    @endpoint
    def list_credentials(user_id: str) -> Call[list[Credential]]:
        """The user's stored credentials (never their secrets)."""
        where = path("/users/{u}/credentials", u=user_id)
        return Call("GET", where, list[Credential], envelope="data")

    @endpoint
    def delete_credential(user_id: str, credential_id: str) -> Call[bool]:
        """Forget one of the user's credentials; returns ``True``."""
        where = path("/users/{u}/credentials/{c}", u=user_id, c=credential_id)
        return Call("DELETE", where, bool, envelope="success")

    @endpoint
    def install_url(user_id: str, integration_id: str) -> Call[str]:
        """A hosted, single-use install link for the user (valid seven days)."""
        where = path("/users/{u}/integrations/{i}/install-url", u=user_id, i=integration_id)
        return Call("GET", where, str, envelope="url")
