"""Who has used Salon in a server before (so the first-use hint is given once)."""

from __future__ import annotations

import aiosqlite

from bot.store.database import utc_now


async def note_first_use(conn: aiosqlite.Connection, *, guild_id: str, user_id: str) -> bool:
    """Record that a member used Salon in a server; return True if this was their first time."""
    cursor = await conn.execute(
        "INSERT OR IGNORE INTO member_first_use (guild_id, user_id, first_used_at) VALUES (?, ?, ?)",
        (guild_id, user_id, utc_now()),
    )
    first = cursor.rowcount == 1
    await cursor.close()
    return first
