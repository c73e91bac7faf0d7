"""Event-driven waiting on the loopback Discord's state: no polling, no sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class ChangeSignal:
    """Wake waiters whenever the loopback's state changes; `notify()` is synchronous so any code can call it."""

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()

    def notify(self) -> None:
        """Wake every waiter so it re-checks its condition."""
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 10.0, what: str | None = None) -> T:
        """Return the first truthy value of `predicate`, re-checked after every change.

        Raises TimeoutError naming `what` (or the predicate) when nothing satisfies it in time.
        """
        try:
            async with asyncio.timeout(timeout):
                while not (value := predicate()):
                    waiter = asyncio.get_running_loop().create_future()
                    self._waiters.add(waiter)
                    try:
                        await waiter
                    finally:
                        self._waiters.discard(waiter)
                return value
        except TimeoutError:
            described = what or getattr(predicate, "__qualname__", repr(predicate))
            raise TimeoutError(f"loopback Discord: {described} did not happen within {timeout} s") from None
