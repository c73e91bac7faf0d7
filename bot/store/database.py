"""The SQLite database: one writer and one reader connection, WAL, numbered migrations."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from bot.catalogue import N_, _
from bot.errors import StorageBusyError, StorageError, StorageFullError

_Rows = TypeVar("_Rows")
log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.(sql|py)$")
_MIGRATIONS_PACKAGE = "bot.store.migrations"

# A Python migration: run on the writer inside the migration's transaction; it must not COMMIT.
PythonMigration = Callable[[aiosqlite.Connection], Awaitable[None]]
# (version, file name, body): the body is SQL text for a .sql file, or the `migrate` function of a .py file.
Migration = tuple[int, str, str | PythonMigration]

BUSY_MESSAGE = N_(
    "Salon's storage is busy (another program is writing to it); nothing was changed. Try again in a moment."
)
FULL_MESSAGE = N_("Salon's storage is full; nothing was changed. An admin needs to free disk space.")


def utc_iso(moment: datetime) -> str:
    """Return a time as the store keeps it: ISO-8601 UTC with milliseconds and a 'Z' (so times compare as text)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_utc(text: str) -> datetime:
    """Return the aware UTC datetime of a stored time ('...Z'; an offset is honoured too)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def utc_now() -> str:
    """Return the current time in the store's shape (`utc_iso`)."""
    return utc_iso(datetime.now(UTC))


def row_dict(row: aiosqlite.Row) -> dict[str, Any]:
    """Return a row as a column-name → value dict."""
    return dict(zip(row.keys(), tuple(row), strict=True))


