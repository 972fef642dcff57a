"""Destinations a workflow's ``destination`` blocks send to (event buses, warehouses, clouds).

Each module declares one :class:`~solder.destinations.base.Destination` and is listed in
``_DECLARED`` below; importing a module only builds the value, clients are made when a block
first sends. ``solder.destinations.send`` is what the engine calls.
"""

from __future__ import annotations

from solder.destinations.base import Destination, DestinationCall
from solder.destinations.eventbridge import EVENTBRIDGE
from solder.destinations.nats_jetstream import NATS_JETSTREAM
from solder.destinations.rabbitmq import RABBITMQ
from solder.destinations.redis_streams import REDIS_STREAMS
from solder.destinations.snowflake import SNOWFLAKE

_DECLARED: tuple[Destination, ...] = (
    RABBITMQ,
    REDIS_STREAMS,
    NATS_JETSTREAM,
    SNOWFLAKE,
    EVENTBRIDGE,
)

DESTINATIONS: dict[str, Destination] = {d.key: d for d in _DECLARED}

__all__ = ["DESTINATIONS", "Destination", "DestinationCall"]
