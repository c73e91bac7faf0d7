"""Reactions on Salon's results: number emoji and ❤️/👎 are per-image likes and dislikes, 🔁 rerolls.

On a grid, a number emoji likes that cell, and ❤️/👎 like or dislike every image in it; on a
picked image, ❤️/👎 apply to that image. Taking a reaction back takes its vote back. Each
reaction is an event with its author, so a gallery can tell who liked what.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from bot.reactions.store import get_vote, set_vote, vote_in
from bot.store import Actor, Database, record
from bot.store.images import images_of_job
from bot.store.jobs import Job, get_job, job_event
from bot.store.posts import get_post

REACTION_VOTE = "reaction"
LIKE_EMOJI = frozenset({"❤️", "❤", "♥️", "👍"})
DISLIKE_EMOJI = frozenset({"👎"})
REROLL_EMOJI = frozenset({"🔁", "🔄"})
NUMBER_EMOJI = {f"{n}\ufe0f\u20e3": n for n in range(1, 10)} | {f"{n}\u20e3": n for n in range(1, 10)}


@dataclass(frozen=True)
class ReactionOutcome:
    """What a reaction did: voted on images, asked for a reroll, or nothing (not a result, other emoji)."""

    action: Literal["vote", "reroll", "ignored"]
    job_id: int | None = None
    image_ids: tuple[int, ...] = ()
    value: int = 0
    channel_id: str | None = None
    notes: list[str] = field(default_factory=list)


class ReactionService:
    """Return what a reaction on a message means, and record it."""

    def __init__(
        self, db: Database, *, debounce_seconds: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.db = db
        # A 🔁 taken back and given again within this many seconds is one reroll, not one per toggle.
        self.debounce_seconds = debounce_seconds
        self._clock = clock
        self._last_reroll: dict[tuple[str, str], float] = {}
        # How many reactions have been handled; lets callers wait for one without polling.
        self.handled = 0
        self._handled_changed = asyncio.Condition()

    async def wait_handled(self, count: int) -> None:
        """Return once at least `count` reactions have been handled since start."""
        async with self._handled_changed:
            await self._handled_changed.wait_for(lambda: self.handled >= count)

    async def react(self, actor: Actor, message_id: str, emoji: str, *, added: bool) -> ReactionOutcome:
        """Record a reaction added or removed by `actor` on a message and return what it did."""
        try:
            return await self._react(actor, message_id, emoji, added=added)
        finally:
            async with self._handled_changed:
                self.handled += 1
                self._handled_changed.notify_all()

    async def _react(self, actor: Actor, message_id: str, emoji: str, *, added: bool) -> ReactionOutcome:
        post = await get_post(self.db, message_id)
        if post is None:
            return ReactionOutcome("ignored")
        job = await get_job(self.db, post.job_id)
        if job is None or job.deleted_at is not None:
            return ReactionOutcome("ignored")
        if emoji in REROLL_EMOJI:
            if not added or self._bounced(actor.id, message_id):
                return ReactionOutcome("ignored")
            await self._log(actor, job, "reaction.added", {"emoji": emoji, "message_id": message_id, "reroll": True})
            return ReactionOutcome("reroll", job.id, channel_id=post.channel_id)
        images = await images_of_job(self.db, job.id)
        if emoji in NUMBER_EMOJI:
            number = NUMBER_EMOJI[emoji]
            if post.kind != "grid" or number > len(images):
                return ReactionOutcome("ignored")
            targets = [images[number - 1].id]
            value = 1
        elif emoji in LIKE_EMOJI or emoji in DISLIKE_EMOJI:
            targets = [post.image_id] if post.image_id is not None else [image.id for image in images]
            value = 1 if emoji in LIKE_EMOJI else -1
        else:
            return ReactionOutcome("ignored")
        async with record(self.db) as change:
            changed = []
            for image_id in targets:
                current = await vote_in(change.conn, image_id=image_id, voter_id=actor.id, kind=REACTION_VOTE)
                if added:
                    new = value
                elif current == value:
                    new = 0  # taking back the reaction that set this vote
                else:
                    continue  # the vote was since changed by another reaction: keep it
                await set_vote(
                    change.conn,
                    session_id=job.session_id,
                    image_id=image_id,
                    voter_id=actor.id,
                    kind=REACTION_VOTE,
                    value=new,
                )
                changed.append(image_id)
            payload = {"emoji": emoji, "message_id": message_id, "image_ids": changed, "value": value}
            change.log(job_event(job, "reaction.added" if added else "reaction.removed", payload, actor=actor))
        return ReactionOutcome("vote", job.id, tuple(changed), value if added else 0, post.channel_id)

    def _bounced(self, actor_id: str, message_id: str) -> bool:
        """Return whether this member's 🔁 on this message repeats one of the last few seconds.

        Kept in memory: a restart between two toggles lets one more reroll through, and the job
        caps (active and per minute) still hold. Votes need no debounce: a toggle sets the same vote.
        """
        now = self._clock()
        # Forget old entries as we go, so the table stays as small as the recent activity.
        for key, at in list(self._last_reroll.items()):
            if now - at >= self.debounce_seconds:
                del self._last_reroll[key]
        key = (actor_id, message_id)
        if key in self._last_reroll:
            return True
        self._last_reroll[key] = now
        return False

    async def vote_of(self, image_id: int, voter_id: str) -> int | None:
        """Return a voter's reaction vote on an image (1, -1, 0), or None if they never reacted."""
        return await get_vote(self.db, image_id=image_id, voter_id=voter_id, kind=REACTION_VOTE)

    async def _log(self, actor: Actor, job: Job, kind: str, payload: dict[str, object]) -> None:
        async with record(self.db) as change:
            change.log(job_event(job, kind, payload, actor=actor))
