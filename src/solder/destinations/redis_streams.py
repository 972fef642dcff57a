"""Redis Streams: append messages to a stream with XADD, trimmed to a maximum length.

Idempotent for real: each batch goes through one Lua script, which Redis runs atomically.
Beside the stream it keeps a marker key per step, ``{<stream>}:solder:sent:<run id>:<step id>``,
holding how many of the step's messages are in the stream; the script adds only messages past
that count and moves the marker after each XADD. A repeated step (a retry, a crash and
a rerun) therefore adds only what is missing. The marker expires ``dedupeSeconds`` (a day by
default) after the step's last write; a repeat later than that would add the messages again.
The marker shares the stream's hash slot (its ``{...}`` tag), which is what a cluster
needs; only a standalone server is tested.

Each entry has one field, ``data``, the message as JSON (``encoding: json``, the default), or,
with ``encoding: fields``, one field per key of the message (an object), non-string values
as JSON. ``maxLen`` trims the stream on every XADD, approximately (``~``, cheaper) unless
``approximate`` is false.

Errors: connection refused or timed out, a server loading or out of memory -> RetryableError;
credentials refused -> FatalError naming ``inputs.connection``; the key holding something
other than a stream -> FatalError naming ``inputs.stream``.

The client is ``redis`` (redis-py, already installed with Celery's Redis extra); a client per
URL (thread-safe, with its own connection pool) is kept for the next blocks.
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

import redis
from redis import exceptions as redis_errors

from solder.destinations import common
from solder.destinations.base import Destination, DestinationCall
from solder.errors import FatalError, StepError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0
IO_TIMEOUT = 30.0
DEFAULT_DEDUPE = 86_400

INPUT: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "stream": {"type": "string", "minLength": 1, "maxLength": 512},
        "maxLen": {
            "type": "integer",
            "minimum": 1,
            "description": "trim the stream to about this many entries on every XADD",
        },
        "approximate": {
            "type": "boolean",
            "default": True,
            "description": "trim with ~ (whole nodes, cheaper); false trims exactly",
        },
        "encoding": {
            "enum": ["json", "fields"],
            "default": "json",
            "description": "json: one field 'data' holding the message as JSON; fields: one "
            "field per key of an object message",
        },
        "dedupeSeconds": {
            "type": "integer",
            "minimum": 60,
            "maximum": 30 * 86_400,
            "default": DEFAULT_DEDUPE,
            "description": "how long a step's marker stops a repeat from adding its messages",
        },
        **common.MESSAGE_PROPERTIES,
    },
    "required": ["stream"],
    "additionalProperties": False,
}
OUTPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "stream": {"type": "string"},
        "messages": {"type": "integer", "description": "messages of the step in the stream"},
        "added": {"type": "integer", "description": "of them, added by this attempt"},
    },
}

# KEYS: stream, marker. ARGV: dedupe seconds, maxlen ("" for none), "1" for approximate,
# then per message: its index, its field count n, n field-value pairs.
_SCRIPT = """
local done = tonumber(redis.call('GET', KEYS[2]) or '0')
local added = 0
local i = 4
while i <= #ARGV do
  local index = tonumber(ARGV[i])
  local n = tonumber(ARGV[i + 1])
  if index >= done then
    local args = {'XADD', KEYS[1]}
    if ARGV[2] ~= '' then
      table.insert(args, 'MAXLEN')
      if ARGV[3] == '1' then table.insert(args, '~') end
      table.insert(args, ARGV[2])
    end
    table.insert(args, '*')
    for j = 1, 2 * n do table.insert(args, ARGV[i + 1 + j]) end
    redis.call(unpack(args))
    done = index + 1
    redis.call('SET', KEYS[2], done, 'EX', ARGV[1])
    added = added + 1
  end
  i = i + 2 + 2 * n
