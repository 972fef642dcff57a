"""``FailureLimit`` on a fake clock: a key waits once it reaches the limit, until its window
ends; a clear forgets it; the memory it holds stays bounded."""

from __future__ import annotations

from solder.api.limits import FailureLimit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_key_waits_from_its_limit_until_its_window_ends() -> None:
    clock = Clock()
    limit = FailureLimit(3, 60, clock=clock)
    for _ in range(2):
        limit.failed("a")
    assert limit.wait("a") is None
    clock.now += 10
    limit.failed("a")
    assert limit.wait("a") == 50  # the window started at the first failure
    assert limit.wait("b") is None
    clock.now += 50
    assert limit.wait("a") is None
    limit.failed("a")  # a new window, counted from one
    assert limit.wait("a") is None
    for _ in range(2):
        limit.failed("a")
    assert limit.wait("a") == 60
    limit.clear("a")
    assert limit.wait("a") is None


def test_it_holds_at_most_max_keys_dropping_ended_windows_then_the_oldest() -> None:
    clock = Clock()
    limit = FailureLimit(1, 60, clock=clock, max_keys=3)
    limit.failed("old")
    clock.now += 61
    for key in ("k1", "k2", "k3"):
        limit.failed(key)
    assert len(limit._seen) == 3
    assert "old" not in limit._seen  # its window had ended
    limit.failed("k4")
    assert set(limit._seen) == {"k2", "k3", "k4"}
    assert limit.wait("k4") == 60