def bundled_migrations() -> list[Migration]:
    """Return the shipped migrations as (version, file name, SQL or `migrate` function), in version order."""
    found: list[Migration] = []
    for entry in resources.files(_MIGRATIONS_PACKAGE).iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if not match:
            continue
        version = int(match.group(1))
        if match.group(2) == "sql":
            found.append((version, entry.name, entry.read_text(encoding="utf-8")))
        else:
            found.append((version, entry.name, _load_python_migration(entry.name)))
    found.sort(key=lambda migration: (migration[0], migration[1]))
    versions = [version for version, _unused, _unused in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 0001, 0002, ... without gaps; found {versions}")
    return found


def _load_python_migration(file_name: str) -> PythonMigration:
    """Return the `async def migrate(conn)` of a bundled .py migration."""
    module = importlib.import_module(f"{_MIGRATIONS_PACKAGE}.{file_name.removesuffix('.py')}")
    migrate = getattr(module, "migrate", None)
    if not inspect.iscoroutinefunction(migrate):
        raise RuntimeError(f"migration {file_name} must define `async def migrate(conn)`")
    return migrate


def storage_error(exc: BaseException) -> StorageError | None:
    """Return the StorageError a user should see for an SQLite failure, or None when it is not one of ours.

    Busy means another connection held the write lock past busy_timeout; full means the disk or the
    database's max_page_count is exhausted. Both leave the database as it was, so the message says so.
    """
    if not isinstance(exc, sqlite3.Error):
        return None
    # sqlite_errorname (Python 3.11+) is the extended code name, e.g. SQLITE_BUSY_RECOVERY.
    name = getattr(exc, "sqlite_errorname", None) or ""
    text = str(exc).lower()
    busy = ("database is locked", "database is busy")  # machine-read: SQLite's words, matched
    if name.startswith("SQLITE_BUSY") or any(words in text for words in busy):
        return StorageBusyError(_(BUSY_MESSAGE))
    full = "database or disk is full"  # machine-read: SQLite's words, matched
    if name == "SQLITE_FULL" or full in text:
        return StorageFullError(_(FULL_MESSAGE))
    return None


class Database:
    """Return rows from, and apply changes to, Salon's SQLite file.

    Writes go through one writer connection, one `transaction()` at a time (BEGIN IMMEDIATE). Reads
    through `fetchall`/`fetchone` use a second, read-only connection with its own lock, so a
    transaction waiting for another process's write lock never holds them up; in WAL mode every
    committed write is visible to the reader's next statement. Reads that must see the uncommitted
    changes of a transaction go through the `conn` it yields. A ":memory:" database has one
    connection (a second would be a different database), so there reads and writes share one lock.
    """

    def __init__(self, path: Path | str, *, busy_timeout_ms: int = 3000) -> None:
        if busy_timeout_ms < 0:
            raise ValueError(f"busy_timeout_ms must be 0 or more, not {busy_timeout_ms}")
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._read_lock = asyncio.Lock() if not self.in_memory else self._write_lock

    @property
    def is_open(self) -> bool:
        """Return whether the database is open."""
        return self._writer is not None

    @property
    def in_memory(self) -> bool:
        """Return whether this is a private ":memory:" database."""
        return str(self.path) == ":memory:"

    async def open(self, migrations: Iterable[Migration] | None = None) -> None:
        """Open the connections, set their pragmas and apply pending migrations."""
        if not self.in_memory:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so each transaction is explicit.
        self._writer = await aiosqlite.connect(self.path, isolation_level=None)
        self._writer.row_factory = aiosqlite.Row
        await self._writer.execute("PRAGMA journal_mode = WAL")
        await self._writer.execute("PRAGMA foreign_keys = ON")
        await self._writer.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        await self._writer.execute("PRAGMA synchronous = NORMAL")
        if self.in_memory:
            self._reader = self._writer
        else:
            # After the writer: the file exists and is in WAL mode, which a read-only connection cannot set.
            self._reader = await aiosqlite.connect(
                f"{self.path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None
            )
            self._reader.row_factory = aiosqlite.Row
            await self._reader.execute("PRAGMA foreign_keys = ON")
            await self._reader.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            await self._reader.execute("PRAGMA query_only = ON")
        await self._migrate(bundled_migrations() if migrations is None else list(migrations))

    async def close(self) -> None:
        """Close the connections (aiosqlite needs an explicit close to stop its threads)."""
        async with self._write_lock:
            if self._reader is not None and self._reader is not self._writer:
                async with self._read_lock:
                    await self._reader.close()
            self._reader = None
            if self._writer is not None:
                await self._writer.close()
                self._writer = None

    @property
    def conn(self) -> aiosqlite.Connection:
        """Return the open writer connection, or raise if the database is closed."""
        if self._writer is None:
            raise RuntimeError("the database is not open")
        return self._writer

    @property
    def _read_conn(self) -> aiosqlite.Connection:
        if self._reader is None:
            raise RuntimeError("the database is not open")
        return self._reader

    async def schema_version(self) -> int:
        """Return the applied migration version (`PRAGMA user_version`)."""
        row = await self.fetchone("PRAGMA user_version")
        return int(row[0]) if row else 0

    async def _migrate(self, migrations: list[Migration]) -> None:
        current = await self.schema_version()
        pending = [migration for migration in migrations if migration[0] > current]
        if not pending:
            return
        # SQLite's recipe for rebuilding a table others reference: foreign keys off (it is a no-op
        # inside a transaction), then foreign_key_check before COMMIT, so a broken reference still
        # rolls the migration back.
        await self.conn.execute("PRAGMA foreign_keys = OFF")
        try:
            for version, name, body in pending:
                log.info("applying migration %s", name)
                async with self.transaction() as conn:
                    if isinstance(body, str):
                        # executescript() would COMMIT first; run statement by statement inside our BEGIN.
                        for statement in _split_sql(body):
                            await conn.execute(statement)
                    else:
                        await body(conn)
                    await _check_foreign_keys(conn, name)
                    # PRAGMA takes no parameters; version is an int from the file name.
                    await conn.execute(f"PRAGMA user_version = {int(version)}")
        finally:
            await self.conn.execute("PRAGMA foreign_keys = ON")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """Yield the writer inside BEGIN IMMEDIATE; commit on success, roll back on error.

        Raises StorageBusyError when another connection holds the write lock past busy_timeout_ms,
        and StorageFullError when the disk or the size cap is full; nothing is kept in either case.
        """
        async with self._write_lock:
            conn = self.conn
            await _discard_open_transaction(conn)
            try:
                await conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                translated = storage_error(exc)
                if translated is None:
                    raise
                raise translated from exc
            try:
                yield conn
                await conn.execute("COMMIT")
            except BaseException as exc:
                await _roll_back(conn)
                translated = storage_error(exc)
                if translated is None:
                    raise
                raise translated from exc

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[aiosqlite.Row]:
        """Return every row of a read query (committed data only)."""
        return list(await self._read(sql, params, lambda cursor: cursor.fetchall()))

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> aiosqlite.Row | None:
        """Return the first row of a read query (committed data only), or None."""
        return await self._read(sql, params, lambda cursor: cursor.fetchone())

    async def _read(
        self, sql: str, params: Sequence[Any], take: Callable[[aiosqlite.Cursor], Awaitable[_Rows]]
    ) -> _Rows:
        """Run a read query on the reader connection and return what `take` gets from its cursor."""
        async with self._read_lock:
            try:
                cursor = await self._read_conn.execute(sql, params)
                try:
                    return await take(cursor)
                finally:
                    await cursor.close()
            except sqlite3.Error as exc:
                translated = storage_error(exc)
                if translated is None:
                    raise
                raise translated from exc


async def _roll_back(conn: aiosqlite.Connection) -> None:
    """Roll back the open transaction, if SQLite has not already; never raise over the original error."""
    try:
        # SQLITE_FULL and some I/O errors roll the whole transaction back by themselves.
        if conn.in_transaction:
            await conn.execute("ROLLBACK")
    except sqlite3.Error:
        log.exception("ROLLBACK failed; the next transaction will retry it")


async def _discard_open_transaction(conn: aiosqlite.Connection) -> None:
    """Roll back a transaction a failed ROLLBACK left open, so BEGIN does not fail forever."""
    if conn.in_transaction:
        log.warning("a transaction was left open; rolling it back before the next one")
        await conn.execute("ROLLBACK")


async def _check_foreign_keys(conn: aiosqlite.Connection, migration_name: str) -> None:
    """Raise if the migration left a reference to a row that does not exist."""
    cursor = await conn.execute("PRAGMA foreign_key_check")
    broken = await cursor.fetchall()
    await cursor.close()
    if broken:
        where = ", ".join(f"{row[0]} row {row[1]} → {row[2]}" for row in broken[:5])  # admin-read
        raise sqlite3.IntegrityError(f"migration {migration_name} leaves broken references: {where}")


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
