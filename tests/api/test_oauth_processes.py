"""One refresh per token expiry across worker processes, not only threads.

Several ``solder`` processes (each its own Python, its own connection pool) find the same
OAuth2 token a minute from expiry at the same moment; the credential's refresh lease (a
conditional update of its row) lets exactly one of them refresh it, and every process ends up
with the new token. Runs on SQLite and, in the second pass, on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time

import httpx2

from solder.apps import oauth
from solder.apps.registry import APPS
from tests.api.test_oauth import (
    SECRET,
    Provider,
    _expiring,
    _row,
    connected,
    provider,  # noqa: F401 - the fixture
)
from tests.conftest import Server

PROCESSES = 4

# Each process: load the credential, wait for the common start, ask for a usable token, and
# print its hash (the token itself stays out of the output).
SCRIPT = """
import hashlib, sys, time
from sqlalchemy import select
from solder.apps import oauth
from solder.config import Settings
from solder.runtime import services as built
from solder.store.tables import credentials
services = built.build(Settings(), upgrade=False)
cid, start = sys.argv[1], float(sys.argv[2])
with services.engine.connect() as conn:
    row = conn.execute(select(credentials).where(credentials.c.id == cid)).one()
time.sleep(max(0.0, start - time.time()))
token = oauth.usable(services, services.apps["oauth2_sandbox"], row)["accessToken"]
print(hashlib.sha256(token.encode()).hexdigest())
services.close()
"""


def test_a_token_about_to_expire_is_refreshed_once_by_one_of_many_processes(
    server: Server,
    api: httpx2.Client,
    provider: Provider,  # noqa: F811
) -> None:
    _, cid = connected(api, "gregg")
    before = oauth.usable(server.services, APPS["oauth2_sandbox"], _row(server, cid))
    _expiring(server, cid)
    settings = server.services.settings
    client = settings.oauth_clients["oauth2_sandbox"]
    env = {
        **os.environ,
        "SOLDER_DATABASE_URL": settings.database_url,
        "SOLDER_SECRET_KEY": settings.secret_key.get_secret_value(),  # type: ignore[union-attr]
        "SOLDER_OAUTH_CLIENTS": json.dumps({"oauth2_sandbox": {
            "client_id": client.client_id, "client_secret": SECRET,
            "authorize_url": client.authorize_url, "token_url": client.token_url}}),
        "SOLDER_APP_BASE_URLS": json.dumps({"oauth2_sandbox": provider.url}),
        "SOLDER_EGRESS__ALLOW_NETWORKS": json.dumps(["127.0.0.1/32"]),
    }  # fmt: skip
    start = time.time() + 8  # every process imported and connected by then, even on 2 cores
    procs = [
        subprocess.Popen([sys.executable, "-c", SCRIPT, cid, str(start)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(PROCESSES)
    ]  # fmt: skip
    outputs = [proc.communicate(timeout=60) for proc in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    late = time.time() - start
    assert late < 20, f"the processes finished {late:.1f} s after the common start"

    assert provider.book.snapshot()["refreshes"] == 1
    hashes = {out.strip() for out, _ in outputs}
    assert len(hashes) == 1  # every process got the one new token
    assert hashes != {hashlib.sha256(before["accessToken"].encode()).hexdigest()}
