"""The delay before a block's next attempt: exponential, jittered, capped, and Retry-After aware.

``backoff(services, attempt, retry_after)`` reads only ``settings.engine``; with
``backoff_base`` b the delay after attempt n is drawn from ``[d/2, d]`` where
``d = min(backoff_max, b * 2**(n-1))`` ("equal jitter"), then raised to ``retry_after``
(itself capped at ``backoff_max``) when the app asked for a longer wait.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

import pytest

from solder.config import EngineSettings, Settings
from solder.engine.runner import backoff
from solder.runtime.services import Services

SAMPLES = 300


def services(base: float = 0.5, most: float = 60.0) -> Services:
    settings = Settings(engine=EngineSettings(backoff_base=base, backoff_max=most))
    return cast(Services, SimpleNamespace(settings=settings))


def delays(svc: Services, attempt: int, retry_after: float | None = None) -> list[float]:
    return [backoff(svc, attempt, retry_after) for _ in range(SAMPLES)]


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5, 6])
def test_delay_is_jittered_within_half_to_all_of_the_exponential_step(attempt: int) -> None:
    step = 0.5 * 2 ** (attempt - 1)
    got = delays(services(base=0.5), attempt)
    assert all(step / 2 <= d <= step for d in got), (min(got), max(got), step)
    # jitter: the retries of many runs failing together spread over the interval
    assert len(set(got)) > SAMPLES * 0.9
    assert max(got) - min(got) > step / 4


def test_each_attempt_waits_at_least_as_long_as_any_wait_before_it() -> None:
    svc = services(base=0.2, most=1000)
    previous = delays(svc, 1)
    for attempt in range(2, 10):
        current = delays(svc, attempt)
        assert min(current) >= max(previous)
        assert sum(current) / len(current) == pytest.approx(
            2 * sum(previous) / len(previous), rel=0.2
        )
        previous = current


@pytest.mark.parametrize("attempt", [8, 20, 60, 1100, 100_000])
def test_delay_never_exceeds_backoff_max(attempt: int) -> None:
    # 1100 and beyond: 2**(attempt-1) no longer fits a float, yet a delay must come out
    got = delays(services(base=1.0, most=30.0), attempt)
    assert all(15.0 <= d <= 30.0 for d in got), (min(got), max(got))


def test_retry_after_longer_than_the_backoff_is_waited_exactly() -> None:
    assert set(delays(services(base=0.1, most=60), 1, retry_after=7.0)) == {7.0}
    assert set(delays(services(base=0.1, most=60), 3, retry_after=2.5)) == {2.5}


def test_retry_after_shorter_than_the_backoff_keeps_the_backoff() -> None:
    for retry_after in (0.0, 0.5):
        got = delays(services(base=2.0, most=60), 3, retry_after=retry_after)
        assert all(4.0 <= d <= 8.0 for d in got), (retry_after, min(got))


def test_retry_after_is_capped_at_backoff_max() -> None:
    assert set(delays(services(base=0.1, most=60), 1, retry_after=3600)) == {60.0}
