"""The SQLite database: one long-lived aiosqlite connection, WAL, numbered migrations."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def utc_now() -> str:
    """Return the current UTC time as ISO-8601 text with millisecond precision and a 'Z'."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def row_dict(row: aiosqlite.Row) -> dict[str, Any]:
    """Return a row as a column-name → value dict."""
    return dict(zip(row.keys(), tuple(row), strict=True))


def bundled_migrations() -> list[tuple[int, str, str]]:
    """Return the shipped migrations as (version, file name, SQL), in version order."""
    found = []
    for entry in resources.files("bot.store.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [version for version, _, _ in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 0001, 0002, ... without gaps; found {versions}")
    return found


class Database:
    """Return rows from, and apply changes to, Salon's SQLite file over one connection.

    aiosqlite runs every call on one thread, but two asyncio tasks could still interleave their
    statements inside one transaction. A lock makes each `transaction()` and each read atomic.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self, migrations: Iterable[tuple[int, str, str]] | None = None) -> None:
        """Open the connection, set its pragmas and apply pending migrations."""
        if self.path != Path(":memory:"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so each transaction is explicit.
        self._conn = await aiosqlite.connect(self.path, isolation_level=None)
        self._conn.row_factory = aiosqlite.Row
        await self._conn.execute("PRAGMA journal_mode = WAL")
        await self._conn.execute("PRAGMA foreign_keys = ON")
        await self._conn.execute("PRAGMA busy_timeout = 5000")
        await self._conn.execute("PRAGMA synchronous = NORMAL")
        await self._migrate(bundled_migrations() if migrations is None else list(migrations))

    async def close(self) -> None:
        """Close the connection (aiosqlite needs an explicit close to stop its thread)."""
        if self._conn is not None:
            async with self._lock:
                await self._conn.close()
                self._conn = None

    @property
    def conn(self) -> aiosqlite.Connection:
        """Return the open connection, or raise if the database is closed."""
        if self._conn is None:
            raise RuntimeError("the database is not open")
        return self._conn

    async def schema_version(self) -> int:
        """Return the applied migration version (`PRAGMA user_version`)."""
        row = await self.fetchone("PRAGMA user_version")
        return int(row[0]) if row else 0

    async def _migrate(self, migrations: list[tuple[int, str, str]]) -> None:
        current = await self.schema_version()
        for version, name, sql in migrations:
            if version <= current:
                continue
            log.info("applying migration %s", name)
            async with self.transaction() as conn:
                # executescript() would COMMIT first; run statement by statement inside our BEGIN.
                for statement in _split_sql(sql):
                    await conn.execute(statement)
                # PRAGMA takes no parameters; version is an int from the file name.
                await conn.execute(f"PRAGMA user_version = {int(version)}")
            current = version

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """Yield the connection inside BEGIN IMMEDIATE; commit on success, roll back on error."""
        async with self._lock:
            conn = self.conn
            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            else:
                await conn.execute("COMMIT")

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[aiosqlite.Row]:
        """Return every row of a read query."""
        async with self._lock:
            cursor = await self.conn.execute(sql, params)
            rows = await cursor.fetchall()
            await cursor.close()
            return list(rows)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> aiosqlite.Row | None:
        """Return the first row of a read query, or None."""
        async with self._lock:
            cursor = await self.conn.execute(sql, params)
            row = await cursor.fetchone()
            await cursor.close()
            return row


def _split_sql(script: str) -> list[str]:
    """Return the statements of a migration script, keeping CREATE TRIGGER bodies whole."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        if line.lstrip().startswith("--"):
            continue
        buffer += line
        if buffer.strip() and sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        raise ValueError(f"incomplete SQL statement at the end of a migration: {buffer.strip()[:60]!r}")
    return statements
