"""Shared by the sandbox tests: one receiver per module, for webhooks and events to land on."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from solder.sandbox import receiver
from tests.servers import run_asgi


@dataclass(frozen=True)
class Sink:
    url: str
    state: receiver.ReceiverState


@pytest.fixture(scope="module")
def sink() -> Iterator[Sink]:
    """A receiver sandbox on loopback; tests that use it clear it first."""
    app = receiver.create_app()
    with run_asgi(app) as url:
        yield Sink(url, app.state.receiver)
