"""Migrations: numbered .sql and .py files applied in order, each in one transaction."""

from __future__ import annotations

import inspect
import sqlite3
from pathlib import Path

import aiosqlite
import pytest

from bot.store import Database
from bot.store.database import Migration, bundled_migrations

NOTES_SQL = "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL);"
FAMILY_SQL = """
CREATE TABLE parents (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE children (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parents (id));
INSERT INTO parents (id, name) VALUES (1, 'ada');
INSERT INTO children (id, parent_id) VALUES (10, 1);
"""


async def _texts(conn: aiosqlite.Connection, sql: str) -> list[str]:
    cursor = await conn.execute(sql)
    rows = await cursor.fetchall()
    await cursor.close()
    return [row[0] for row in rows]


async def test_python_migration_runs_in_order_between_sql_ones(tmp_path: Path) -> None:
    calls: list[list[str]] = []

    async def copy_notes(conn: aiosqlite.Connection) -> None:
        # Sees the table of migration 1 and runs before migration 3 adds its column.
        calls.append(await _texts(conn, "SELECT name FROM pragma_table_info('notes') ORDER BY cid"))
        await conn.execute("INSERT INTO notes (text) VALUES ('from python')")

    migrations: list[Migration] = [
        (1, "0001_notes.sql", NOTES_SQL),
        (2, "0002_copy_notes.py", copy_notes),
        (3, "0003_note_tags.sql", "ALTER TABLE notes ADD COLUMN tag TEXT NOT NULL DEFAULT 'none';"),
    ]
    db = Database(tmp_path / "salon.db")
    await db.open(migrations)
    assert calls == [["id", "text"]]
    assert await db.schema_version() == 3
    assert [tuple(row) for row in await db.fetchall("SELECT text, tag FROM notes")] == [("from python", "none")]
    await db.close()

    again = Database(tmp_path / "salon.db")
    await again.open(migrations)
    assert len(calls) == 1
    await again.close()


async def test_failing_python_migration_rolls_back_whole(tmp_path: Path) -> None:
    async def half_done(conn: aiosqlite.Connection) -> None:
        await conn.execute("CREATE TABLE extra (id INTEGER)")
        await conn.execute("INSERT INTO notes (text) VALUES ('half')")
        raise RuntimeError("the migration found a row it cannot convert")

    db = Database(tmp_path / "salon.db")
    with pytest.raises(RuntimeError, match="cannot convert"):
        await db.open([(1, "0001_notes.sql", NOTES_SQL), (2, "0002_half_done.py", half_done)])
    assert await db.schema_version() == 1
    assert await db.fetchone("SELECT name FROM sqlite_master WHERE name = 'extra'") is None
    assert await db.fetchall("SELECT * FROM notes") == []
    assert (await db.fetchone("PRAGMA foreign_keys"))[0] == 1
    await db.close()


async def test_python_migration_may_rebuild_a_referenced_table(tmp_path: Path) -> None:
    async def rebuild_parents(conn: aiosqlite.Connection) -> None:
        # SQLite cannot add a CHECK in place; rows that children point to must survive the DROP.
        await conn.execute("CREATE TABLE parents_v2 (id INTEGER PRIMARY KEY, name TEXT NOT NULL CHECK (name <> ''))")
        await conn.execute("INSERT INTO parents_v2 (id, name) SELECT id, name FROM parents")
        await conn.execute("DROP TABLE parents")
        await conn.execute("ALTER TABLE parents_v2 RENAME TO parents")

    db = Database(tmp_path / "salon.db")
    await db.open([(1, "0001_family.sql", FAMILY_SQL), (2, "0002_rebuild_parents.py", rebuild_parents)])
    try:
        assert await db.schema_version() == 2
        assert [tuple(row) for row in await db.fetchall("SELECT id, parent_id FROM children")] == [(10, 1)]
        cursor = await db.conn.execute("PRAGMA foreign_keys")
        assert (await cursor.fetchone())[0] == 1
        await cursor.close()
        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO children (id, parent_id) VALUES (11, 99)")
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO parents (id, name) VALUES (2, '')")
    finally:
        await db.close()


async def test_migration_leaving_broken_references_rolls_back(tmp_path: Path) -> None:
    async def orphan_children(conn: aiosqlite.Connection) -> None:
        await conn.execute("DELETE FROM parents")

    db = Database(tmp_path / "salon.db")
    with pytest.raises(sqlite3.IntegrityError, match=r"0002_orphan_children\.py leaves broken references"):
        await db.open([(1, "0001_family.sql", FAMILY_SQL), (2, "0002_orphan_children.py", orphan_children)])
    assert await db.schema_version() == 1
    assert [row["name"] for row in await db.fetchall("SELECT name FROM parents")] == ["ada"]
    await db.close()


def test_bundled_migrations_are_gapless_sql_text_or_python_functions() -> None:
    migrations = bundled_migrations()
    assert [version for version, _, _ in migrations] == list(range(1, len(migrations) + 1))
    for version, name, body in migrations:
        assert name.startswith(f"{version:04d}_")
        if name.endswith(".sql"):
            assert isinstance(body, str) and body.strip()
        else:
            assert name.endswith(".py") and inspect.iscoroutinefunction(body)