end
redis.call('EXPIRE', KEYS[2], ARGV[1])
return added
"""


def _connect(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=CONNECT_TIMEOUT,
        socket_timeout=IO_TIMEOUT,
        health_check_interval=30,
        client_name="solder",
    )


def _close(client: redis.Redis) -> None:
    with contextlib.suppress(redis_errors.RedisError):
        client.close()


_clients: common.ClientCache[redis.Redis] = common.ClientCache(_connect, _close)


def marker_key(stream: str, idempotency_key: str) -> str:
    """The step's marker, in the stream's hash slot (a stream with a ``{tag}`` keeps it)."""
    slot = stream if "{" in stream else "{" + stream + "}"
    return f"{slot}:solder:sent:{idempotency_key}"


def send(call: DestinationCall) -> dict[str, Any]:
    common.check_url(call)
    stream = common.text_input(call, "stream")
    messages = common.messages_of(call)
    size = common.batch_size(call)
    encoding = call.inputs.get("encoding", "json")
    if encoding not in ("json", "fields"):
        raise FatalError(f"inputs.encoding: {encoding!r} is not json or fields", field="encoding")
    fields = [_fields(m, encoding) for m in messages]
    head = [
        str(call.inputs.get("dedupeSeconds", DEFAULT_DEDUPE)),
        str(call.inputs.get("maxLen") or ""),
        "0" if call.inputs.get("approximate") is False else "1",
    ]
    client = _clients.get(call.connection)  # connects lazily: errors come from the calls
    marker = marker_key(stream, call.idempotency_key)
    added = 0
    try:
        for batch in common.batches(list(zip(messages, fields, strict=True)), size):
            argv = list(head)
            for message, pairs in batch:
                argv += [str(message.index), str(len(pairs) // 2), *pairs]
            added += int(client.eval(_SCRIPT, 2, stream, marker, *argv))
    except redis_errors.RedisError as exc:
        failure = _translate(call, exc, stream)
    else:
        log.debug("redis: %d of %d messages added to a stream", added, len(messages))
        return {"stream": stream, "messages": len(messages), "added": added}
    raise failure  # outside the except block: no reference to the client's exception


def _fields(message: common.Message, encoding: str) -> list[str]:
    if encoding == "json":
        return ["data", _json(message.value)]
    if not isinstance(message.value, dict) or not message.value:
        raise FatalError(
            f"inputs.messages[{message.index}]: encoding fields needs a non-empty object",
            field="messages",
        )
    pairs: list[str] = []
    for key, value in message.value.items():
        pairs += [str(key), value if isinstance(value, str) else _json(value)]
    return pairs


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def _translate(call: DestinationCall, exc: redis_errors.RedisError, stream: str) -> StepError:
    text = str(exc)
    if isinstance(exc, redis_errors.AuthenticationError | redis_errors.AuthorizationError):
        return common.refused(call)
    if isinstance(exc, redis_errors.ConnectionError | redis_errors.TimeoutError):
        return common.unreachable(call, f"{type(exc).__name__}: {text}")
    if isinstance(exc, redis_errors.BusyLoadingError | redis_errors.TryAgainError):
        return common.unreachable(call, text)
    if text.startswith(("NOAUTH", "WRONGPASS", "NOPERM")):
        return common.refused(call, f"was refused ({text.split(' ', 1)[0]})")
    if "WRONGTYPE" in text:
        return FatalError(
            f"inputs.stream: the key {stream!r} holds something other than a stream",
            field="stream",
        )
    if text.startswith(("OOM", "LOADING", "BUSY", "MASTERDOWN", "READONLY", "CLUSTERDOWN")):
        return common.unreachable(call, text.split("\n", 1)[0])
    return FatalError(f"redis: {common.scrub(text, call.connection)}")


def dispose_all() -> None:
    _clients.dispose()


REDIS_STREAMS = Destination(
    key="redis_streams",
    title="Redis Streams",
    description="appends JSON messages to a stream (XADD), trimmed to maxLen; a marker per "
    "step makes a repeated step add only what is missing",
    input=INPUT,
    output=OUTPUT,
    schemes=("redis", "rediss"),
    idempotent=True,
    send=send,
)
