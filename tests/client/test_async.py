"""The async client: the same calls, awaited, on the same real server (anyio's pytest plugin)."""

from __future__ import annotations

import anyio
import httpx2
import pytest

from solder.client import AsyncSolder, NotFound, PermissionDenied, ValidationError
from solder.client.models import Execution
from tests.client.conftest import EVENT, ON_EVENT
from tests.conftest import Server

pytestmark = pytest.mark.anyio


async def finished(client: AsyncSolder, workflow_id: str, count: int) -> list[Execution]:
    with anyio.fail_after(15):
        while True:
            runs = [r async for r in client.iter_logs(workflow_id=workflow_id, page_size=2)]
            if sum(r.status in ("succeeded", "failed") for r in runs) >= count:
                return runs
            await anyio.sleep(0.05)


@pytest.mark.usefixtures("pushed")
async def test_install_fire_twice_with_one_key_and_read_the_logs(
    server: Server, receiver_url: str
) -> None:
    async with AsyncSolder(server.url, server.dev_key, backoff=0.01) as client:
        user_id = await client.create_user("gregg")
        (parcels,) = await client.list_integrations(user_id)
        installed = await client.install(
            user_id, parcels.integration_id, lambda _b, _f: f"{receiver_url}/parcels"
        )
        assert len(installed.workflow_ids) == 2
        workflow_id = next(w.workflow_id for w in parcels.workflows if w.name == ON_EVENT)
        for n in (1, 1, 2):
            await client.run_event(EVENT, user_id, {"n": n}, idempotency_key=f"key-{n}")
        await client.run_event(EVENT, user_id, {"n": 3})
        runs = await finished(client, workflow_id, 3)
        assert sorted(r.inputs["n"] for r in runs) == [1, 2, 3]
        assert [u.username async for u in client.iter_users(page_size=1)] == ["gregg"]
        assert (await client.get_log(runs[0].execution_id)).execution_id == runs[0].execution_id

        user = client.as_user(await client.user_token(user_id))
        assert [i.installed for i in await user.list_integrations()] == [True]
        with pytest.raises(PermissionDenied):
            await user.delete_user_logs(user_id)
        assert await client.delete_user_logs(user_id) == "Success"
        assert await client.workflow_logs(workflow_id, user_id) == []


async def test_refusals_raise_the_same_errors(server: Server) -> None:
    async with AsyncSolder(server.url + "/2024-03", server.dev_key, version=None) as client:
        with pytest.raises(NotFound) as unknown:
            await client.get_user("nobody")
        assert (unknown.value.status, unknown.value.field) == (404, "userId")
        with pytest.raises(ValidationError) as invalid:
            await client.create_user("")
        assert invalid.value.field == "username"


async def test_an_async_client_can_share_an_httpx2_client(server: Server) -> None:
    async with httpx2.AsyncClient(base_url=server.url) as http:
        client = AsyncSolder(api_key=server.dev_key, http=http)
        await client.create_user("shared")
        await client.aclose()  # not its own: the shared client stays open
        assert [u.username for u in (await client.list_users()).data] == ["shared"]
