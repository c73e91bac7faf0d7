"""The store's two connections: reads beside a waiting writer, busy and full storage, read-after-write."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bot.errors import StorageBusyError, StorageFullError
from bot.store import Database
from bot.store.database import BUSY_MESSAGE, FULL_MESSAGE, bundled_migrations

NOTES = [(1, "0001_notes.sql", "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL);")]

# Another program: takes SQLite's write lock, writes a row it never commits, and holds on until told.
LOCK_HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT INTO notes (text) VALUES ('uncommitted')")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
conn.close()
"""


@contextmanager
def write_lock_held_elsewhere(path: Path) -> Iterator[Callable[[], None]]:
    """Yield a release function while a separate process holds the database's write lock."""
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdin is not None and holder.stdout is not None

    def release() -> None:
        if holder.poll() is None:
            holder.stdin.write("\n")
            holder.stdin.flush()
            assert holder.wait(timeout=30) == 0

    try:
        assert holder.stdout.readline().strip() == "locked"
        yield release
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        holder.stdin.close()
        holder.stdout.close()


async def _open(path: Path, busy_timeout_ms: int = 3000) -> Database:
    database = Database(path, busy_timeout_ms=busy_timeout_ms)
    await database.open(NOTES)
    return database


async def _notes(db: Database) -> list[str]:
    return [row["text"] for row in await db.fetchall("SELECT text FROM notes ORDER BY id")]


async def _add_note(db: Database, text: str) -> None:
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO notes (text) VALUES (?)", (text,))


async def test_reads_answer_while_a_transaction_waits_for_another_process(tmp_path: Path) -> None:
    db = await _open(tmp_path / "salon.db", busy_timeout_ms=20_000)
    try:
        await _add_note(db, "committed")
        with write_lock_held_elsewhere(db.path) as release:
            writer = asyncio.create_task(_add_note(db, "after"))
            for _ in range(1000):
                if db._write_lock.locked():
                    break
                await asyncio.sleep(0)
            assert db._write_lock.locked()
            # The old single-lock store made these wait for the writer (here up to 20 s).
            assert await asyncio.wait_for(_notes(db), timeout=5) == ["committed"]
            row = await asyncio.wait_for(db.fetchone("SELECT COUNT(*) FROM notes"), timeout=5)
            assert row[0] == 1
            assert not writer.done()
            release()
            await asyncio.wait_for(writer, timeout=30)
        assert await _notes(db) == ["committed", "after"]
    finally:
        await db.close()


async def test_transaction_gives_up_busy_after_busy_timeout(tmp_path: Path) -> None:
    db = await _open(tmp_path / "salon.db", busy_timeout_ms=200)
    try:
        await _add_note(db, "before")
        body_ran = False
        with write_lock_held_elsewhere(db.path) as release:
            started = time.monotonic()
            with pytest.raises(StorageBusyError) as caught:
                async with db.transaction() as conn:
                    body_ran = True
                    await conn.execute("INSERT INTO notes (text) VALUES ('lost')")
            waited = time.monotonic() - started
            assert str(caught.value) == BUSY_MESSAGE
            assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
            assert caught.value.__cause__.sqlite_errorname == "SQLITE_BUSY"
            assert 0.15 <= waited < 10
            assert not body_ran
            assert await _notes(db) == ["before"]
            release()
        await _add_note(db, "after")
        assert await _notes(db) == ["before", "after"]
    finally:
        await db.close()


async def test_full_database_keeps_nothing_and_stays_usable(tmp_path: Path) -> None:
    db = await _open(tmp_path / "salon.db")
    try:
        async with db.transaction() as conn:
            await conn.execute("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL)")
        pages = (await db.fetchone("PRAGMA page_count"))[0]
        await db.conn.execute(f"PRAGMA max_page_count = {pages + 2}")
        with pytest.raises(StorageFullError) as caught:
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO notes (text) VALUES ('lost')")
                for _ in range(4):
                    await conn.execute("INSERT INTO blobs (data) VALUES (randomblob(64 * 1024))")
        assert str(caught.value) == FULL_MESSAGE
        assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
        assert caught.value.__cause__.sqlite_errorname == "SQLITE_FULL"
        assert not db.conn.in_transaction
        assert await _notes(db) == []
        assert (await db.fetchone("SELECT COUNT(*) FROM blobs"))[0] == 0
        await db.conn.execute("PRAGMA max_page_count = 1073741823")
        await _add_note(db, "small")
        assert await _notes(db) == ["small"]
    finally:
        await db.close()


async def test_failed_rollback_keeps_the_error_and_the_next_transaction_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = await _open(tmp_path / "salon.db")
    try:
        execute = db.conn.execute
        failed = []

        def execute_failing_one_rollback(sql: str, *args: object):
            if sql == "ROLLBACK" and not failed:
                failed.append(sql)
                raise sqlite3.OperationalError("disk I/O error")
            return execute(sql, *args)

        monkeypatch.setattr(db.conn, "execute", execute_failing_one_rollback)
        with pytest.raises(ValueError, match="the body's own error"):
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO notes (text) VALUES ('lost')")
                raise ValueError("the body's own error")
        assert failed == ["ROLLBACK"]
        await _add_note(db, "next")
        assert await _notes(db) == ["next"]
    finally:
        await db.close()


async def test_committed_write_is_visible_to_the_next_read(tmp_path: Path) -> None:
    db = await _open(tmp_path / "salon.db")
    try:
        for number in range(50):
            await _add_note(db, f"note {number}")
            assert (await db.fetchone("SELECT text FROM notes ORDER BY id DESC"))["text"] == f"note {number}"
            assert len(await db.fetchall("SELECT id FROM notes")) == number + 1
    finally:
        await db.close()


async def test_reads_inside_a_transaction_go_through_its_connection(tmp_path: Path) -> None:
    db = await _open(tmp_path / "salon.db")
    try:
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO notes (text) VALUES ('pending')")
            cursor = await conn.execute("SELECT text FROM notes")
            assert [row["text"] for row in await cursor.fetchall()] == ["pending"]
            await cursor.close()
            # The reader sees committed data only.
            assert await _notes(db) == []
        assert await _notes(db) == ["pending"]
    finally:
        await db.close()


async def test_reads_use_a_read_only_connection(tmp_path: Path) -> None:
    db = await _open(tmp_path / "salon.db")
    try:
        assert (await db.fetchone("PRAGMA query_only"))[0] == 1
        assert (await db.fetchone("PRAGMA journal_mode"))[0] == "wal"
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            await db.fetchone("INSERT INTO notes (text) VALUES ('sneaky') RETURNING id")
        assert await _notes(db) == []
    finally:
        await db.close()


@pytest.mark.parametrize("path", [":memory:", Path(":memory:")])
async def test_memory_database_uses_one_connection(path: str | Path) -> None:
    db = Database(path)
    await db.open()
    try:
        assert await db.schema_version() == len(bundled_migrations())
        assert (await db.fetchone("PRAGMA query_only"))[0] == 0
        async with db.transaction() as conn:
            await conn.execute("CREATE TABLE notes (text TEXT)")
            await conn.execute("INSERT INTO notes VALUES ('kept')")
        assert [row["text"] for row in await db.fetchall("SELECT text FROM notes")] == ["kept"]
    finally:
        await db.close()


def test_busy_timeout_cannot_be_negative() -> None:
    with pytest.raises(ValueError, match="busy_timeout_ms"):
        Database(":memory:", busy_timeout_ms=-1)
