"""Fault injection for the loopback REST API: a slow or broken Discord, on the requests a test picks.

A `Fault` matches requests by method and a regex on the path after /api/v10, and answers them
with an error instead of (or, with `after_effect`, after) doing what they ask. What discord.py
does with the answers, as of 2.7.1:

- 429 (the body's `retry_after`, `global: false`, a `Via` header): `HTTPClient.request` and the
  webhook client both sleep `retry_after` and try again, up to 5 tries in all.
- 500, 502, 504, 524: `HTTPClient.request` sleeps 1, 3, 5, 7, 9 s after tries 1 to 5 and
  then raises `DiscordServerError`; the webhook client (interaction callbacks, follow-ups and
  @original edits) does the same for every status from 500 up.
- Anything else: raised at once (`Forbidden` for 403, `NotFound` for 404, else `HTTPException`).

`skip_discord_py_backoff()` makes those sleeps instant while recording them, so a test of a
lasting 500 does not wait 25 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import re
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import discord.http
import discord.webhook.async_

if TYPE_CHECKING:
    from loopback.changes import ChangeSignal

RATE_LIMITED = 429


@dataclass(eq=False)
class Fault:
    """One injected failure: which requests it answers, with what, how often, and how often it did.

    `hits` counts the requests it has answered so far; `times=None` means until it is removed.
    """

    method: str
    path: re.Pattern[str]
    status: int
    times: int | None
    after_effect: bool
    retry_after: float
    hits: int = 0
    _claimed: int = field(default=0, repr=False)  # uses handed out; ahead of `hits` while requests run

    @property
    def used_up(self) -> bool:
        """Return whether the fault has no uses left (never, for `times=None`)."""
        return self.times is not None and self._claimed >= self.times

    def matches(self, method: str, path: str) -> bool:
        """Return whether a request (method, path after /api/v10) is one this fault answers."""
        return self.method in ("*", method.upper()) and self.path.search(path) is not None

    def body(self) -> dict[str, Any]:
        """Return the JSON body Discord answers with this status."""
        if self.status == RATE_LIMITED:
            # `code` is not in every real 429, but the OpenAPI document's Error requires it.
            return {
                "message": "You are being rate limited.",
                "retry_after": self.retry_after,
                "global": False,
                "code": 0,
            }
        try:
            reason = HTTPStatus(self.status).phrase
        except ValueError:
            reason = "Error"
        return {"message": f"{self.status}: {reason}", "code": 0}

    def headers(self, route: str) -> dict[str, str]:
        """Return the headers of this answer; for a 429, those discord.py reads as a per-route rate limit.

        discord.py treats a 429 without `Via` as a Cloudflare ban and raises at once, so it is
        sent; the bucket is derived from the route so each route keeps its own bucket.
        """
        if self.status != RATE_LIMITED:
            return {}
        bucket = hashlib.sha1(route.encode(), usedforsecurity=False).hexdigest()[:16]
        return {
            "Retry-After": str(math.ceil(self.retry_after)),  # whole seconds, as Discord sends it
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{time.time() + self.retry_after:.3f}",
            "X-RateLimit-Reset-After": f"{self.retry_after:.3f}",
            "X-RateLimit-Bucket": bucket,
            "X-RateLimit-Scope": "user",
            "Via": "1.1 google",
        }


class FaultPlan:
    """The faults a LoopbackDiscord applies to REST requests under /api/v10, first match first."""

    def __init__(self, changed: ChangeSignal) -> None:
        self._changed = changed
        self._faults: list[Fault] = []

    @property
    def faults(self) -> tuple[Fault, ...]:
        """Return the faults in the order they are tried (used-up ones included)."""
        return tuple(self._faults)

    def add(
        self,
        method: str,
        path: str,
        *,
        status: int = 500,
        times: int | None = None,
        after_effect: bool = False,
        retry_after: float = 0.05,
    ) -> Fault:
        """Return a new fault answering `method` ("*": any) requests whose path matches `path` (re.search).

        `path` is matched against the path after /api/v10, e.g. r"^/channels/\\d+/messages$".
        `status=429` answers as Discord's per-route rate limit, waiting `retry_after` seconds;
        other statuses answer `{"message", "code": 0}`. `after_effect=True` processes the
        request first (the message is created and dispatched) and only then answers the error:
        the response was lost, not the request.
        """
        if not 400 <= status <= 599:
            raise ValueError(f"a fault answers an error status (400-599), not {status}")
        if times is not None and times < 1:
            raise ValueError(f"times must be at least 1 (or None: until removed), not {times}")
        if retry_after < 0:
            raise ValueError(f"retry_after must not be negative, not {retry_after}")
        if after_effect and status == RATE_LIMITED:
            raise ValueError("a 429 means Discord did not process the request; it cannot come after the effect")
        fault = Fault(method.upper(), re.compile(path), status, times, after_effect, retry_after)
        self._faults.append(fault)
        return fault

    def remove(self, fault: Fault) -> None:
        """Stop applying a fault (requests already claimed by it still get its answer)."""
        self._faults.remove(fault)

    def clear(self) -> None:
        """Stop applying every fault."""
        self._faults.clear()

    def claim(self, method: str, path: str) -> Fault | None:
        """Return the first fault with uses left that answers this request, taking one use of it.

        The use is taken when the request arrives, so concurrent requests never overrun `times`.
        """
        for fault in self._faults:
            if not fault.used_up and fault.matches(method, path):
                fault._claimed += 1
                return fault
        return None

    def answered(self, fault: Fault) -> None:
        """Count one answer of `fault` and wake whoever waits on its hits."""
        fault.hits += 1
        self._changed.notify()

    async def wait_for_hits(self, fault: Fault, n: int = 1, timeout: float = 10.0) -> int:
        """Return the fault's hits once it has answered at least `n` requests (TimeoutError otherwise)."""
        await self._changed.wait_for(
            lambda: fault.hits >= n, timeout, f"{n} hit(s) of {fault.method} {fault.path.pattern}"
        )
        return fault.hits


@contextlib.contextmanager
def skip_discord_py_backoff() -> Iterator[list[float]]:
    """Yield the list of (non-zero) waits discord.py's REST and webhook clients ask for, while skipping them.

    discord.py sleeps between retries with `asyncio.sleep` from its own modules; inside this
    context those two modules see an `asyncio` whose `sleep` only records the delay and yields
    once, so a lasting 500 fails in milliseconds and a test can assert the back-off (1, 3, 5...).
    Every sleep of `discord.http` and `discord.webhook.async_` is skipped, rate-limit waits and
    a webhook message's `delete_after` included.
    """
    waits: list[float] = []

    async def record_sleep(delay: float, result: Any = None) -> Any:
        if delay > 0:  # discord.py's rate-limit bucket also "sleeps" 0 s after each request: no wait
            waits.append(delay)
        await asyncio.sleep(0)
        return result

    patched = types.SimpleNamespace(**{name: getattr(asyncio, name) for name in dir(asyncio)})
    patched.sleep = record_sleep
    modules = (discord.http, discord.webhook.async_)
    originals = [module.asyncio for module in modules]
    for module in modules:
        module.asyncio = patched  # type: ignore[attr-defined]
    try:
        yield waits
    finally:
        for module, original in zip(modules, originals, strict=True):
            module.asyncio = original  # type: ignore[attr-defined]
