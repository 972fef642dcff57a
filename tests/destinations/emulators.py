"""Local stand-ins for the cloud services no test can reach, each over real HTTP on loopback.

* Snowflake: fakesnow's server mode (``fakesnow.server.app``), which answers the official
  connector's login and query requests and runs the SQL on DuckDB. Its tables live in one
  in-memory database per process, so each test uses a database of its own. fakesnow signs
  anyone in; a thin layer in front refuses the passwords and keys a test names with the
  answer Snowflake gives (code 390100).
* EventBridge: moto's server (the same WSGI app as ``moto.server``), spoken to by boto3 with
  SigV4. ``Faults`` sits in front of it and answers chosen PutEvents entries with the per-entry
  ``ErrorCode`` EventBridge sends on a partial failure; events reach an SQS queue through a
  rule, where tests read what the bus delivered.

``Gate`` holds requests of one kind after the first ``open_for`` have passed, so a crash test
can kill a worker while a write is in flight: fakesnow's gate holds a ``COMMIT`` before it
runs; moto's holds the answer to a PutEvents after the events went on the bus.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from tests.servers import run_asgi

ACCESS_KEY = "AKIASOLDERTEST000001"
SECRET_KEY = "solder/test+secret=key"


@dataclass
class Gate:
    """Lets ``open_for`` matching requests through, holds later ones until ``release``."""

    open_for: int = 1_000_000
    seen: int = 0
    released: threading.Event = field(default_factory=threading.Event)
    held: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def passing(self) -> bool:
        """Count one request; True when it may go on now."""
        with self.lock:
            self.seen += 1
            if self.seen <= self.open_for:
                return True
        self.held.set()
        return False

    def release(self) -> None:
        self.released.set()


# --- Snowflake (fakesnow) ------------------------------------------------------------------


def _json_body(body: bytes, headers: Iterable[tuple[bytes, bytes]]) -> Any:
    import gzip

    if (b"content-encoding", b"gzip") in headers:
        body = gzip.decompress(body)
    return json.loads(body or b"{}")


def _sql_text(body: bytes, headers: Iterable[tuple[bytes, bytes]]) -> str:
    return str(_json_body(body, headers).get("sqlText", ""))


def _login_refused(body: bytes, headers: Iterable[tuple[bytes, bytes]], refused: set[str]) -> bool:
    """Whether a login request signs in with a refused password or key (by the public key's
    fingerprint, ``SHA256:...``, which the key-pair JWT names in its issuer)."""
    import base64

    data = _json_body(body, headers).get("data", {})
    if data.get("PASSWORD") in refused:
        return True
    token = data.get("TOKEN") or ""
    if data.get("AUTHENTICATOR") != "SNOWFLAKE_JWT" or token.count(".") != 2:
        return False
    claims = token.split(".")[1]
    issuer = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["iss"]
    return str(issuer).rsplit(".", 1)[-1] in refused


LOGIN_REFUSED = {
    "data": {"nextAction": None, "authnMethod": "USERNAME_PASSWORD"},
    "code": "390100",
    "message": "Incorrect username or password was specified.",
    "success": False,
    "headers": None,
}
"""What Snowflake answers a login with a wrong password or key (its documented code)."""


def _gated_asgi(app: ASGIApp, gate: Gate, statement: str, refused: set[str]) -> ASGIApp:
    """Counts query requests whose SQL is ``statement``; holds those the gate does not pass.
    Refuses logins with a password or key in ``refused`` as Snowflake does."""

    async def gated(scope: Scope, receive: Receive, send: Send) -> None:
        import anyio

        login = scope["type"] == "http" and scope["path"] == "/session/v1/login-request"
        if not login and (scope["type"] != "http" or scope["path"] != "/queries/v1/query-request"):
            await app(scope, receive, send)
            return
        messages: list[Any] = []
        while True:
            message = await receive()
            messages.append(message)
            if not message.get("more_body"):
                break
        body = b"".join(m.get("body", b"") for m in messages)
        if login and _login_refused(body, scope["headers"], refused):
            from starlette.responses import JSONResponse

            await JSONResponse(LOGIN_REFUSED)(scope, receive, send)
            return
        if not login and _sql_text(body, scope["headers"]) == statement and not gate.passing():
            await anyio.to_thread.run_sync(gate.released.wait)

        async def replay() -> Any:
            return messages.pop(0) if messages else await receive()

        await app(scope, replay, send)

    return gated


@dataclass
class FakeSnowflake:
    host: str
    port: int
    database: str
    gate: Gate
    refused: set[str] = field(default_factory=set)
    """Passwords and key fingerprints (``SHA256:...``) whose logins are refused."""

    @property
    def endpoint(self) -> str:
        """The base URL the server's ``app_base_urls`` gives the ``snowflake`` app."""
        return f"http://{self.host}:{self.port}"

    def url(self, user: str = "loader", password: str = "pa ss:w/rd", **query: str) -> str:
        from urllib.parse import quote, urlencode

        params = {"warehouse": "LOAD_WH", "host": self.host, "port": str(self.port),
                  "protocol": "http", **query}  # fmt: skip
        auth = f"{quote(user, safe='')}:{quote(password, safe='')}" if password else user
        return f"snowflake://{auth}@solderacct/{self.database}/PUBLIC?{urlencode(params)}"

    def connect(self) -> Any:
        import snowflake.connector

        return snowflake.connector.connect(
            user="admin", password="admin", account="solderacct", host=self.host,
            port=self.port, protocol="http", database=self.database, schema="PUBLIC",
            session_parameters={"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
            paramstyle="qmark",
        )  # fmt: skip

    def sql(self, text: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        conn = self.connect()
        try:
            cur = conn.cursor()
            cur.execute(text, list(params))
            return list(cur.fetchall())
        finally:
            conn.close()


@contextmanager
def fakesnow_server(gate: Gate | None = None) -> Iterator[FakeSnowflake]:
    """fakesnow on loopback; ``gate`` counts the ``COMMIT`` statements it is sent."""
    import fakesnow.server

    gate = gate or Gate()
    refused: set[str] = set()
    app = _gated_asgi(fakesnow.server.app, gate, "COMMIT", refused)
    with run_asgi(app) as url:
        host, port = url.removeprefix("http://").split(":")
        database = f"DB_{secrets.token_hex(4).upper()}"
        snow = FakeSnowflake(host, int(port), database, gate, refused)
        snow.sql(f"CREATE DATABASE IF NOT EXISTS {database}")
        snow.sql(f"CREATE SCHEMA IF NOT EXISTS {database}.PUBLIC")
        try:
            yield snow
        finally:
            gate.release()
            from solder.destinations import snowflake

            snowflake.close_all()


# --- EventBridge (moto) --------------------------------------------------------------------


Fault = Callable[[dict[str, Any]], str | None]
"""An entry of a PutEvents request -> the ErrorCode to answer it with, or None to pass it."""


@dataclass
class Faults:
    """A WSGI layer before moto: refuses chosen PutEvents entries the way EventBridge does."""

    app: Any
    gate: Gate = field(default_factory=Gate)
    fault: Fault | None = None
    calls: list[int] = field(default_factory=list)  # entries per PutEvents call
    accepted: list[dict[str, Any]] = field(default_factory=list)
    """The detail of every entry the bus took, in order: what a consumer of the bus sees."""

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.endswith(".PutEvents"):
            return self.app(environ, start_response)  # type: ignore[no-any-return]
        held = not self.gate.passing()
        try:
            return self._answer(environ, start_response)
        finally:
            if held:  # moto took the events; the answer waits
                self.gate.released.wait()

    def _answer(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        import io

        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        request = json.loads(body)
        self.calls.append(len(request["Entries"]))
        if self.fault is None:
            untouched = {**environ, "wsgi.input": io.BytesIO(body)}
            heard: list[Any] = []
            text = b"".join(self.app(untouched, lambda *a: heard.append(a)))
            if heard[0][0].startswith("200"):
                self._record(request["Entries"], json.loads(text)["Entries"])
            start_response(*heard[0])
            return [text]
        refused = {
            i: code
            for i, entry in enumerate(request["Entries"])
            if self.fault is not None and (code := self.fault(entry)) is not None
        }
        passed = [e for i, e in enumerate(request["Entries"]) if i not in refused]
        answers: list[dict[str, Any]] = []
        if passed:
            answers = self._forward(environ, {**request, "Entries": passed})
        merged = []
        for i in range(len(request["Entries"])):
            if i in refused:
                merged.append({"ErrorCode": refused[i], "ErrorMessage": "injected by the test"})
            else:
                merged.append(answers.pop(0))
        failed = sum(1 for m in merged if "ErrorCode" in m)
        out = json.dumps({"FailedEntryCount": failed, "Entries": merged}).encode()
        start_response("200 OK", [("Content-Type", "application/x-amz-json-1.1"),
                                  ("Content-Length", str(len(out)))])  # fmt: skip
        return [out]

    def _forward(self, environ: dict[str, Any], request: dict[str, Any]) -> list[dict[str, Any]]:
        import io

        body = json.dumps(request).encode()
        inner = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
        status: list[str] = []
        chunks = self.app(inner, lambda s, _h, _e=None: status.append(s))
        text = b"".join(chunks)
        assert status, text
        assert status[0].startswith("200"), (status, text)
        entries: list[dict[str, Any]] = json.loads(text)["Entries"]
        self._record(request["Entries"], entries)
        return entries

    def _record(self, sent: list[dict[str, Any]], answers: list[dict[str, Any]]) -> None:
        for entry, answer in zip(sent, answers, strict=True):
            if answer.get("EventId"):
                self.accepted.append(json.loads(entry["Detail"]))


@dataclass
class FakeAws:
    endpoint: str
    faults: Faults
    region: str = "us-east-1"

    def url(self, **query: str) -> str:
        from urllib.parse import quote, urlencode

        auth = f"{ACCESS_KEY}:{quote(SECRET_KEY, safe='')}"
        params = urlencode({"endpoint": self.endpoint, **query})
        return f"eventbridge://{auth}@{self.region}?{params}"

    def client(self, service: str) -> Any:
        import boto3

        return boto3.session.Session().client(
            service, region_name=self.region, endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
        )  # fmt: skip

    def bus_to_queue(self, bus: str) -> str:
        """Create ``bus`` and a queue that gets every event put on it; return the queue URL."""
        events, sqs = self.client("events"), self.client("sqs")
        if bus != "default":
            events.create_event_bus(Name=bus)
        queue = sqs.create_queue(QueueName=f"sink-{secrets.token_hex(4)}")["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
        rule = f"all-{secrets.token_hex(4)}"
        events.put_rule(Name=rule, EventBusName=bus,
                        EventPattern=json.dumps({"source": [{"prefix": ""}]}))  # fmt: skip
        sink = {"Id": "sink", "Arn": attrs["Attributes"]["QueueArn"]}
        events.put_targets(Rule=rule, EventBusName=bus, Targets=[sink])
        return str(queue)

    def drain(self, queue: str) -> list[dict[str, Any]]:
        """Every event the queue holds now, taken from it (hidden for an hour, not deleted)."""
        sqs = self.client("sqs")
        found: list[dict[str, Any]] = []
        while True:
            got = sqs.receive_message(
                QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=3600
            ).get("Messages", [])
            if not got:
                return found
            found += [json.loads(message["Body"]) for message in got]


@contextmanager
def moto_server() -> Iterator[FakeAws]:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    faults = Faults(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, faults, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="moto", daemon=True)
    thread.start()
    try:
        yield FakeAws(f"http://127.0.0.1:{server.server_port}", faults)
    finally:
        faults.gate.release()
        server.shutdown()
        thread.join(10)
        from solder.destinations import eventbridge

        eventbridge.forget_clients()
