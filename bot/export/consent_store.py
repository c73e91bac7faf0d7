"""Rows of publication consent: each member's choice per guild, and each guild's default."""

from __future__ import annotations

import aiosqlite

from bot.store.database import Database, utc_now


async def set_consent(conn: aiosqlite.Connection, *, guild_id: str, user_id: str, publish: bool) -> None:
    """Record a member's choice for a guild."""
    await conn.execute(
        "INSERT INTO consents (guild_id, user_id, publish, updated_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (guild_id, user_id) DO UPDATE SET publish = excluded.publish, updated_at = excluded.updated_at",
        (guild_id, user_id, int(publish), utc_now()),
    )


async def set_guild_default(conn: aiosqlite.Connection, *, guild_id: str, publish: bool) -> None:
    """Record whether a guild publishes members who made no choice."""
    await conn.execute(
        "INSERT INTO guild_publishing (guild_id, publish_by_default, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT (guild_id) DO UPDATE SET publish_by_default = excluded.publish_by_default,"
        " updated_at = excluded.updated_at",
        (guild_id, int(publish), utc_now()),
    )


async def choices(db: Database, guild_id: str) -> tuple[dict[str, bool], bool]:
    """Return each member's explicit choice in a guild, and the guild's default (False when unset)."""
    rows = await db.fetchall("SELECT user_id, publish FROM consents WHERE guild_id = ?", (guild_id,))
    default = await db.fetchone("SELECT publish_by_default FROM guild_publishing WHERE guild_id = ?", (guild_id,))
    return {str(user): bool(value) for user, value in rows}, bool(default[0]) if default else False
