"""``solder demo``: the quick-start guide, end to end, against real processes on loopback.

It starts Solder on a fresh SQLite file, the BigCommerce sandbox and a receiver standing in
for AcmeCo's server, then walks the guide: key, push, user, integrations, token, install,
an order flowing to AcmeCo, a fulfillment flowing back to BigCommerce, logs and errors.
Each step prints one line. Everything it started is stopped before it returns.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2

from solder.client import Solder, SolderAPIError
from solder.errors import SolderError

STORE_HASH = "acme-demo"
STORE_TOKEN = "demo-store-token"  # noqa: S105 - the sandbox store's made-up token
API = "2023-12"


class DemoFailed(Exception):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
        except (httpx2.TransportError, DemoFailed) as exc:
            last, value = exc, None
        if value:
            return value
        time.sleep(0.1)
    raise DemoFailed(f"timed out waiting for {what}" + (f" ({last})" if last else ""))


class Processes:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, args: list[str], env: dict[str, str]) -> None:
        log = (self.workdir / f"{name}.log").open("wb")
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-m", "solder", *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
        )
        self.procs.append((name, proc))

    def stop(self) -> None:
        for _, proc in reversed(self.procs):
            proc.terminate()
        for _, proc in reversed(self.procs):
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def step(number: int, text: str) -> Iterator[list[str]]:
    detail: list[str] = []
    yield detail
    suffix = f": {detail[0]}" if detail else ""
    print(f"[{number:2d}] {text}{suffix}", flush=True)


def ok(resp: httpx2.Response) -> Any:
    if resp.status_code >= 400:
        raise DemoFailed(
            f"{resp.request.method} {resp.request.url.path}: {resp.status_code} {resp.text}"
        )
    return resp.json()


def run_demo(workdir: Path, examples: Path | None = None, database_url: str | None = None) -> int:
    examples = examples or Path.cwd() / "examples" / "quickstart"
    if not examples.exists():
        print(f"cannot find the quick-start files at {examples}", file=sys.stderr)
        return 2
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    workdir = workdir.resolve()
    procs = Processes(workdir)
    try:
        scenario(procs, workdir, examples.resolve(), database_url)
    except (
        DemoFailed,
        SolderError,
        SolderAPIError,
        httpx2.HTTPError,
        subprocess.CalledProcessError,
    ) as exc:
        print(f"demo failed: {exc}; logs are in {workdir}", file=sys.stderr)
        return 1
    finally:
        procs.stop()
    print("demo finished: every step of the quick start worked", flush=True)
    return 0


def scenario(procs: Processes, workdir: Path, examples: Path, database_url: str | None) -> None:
    solder_port, store_port, receiver_port = free_port(), free_port(), free_port()
    solder_url = f"http://127.0.0.1:{solder_port}"
    store_url = f"http://127.0.0.1:{store_port}"
    receiver_url = f"http://127.0.0.1:{receiver_port}"
    env = {
        **os.environ,
        "SOLDER_DATABASE_URL": database_url or f"sqlite:///{workdir / 'solder.sqlite'}",
        "SOLDER_KEY_FILE": str(workdir / "solder.key"),
        "SOLDER_APP_BASE_URLS": json.dumps({"bigcommerce": store_url}),
        "SOLDER_ENGINE__BACKOFF_BASE": "0.2",
        "SOLDER_EGRESS__ALLOW_NETWORKS": '["127.0.0.1/32"]',  # loopback receivers
    }

    with step(1, "start Solder, the BigCommerce sandbox and AcmeCo's receiver") as d:
        procs.start(
            "sandbox",
            [
                "sandbox",
                "bigcommerce",
                "--port",
                str(store_port),
                "--store-hash",
                STORE_HASH,
                "--token",
                STORE_TOKEN,
            ],
            env,
        )
        procs.start("solder", ["serve", "--port", str(solder_port)], env)
        wait_for("solder", lambda: httpx2.get(f"{solder_url}/health").status_code == 200)
        procs.start(
            "receiver",
            [
                "sandbox",
                "receiver",
                "--port",
                str(receiver_port),
                "--public-key-url",
                f"{solder_url}/signing-key",
            ],
            env,
        )
        wait_for(
            "sandbox", lambda: httpx2.get(f"{store_url}/_sandbox/deliveries").status_code == 200
        )
        wait_for("receiver", lambda: httpx2.get(f"{receiver_url}/_received").status_code == 200)
        d.append(f"solder {solder_url}, store {store_url}, receiver {receiver_url}")

    with step(2, "create a development API key") as d:
        out = subprocess.run(
            [sys.executable, "-m", "solder", "keys", "create", "--env", "development"],
            env=env,
            cwd=workdir,
            check=True,
            capture_output=True,
            text=True,
        )
        key = out.stdout.strip().splitlines()[-1]
        d.append(key[: len("solder_sk_dev_")] + "… (shown once)")

    with step(3, "push and release the quick-start integration") as d:
        out = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "solder", "push", str(examples), "--release"],
            env={**env, "SOLDER_URL": solder_url, "SOLDER_API_KEY": key},
            cwd=workdir,
            check=True,
            capture_output=True,
            text=True,
        )
        d.append(
            f"{sum('released v' in line for line in out.stdout.splitlines())} workflows released"
        )

    with Solder(solder_url, key, version=API) as api:
        walk_guide(api, store_url, receiver_url)


def walk_guide(api: Solder, store_url: str, receiver_url: str) -> None:
    """Steps 4 to 10 through the Python client (``solder.client``), as an ISV's backend would."""
    with step(4, "create user gregg (POST /users)") as d:
        user_id = api.create_user("gregg")
        d.append(f"userId {user_id}")

    with step(5, "list integrations (GET /integrations?userId=...)") as d:
        integrations = api.list_integrations(user_id)
        bc = next(i for i in integrations if i.app == "BigCommerce")
        flows = {w.name: w.workflow_id for w in bc.workflows}
        d.append(f"{bc.app} with {len(flows)} workflows, installed={bc.installed}")

    with step(6, "mint a user token (GET /users/{userId}/token)") as d:
        token = api.user_token(user_id)
        d.append(f"JWT of {len(token)} characters, valid one hour")

    with step(7, "install both workflows headlessly") as d:
        credential = {
            "type": "bigcommerce",
            "data": {"storeHash": STORE_HASH, "accessToken": STORE_TOKEN},
        }
        installed = api.install(
            user_id, bc.integration_id, lambda _block, _field: f"{receiver_url}/acmeco/orders",
            credentials=[credential],
        )  # fmt: skip
        listed = api.list_integrations(user_id)
        active = sum(w.active for i in listed for w in i.workflows)
        d.append(f"installation {installed.installation_id}, {active} workflows active")

    store = httpx2.Client(
        base_url=f"{store_url}/stores/{STORE_HASH}", headers={"X-Auth-Token": STORE_TOKEN}
    )
    with store:
        order_id = place_order(store, receiver_url)
        update_fulfillment(api, store, user_id, order_id)
    show_logs(api, user_id, flows)


