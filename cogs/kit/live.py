"""Messages kept current by editing them: one edit at a time per message, the latest state always last.

A party's board and each round's status message change with every join, vote and star. Editing on
each change would send a burst of edits (Discord allows about five per five seconds in a channel)
and could land them out of order. `LiveMessages` runs at most one refresh per key: a change that
arrives while one is in flight marks the key stale, and one more refresh follows, reading the state
afresh. Bursts fold into a few edits, and the last edit always shows what the store holds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable

import discord

log = logging.getLogger(__name__)

Refresh = Callable[[Hashable], Awaitable[None]]


class LiveMessages:
    """Refreshes keyed messages through `refresh(key)`, never two at once for a key."""

    def __init__(self, refresh: Refresh) -> None:
        self._refresh = refresh
        self._running: dict[Hashable, asyncio.Task[None]] = {}
        self._stale: set[Hashable] = set()

    def changed(self, key: Hashable) -> None:
        """Say that what `key`'s message shows has changed; it is refreshed soon, in the background."""
        if key in self._running:
            self._stale.add(key)
            return
        self._running[key] = asyncio.get_running_loop().create_task(self._run(key))

    async def settled(self) -> None:
        """Return once every requested refresh has run (for shutdown, and for tests that read the store)."""
        while self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def _run(self, key: Hashable) -> None:
        try:
            while True:
                self._stale.discard(key)
                try:
                    await self._refresh(key)
                except discord.NotFound:
                    log.info("live message %r is gone; nothing to refresh", key)
                except Exception:
                    # A failed edit leaves the message one step behind; the next change refreshes it.
                    log.warning("could not refresh live message %r", key, exc_info=True)
                if key not in self._stale:
                    return
        finally:
            del self._running[key]
