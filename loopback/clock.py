"""The loopback Discord's clock: real time plus an offset that tests can advance."""

from __future__ import annotations

import time
from datetime import UTC, datetime


class LoopbackClock:
    """Return the loopback Discord's time: the machine's clocks plus an offset that only grows.

    Every deadline Discord enforces (3 s for the first interaction callback, 15 minutes for an
    interaction token) is measured on `now()`, and snowflakes and message timestamps come from
    `time()`, so `advance()` moves the whole loopback world forward at once.
    """

    def __init__(self) -> None:
        self._offset = 0.0

    @property
    def offset(self) -> float:
        """Return how many seconds `advance()` has added so far."""
        return self._offset

    def now(self) -> float:
        """Return monotonic seconds (for deadlines): `time.monotonic()` plus the offset."""
        return time.monotonic() + self._offset

    def time(self) -> float:
        """Return Unix seconds (for snowflakes and timestamps): `time.time()` plus the offset."""
        return time.time() + self._offset

    def utcnow(self) -> datetime:
        """Return the current loopback time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.time(), UTC)

    def iso(self) -> str:
        """Return the current loopback time as Discord writes timestamps (ISO 8601 with offset)."""
        return self.utcnow().isoformat()

    def advance(self, seconds: float) -> None:
        """Move the clock forward, as if `seconds` had passed."""
        if seconds < 0:
            raise ValueError("the loopback clock only moves forward")
        self._offset += seconds