ADDRESS = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@example.com",
    "street_1": "1 Main St",
    "city": "Austin",
    "state": "Texas",
    "zip": "78701",
    "country": "United States",
    "country_iso2": "US",
}


def place_order(store: httpx2.Client, receiver_url: str) -> int:
    with step(8, "place an order in the BigCommerce sandbox; it reaches AcmeCo") as d:
        product = {
            "name": "Solder wire",
            "quantity": 2,
            "price_inc_tax": 12.5,
            "price_ex_tax": 12.5,
        }
        order = ok(
            store.post(
                "/v2/orders",
                json={"customer_id": 0, "billing_address": ADDRESS, "products": [product]},
            )
        )

        def arrived() -> Any:
            got = ok(httpx2.get(f"{receiver_url}/_received"))["data"]
            mine = (r for r in got if (r.get("json") or {}).get("orderId") == order["id"])
            return next(mine, None)

        record = wait_for("the order at the receiver", arrived)
        d.append(
            f"order {order['id']} arrived, total {record['json']['total']}, "
            f"signature verified={record['verified']}"
        )
        if record["verified"] is not True:
            raise DemoFailed("the receiver could not verify Solder's signature")
    return int(order["id"])


def update_fulfillment(api: Solder, store: httpx2.Client, user_id: str, order_id: int) -> None:
    with step(9, "fire Fulfillment Updated (POST /run/event); the order's status changes") as d:
        data = {"orderId": str(order_id), "status": "FULFILLED"}
        api.run_event("Fulfillment Updated", user_id, data)  # retried safely: idempotency key

        def shipped() -> Any:
            now = ok(store.get(f"/v2/orders/{order_id}"))
            return now if now["status"] == "Shipped" else None

        now = wait_for("the order status to change", shipped)
        d.append(f"order {order_id} is now {now['status']!r} (status_id {now['status_id']})")


def show_logs(api: Solder, user_id: str, flows: dict[str, str]) -> None:
    with step(10, "read the logs and errors of both workflows") as d:
        parts = []
        for n, (name, workflow_id) in enumerate(flows.items(), start=1):
            logs = list(api.iter_workflow_logs(workflow_id, user_id))
            errors = list(api.iter_workflow_errors(workflow_id))
            states = ",".join(e.status for e in logs)
            parts.append(f"#{n}: {len(logs)} run(s) [{states}], {len(errors)} errors")
            if any(e.status != "succeeded" for e in logs) or errors:
                raise DemoFailed(f"workflow {name!r} has failed runs: {errors}")
        d.append("; ".join(parts))
