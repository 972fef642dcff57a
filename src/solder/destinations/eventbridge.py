"""Amazon EventBridge: put events on a bus with PutEvents, ten entries per call at most.

The connection is a named server connection (``destination_connections``)::

    eventbridge://ACCESS_KEY_ID:SECRET_ACCESS_KEY@us-east-1
    eventbridge://us-east-1                       (boto3's own chain: env, profile, role)
    eventbridge://KEY:SECRET@us-east-1?endpoint=http://127.0.0.1:5000&session_token=...

``endpoint`` sends the calls elsewhere (a VPC endpoint, or the local emulator the tests use).
Like every URL in the server's settings (SQL connections, app base URLs) it is the operator's
choice, so the egress guard for workflow URLs does not apply to it.

Each element of ``events`` becomes one entry: ``Source`` and ``DetailType`` from the block,
``Detail`` the element as JSON plus ``solderEventId`` = ``<idempotency key>/<index>``, the
same on every attempt of the step. EventBridge does not deduplicate, so a step repeated after
a crash puts its events again; consumers that must see each event once keep the ids they have
seen (``detail.solderEventId``) and drop repeats.

A response with ``FailedEntryCount`` is read entry by entry: entries that went through are
never sent again within the call; entries refused for a passing reason (``ThrottlingException``,
``InternalFailure``) are sent again, alone, up to ``ROUNDS`` times; any other refusal fails the
block naming ``events[i]``, once the others are sent. Entries accepted by an attempt that then
failed are remembered in this process, so the engine's retry of the block does not resend them.

Errors (``_translate``)::

    network, timeouts, throttling, 5xx         -> RetryableError
    credentials refused or missing             -> FatalError (field connection)
    unknown bus                                -> FatalError (field eventBus)
    an entry refused for good, bad request     -> FatalError (field events)
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from solder.destinations.base import Destination, DestinationCall
from solder.errors import FatalError, RetryableError, StepError

log = logging.getLogger(__name__)

MAX_ENTRIES = 10
MAX_REQUEST_BYTES = 256 * 1024
ROUNDS = 4
PAUSES = (0.2, 0.5, 1.0)
RETRYABLE_ENTRY = frozenset({"ThrottlingException", "InternalFailure", "InternalException"})
CREDENTIAL_CODES = frozenset(
    {
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "NotAuthorizedForSourceException",
    }
)
RETRYABLE_CODES = frozenset(
    {"ThrottlingException", "InternalException", "InternalFailure", "ServiceUnavailable"}
)
REGION = re.compile(r"^[a-z]{2}(-[a-z0-9]+)+-\d+$")
ID_FIELD = "solderEventId"
MEMO = 512

INPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "source": {"type": "string", "minLength": 1, "maxLength": 256},
        "detailType": {"type": "string", "minLength": 1, "maxLength": 128},
        "eventBus": {
            "type": "string",
            "minLength": 1,
            "maxLength": 1600,
            "description": "the bus's name or ARN; default: the account's default bus",
        },
        "events": {
            "description": "the events' details; a single object is one event",
            "oneOf": [{"type": "array", "items": {"type": "object"}}, {"type": "object"}],
        },
    },
    "required": ["source", "detailType", "events"],
    "additionalProperties": False,
}
OUTPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "eventBus": {"type": "string"},
        "events": {"type": "integer"},
        "eventIds": {"type": "array", "items": {"type": "string"}},
    },
}


@dataclass(frozen=True)
class Connection:
    name: str
    region: str
    endpoint: str | None
    key_id: str | None = field(repr=False)
    secret: str | None = field(repr=False)
    token: str | None = field(repr=False)

    def scrub(self, text: str) -> str:
        for secret in (self.secret, self.token):
            if secret:
                text = text.replace(secret, "***")
        return text


def parse_url(url: str, name: str) -> Connection:
    def bad(why: str) -> FatalError:
        return FatalError(f"inputs.connection: {name!r} {why}", field="connection")

    try:
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
    except ValueError:
        raise bad("is not a valid eventbridge:// URL") from None
    region = parts.hostname or ""
    if not REGION.match(region):
        raise bad("needs a region: eventbridge://KEY:SECRET@us-east-1")
    unknown = sorted(set(query) - {"endpoint", "session_token"})
    if unknown:
        raise bad(f"has unknown parameter {unknown[0]!r} (endpoint, session_token)")
    endpoint = query.get("endpoint") or None
    if endpoint is not None and urlsplit(endpoint).scheme not in ("http", "https"):
        raise bad("has an endpoint that is not an http(s) URL")
    key_id, secret = unquote(parts.username or ""), unquote(parts.password or "")
    if bool(key_id) != bool(secret):
        raise bad("needs both an access key id and a secret, or neither")
    return Connection(
        name=name, region=region, endpoint=endpoint, key_id=key_id or None,
        secret=secret or None, token=query.get("session_token") or None,
    )  # fmt: skip


# --- clients, reused ----------------------------------------------------------------------

_lock = threading.Lock()
_clients: OrderedDict[str, Any] = OrderedDict()


def client_for(url: str, target: Connection) -> Any:
    """A boto3 EventBridge client for the connection, made once (boto3 clients are thread-safe)."""
    with _lock:
        found = _clients.get(url)
        if found is not None:
            _clients.move_to_end(url)
            return found
        import boto3
        from botocore.config import Config

        session = boto3.session.Session(
            aws_access_key_id=target.key_id,
            aws_secret_access_key=target.secret,
            aws_session_token=target.token,
            region_name=target.region,
        )
        config = Config(
            connect_timeout=5, read_timeout=30, retries={"mode": "standard", "max_attempts": 3}
        )
        made = session.client("events", endpoint_url=target.endpoint, config=config)
        _clients[url] = made
        if len(_clients) > 32:
            _clients.popitem(last=False)
        return made


def forget_clients() -> None:
    with _lock:
        _clients.clear()


# --- what was accepted, per step ----------------------------------------------------------

_memo_lock = threading.Lock()
_memo: OrderedDict[str, dict[int, tuple[str, str]]] = OrderedDict()


def _remembered(key: str) -> dict[int, tuple[str, str]]:
    with _memo_lock:
        return dict(_memo.get(key, {}))


def _remember(key: str, accepted: dict[int, tuple[str, str]] | None) -> None:
    """Keep what a failed attempt got through (``None``: the step succeeded, forget it)."""
    with _memo_lock:
        if accepted is None:
            _memo.pop(key, None)
            return
        _memo[key] = accepted
        _memo.move_to_end(key)
        while len(_memo) > MEMO:
            _memo.popitem(last=False)


# --- entries ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    index: int
    body: dict[str, Any]
    digest: str
    size: int


def entries(call: DestinationCall, bus: str) -> list[Entry]:
    inputs = call.inputs
    events = inputs.get("events")
    items = [events] if isinstance(events, Mapping) else events
    if not isinstance(items, list):
        raise FatalError("inputs.events: must be an object or a list of objects", field="events")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise FatalError(f"inputs.events[{i}]: must be an object", field="events")
        if ID_FIELD in item:
            raise FatalError(f"inputs.events[{i}].{ID_FIELD}: is set by Solder", field="events")
        detail = json.dumps(
            {**item, ID_FIELD: f"{call.idempotency_key}/{i}"},
            separators=(",", ":"), ensure_ascii=False, default=str,
        )  # fmt: skip
        body = {"Source": str(inputs["source"]), "DetailType": str(inputs["detailType"]),
                "Detail": detail, "EventBusName": bus}  # fmt: skip
        size = len(body["Source"].encode()) + len(body["DetailType"].encode())
        size += len(detail.encode())
        if size > MAX_REQUEST_BYTES:
            raise FatalError(
                f"inputs.events[{i}]: {size} bytes, more than EventBridge takes in one event "
                f"({MAX_REQUEST_BYTES})",
                field="events",
            )
        digest = hashlib.sha256(detail.encode()).hexdigest()
        out.append(Entry(i, body, digest, size))
    return out


def _chunks(pending: list[Entry]) -> list[list[Entry]]:
    chunks: list[list[Entry]] = []
    size = 0
    for entry in pending:
        if not chunks or len(chunks[-1]) >= MAX_ENTRIES or size + entry.size > MAX_REQUEST_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(entry)
        size += entry.size
    return chunks


# --- sending ------------------------------------------------------------------------------


def send(call: DestinationCall) -> dict[str, Any]:
    bus = str(call.inputs.get("eventBus") or "default")
    todo = entries(call, bus)
    target = parse_url(call.connection, call.connection_name)
    accepted = {
        i: found
        for i, found in _remembered(call.idempotency_key).items()
        if i < len(todo) and found[0] == todo[i].digest
    }
    pending = [e for e in todo if e.index not in accepted]
    refused: list[str] = []
    failure: StepError | None = None
    if pending:
        client = client_for(call.connection, target)
        try:
            pending = _put_rounds(client, pending, accepted, refused, target)
        except StepError as exc:
            failure = exc
        except BaseException:
            _remember(call.idempotency_key, accepted)
            raise
    if failure is None and refused:
        failure = FatalError(refused[0], field="events")
    if failure is None and pending:
        failure = RetryableError(
            f"EventBridge: {len(pending)} of {len(todo)} events not accepted after {ROUNDS} "
            f"tries (events[{pending[0].index}] first); those accepted are not sent again"
        )
    if failure is not None:
        _remember(call.idempotency_key, accepted)  # for the engine's retry of this step
        log.info("eventbridge put to %s failed: %s", bus, failure.message)
        raise failure
    _remember(call.idempotency_key, None)
    return {"eventBus": bus, "events": len(todo),
            "eventIds": [accepted[e.index][1] for e in todo]}  # fmt: skip


def put_detail(
    url: str, name: str, *, source: str, detail_type: str, bus: str, detail: dict[str, Any]
) -> str:
    """Put one event with ``detail`` as it is (the error stream's); return its event id."""
    target = parse_url(url, name)
    text = json.dumps(detail, separators=(",", ":"), ensure_ascii=False, default=str)
    body = {"Source": source, "DetailType": detail_type, "Detail": text, "EventBusName": bus}
    entry = Entry(0, body, "", len(source) + len(detail_type) + len(text.encode()))
    accepted: dict[int, tuple[str, str]] = {}
    refused: list[str] = []
    left = _put_rounds(client_for(url, target), [entry], accepted, refused, target)
    if refused:
        raise FatalError(refused[0].removeprefix("inputs.events[0]: "), field="detail")
    if left:
        raise RetryableError(f"EventBridge ({target.region}) did not accept the event")
    return accepted[0][1]


def _put_rounds(
    client: Any,
    pending: list[Entry],
    accepted: dict[int, tuple[str, str]],
    refused: list[str],
    target: Connection,
) -> list[Entry]:
    """Put ``pending`` in chunks; return those still refused for a passing reason."""
    for round_ in range(ROUNDS):
        retry: list[Entry] = []
        for chunk in _chunks(pending):
            answer = _put(client, chunk, target)
            for entry, result in zip(chunk, answer.get("Entries", []), strict=True):
                code = result.get("ErrorCode")
                if not code and result.get("EventId"):
                    accepted[entry.index] = (entry.digest, str(result["EventId"]))
                elif code in RETRYABLE_ENTRY:
                    retry.append(entry)
                else:
                    message = target.scrub(str(result.get("ErrorMessage") or ""))
                    refused.append(f"inputs.events[{entry.index}]: EventBridge refused it: "
                                   f"{code}: {message}")  # fmt: skip
        pending = retry
        if not pending:
            break
        if round_ < len(PAUSES):
            time.sleep(PAUSES[round_])  # a pause before the next try, not a wait for a state
    return pending


def _put(client: Any, chunk: list[Entry], target: Connection) -> dict[str, Any]:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    failure: StepError | None = None
    try:
        answer: dict[str, Any] = client.put_events(Entries=[e.body for e in chunk])
    except NoCredentialsError:
        failure = FatalError(
            f"inputs.connection: {target.name!r} has no credentials and none were found in "
            "the environment",
            field="connection",
        )
    except ClientError as exc:
        failure = _translate(exc.response, target)
    except BotoCoreError as exc:
        failure = RetryableError(f"EventBridge ({target.region}) is not reachable through "
                                 f"{target.name!r}: {target.scrub(str(exc))}")  # fmt: skip
    if failure is not None:
        raise failure
    return answer


def _translate(response: Mapping[str, Any], target: Connection) -> StepError:
    error = response.get("Error", {})
    code = str(error.get("Code", ""))
    text = target.scrub(f"{code}: {error.get('Message', '')}")
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if code in CREDENTIAL_CODES:
        return FatalError(
            f"inputs.connection: EventBridge refused the credentials of {target.name!r}: {text}",
            field="connection",
        )
    if code == "ResourceNotFoundException":
        return FatalError(f"inputs.eventBus: {text}", field="eventBus")
    if code in RETRYABLE_CODES or status >= 500 or status == 429:
        return RetryableError(f"EventBridge ({target.region}) failed: {text}")
    return FatalError(f"inputs.events: EventBridge refused the request: {text}", field="events")


EVENTBRIDGE = Destination(
    key="eventbridge",
    title="Amazon EventBridge",
    description="put events on an EventBridge bus (PutEvents, 10 per call, failed entries "
    "retried alone); EventBridge does not deduplicate, so each event's detail carries "
    "solderEventId, the same on every attempt, for consumers to drop repeats",
    input=INPUT,
    output=OUTPUT,
    schemes=("eventbridge",),
    idempotent=False,
    send=send,
)
