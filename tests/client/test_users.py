"""The client's user calls against a real server: create, list and page, tokens, errors."""

from __future__ import annotations

import pytest

from solder.client import (
    AuthenticationError,
    BadRequest,
    Conflict,
    NotFound,
    PermissionDenied,
    Solder,
    ValidationError,
)
from solder.client.models import User
from tests.conftest import Server


def test_create_read_update_and_delete_a_user(solder: Solder) -> None:
    user_id = solder.create_user("gregg", "Gregg Smith")
    user = solder.get_user("gregg")  # a username works where a userId does
    assert user == User(user_id=user_id, username="gregg", full_name="Gregg Smith")
    assert user.model_dump(by_alias=True) == {
        "userId": user_id,
        "username": "gregg",
        "fullName": "Gregg Smith",
    }
    changed = solder.update_user(user_id, full_name="Gregg S.")
    assert (changed.username, changed.full_name) == ("gregg", "Gregg S.")
    assert solder.delete_user(user_id) is True
    with pytest.raises(NotFound) as info:
        solder.get_user(user_id)
    assert info.value.status == 404
    assert info.value.field == "userId"
    assert user_id in info.value.message


def test_list_one_page_or_iterate_over_every_page(solder: Solder) -> None:
    created = solder.create_users(["u1", {"username": "u2", "fullName": "Two"}, "u3", "u4", "u5"])
    assert len(created.user_ids) == 5
    everyone = [u.username for u in solder.list_users().data]
    assert sorted(everyone) == ["u1", "u2", "u3", "u4", "u5"]
    assert solder.list_users().total_pages is None  # no page asked: all of them, uncounted
    second = solder.list_users(page=2, limit=2)
    assert [u.username for u in second.data] == everyone[2:4]
    assert (second.total_items, second.total_pages, second.current_page) == (5, 3, 2)
    assert [u.username for u in solder.iter_users(page_size=2)] == everyone


def test_a_user_token_reaches_only_its_own_user(solder: Solder) -> None:
    mine = solder.create_user("mine")
    other = solder.create_user("other")
    as_user = solder.as_user(solder.user_token(mine))
    assert as_user.get_user(mine).username == "mine"
    with pytest.raises(NotFound):
        as_user.get_user(other)
    with pytest.raises(PermissionDenied) as info:
        as_user.create_user("sneaky")  # a server-only call
    assert info.value.status == 403
    as_user.close()  # shares the connections: the server client still works
    assert solder.get_user(other).username == "other"


def test_refusals_carry_the_servers_message_field_and_status(
    solder: Solder, server: Server
) -> None:
    solder.create_user("taken")
    with pytest.raises(Conflict) as conflict:
        solder.create_user("taken")
    assert conflict.value.status == 409
    assert "taken" in conflict.value.message

    with pytest.raises(ValidationError) as invalid:
        solder.create_users([{"fullName": "no username"}])
    assert invalid.value.status == 422
    assert invalid.value.field == "users[0].username"
    assert invalid.value.message == "users[0].username: required"
    assert str(invalid.value) == "HTTP 422: users[0].username: required"

    with (
        Solder(server.url, "solder_sk_dev_unknown") as stranger,
        pytest.raises(AuthenticationError) as unknown,
    ):
        stranger.list_users()
    assert unknown.value.status == 401


def test_the_other_environments_key_sees_nothing(solder: Solder, server: Server) -> None:
    user_id = solder.create_user("dev-only")
    with Solder(server.url, server.prod_key) as prod:
        assert prod.list_users().data == []
        with pytest.raises(NotFound):
            prod.get_user(user_id)


@pytest.mark.parametrize("version", ["2023-01", "2024-03", None])
def test_every_version_prefix_reaches_the_same_api(server: Server, version: str | None) -> None:
    base = server.url if version is not None else server.url + "/2023-06"
    with Solder(base, server.dev_key, version=version) as client:
        user_id = client.create_user("versioned")
        assert client.get_user(user_id).username == "versioned"


def test_the_version_may_go_in_a_header_instead(server: Server) -> None:
    with Solder(server.url, server.dev_key, version="2025-09", version_in="header") as client:
        assert client.get_user(client.create_user("headed")).username == "headed"
    client = Solder(server.url, server.dev_key, version="1999-01", version_in="header")
    with client, pytest.raises(BadRequest) as unknown:
        client.list_users()
    assert unknown.value.field == "x-api-version"
