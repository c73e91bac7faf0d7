"""Publication consent: only images of members who agreed (or whose guild publishes by default) go in blog posts."""

from __future__ import annotations

from collections.abc import Iterable

from bot.export.consent_store import choices, set_consent, set_guild_default
from bot.store import Actor, Database, EventDraft, record


class ConsentService:
    """Return and record who may be published."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def choose(self, actor: Actor, guild_id: str, publish: bool) -> None:
        """Record a member's own choice for this guild."""
        async with record(self.db) as change:
            await set_consent(change.conn, guild_id=guild_id, user_id=actor.id, publish=publish)
            change.log(
                EventDraft(
                    actor=actor,
                    kind="consent.set",
                    guild_id=guild_id,
                    subject=("user", actor.id),
                    payload={"publish": publish},
                )
            )

    async def set_default(self, actor: Actor, guild_id: str, publish: bool) -> None:
        """Record the guild's default for members who made no choice (a moderator's decision)."""
        async with record(self.db) as change:
            await set_guild_default(change.conn, guild_id=guild_id, publish=publish)
            change.log(
                EventDraft(
                    actor=actor,
                    kind="consent.default",
                    guild_id=guild_id,
                    subject=("guild", guild_id),
                    payload={"publish": publish},
                )
            )

    async def choice_of(self, guild_id: str, user_id: str) -> bool | None:
        """Return a member's own choice in this guild, or None if they have not made one."""
        explicit, _ = await choices(self.db, guild_id)
        return explicit.get(user_id)

    async def consented(self, guild_id: str | None, user_ids: Iterable[str]) -> set[str]:
        """Return the members among `user_ids` who may be published in this guild."""
        if guild_id is None:
            return set()
        explicit, default = await choices(self.db, guild_id)
        return {user for user in user_ids if explicit.get(user, default)}
