"""A request quota per fixed time window, counted the way BigCommerce counts a store's calls.

Each answer carries how much is left and when the window starts again; a call over the quota is
refused (429) with the same headers, and is not counted. ``POST /_sandbox/quota`` on a sandbox
that has one sets ``{"requests": n, "window_ms": m}`` and starts a new window.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class HeaderNames:
    left: str
    quota: str
    reset_ms: str
    window_ms: str


BIGCOMMERCE = HeaderNames(
    left="X-Rate-Limit-Requests-Left",
    quota="X-Rate-Limit-Requests-Quota",
    reset_ms="X-Rate-Limit-Time-Reset-Ms",
    window_ms="X-Rate-Limit-Time-Window-Ms",
)


class Quota:
    def __init__(self, names: HeaderNames, requests: int = 150, window_ms: int = 30_000) -> None:
        self.names = names
        self._lock = threading.Lock()
        self.set(requests, window_ms)

    def set(self, requests: int, window_ms: int) -> None:
        if requests < 1 or window_ms < 1:
            raise ValueError("requests and window_ms must be at least 1")
        with self._lock:
            self.requests, self.window_ms = requests, window_ms
            self._ends = time.monotonic() + window_ms / 1000
            self._used = 0

    def take(self) -> tuple[bool, dict[str, str]]:
        """Count one call if the window has room; whether it had, and the headers to send."""
        with self._lock:
            now = time.monotonic()
            if now >= self._ends:
                self._ends, self._used = now + self.window_ms / 1000, 0
            allowed = self._used < self.requests
            self._used += allowed
            reset = math.ceil((self._ends - now) * 1000)
            return allowed, {
                self.names.left: str(self.requests - self._used),
                self.names.quota: str(self.requests),
                self.names.reset_ms: str(reset),
                self.names.window_ms: str(self.window_ms),
            }
