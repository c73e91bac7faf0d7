"""The loopback Discord's clock: real time plus an offset tests can advance."""

from __future__ import annotations

import time


class LoopbackClock:
    """Return seconds on a monotonic clock that `advance()` can move forward."""

    def __init__(self) -> None:
        self._offset = 0.0

    def now(self) -> float:
        """Return the current time in seconds."""
        return time.monotonic() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the clock forward, as if `seconds` had passed (for Discord's deadlines in tests)."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._offset += seconds
