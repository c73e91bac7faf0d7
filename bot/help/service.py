"""Welcoming newcomers: notice a member's first use of Salon in a server."""

from __future__ import annotations

from bot.help.store import note_first_use
from bot.store import Actor, Database, EventDraft, record


class WelcomeService:
    """Says whether a member is new here, remembering it (and logging the welcome) the first time."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def first_use(self, actor: Actor, guild_id: str) -> bool:
        """Return True the first time `actor` uses Salon in `guild_id`, and False ever after."""
        async with record(self.db) as change:
            first = await note_first_use(change.conn, guild_id=guild_id, user_id=actor.id)
            if first:
                change.log(
                    EventDraft(actor=actor, kind="member.welcomed", guild_id=guild_id, subject=("user", actor.id))
                )
        return first
