"""`python -m bot backup`: a consistent copy of the live database and the images, taken while Salon writes."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from bot.errors import UserInputError
from bot.store import Database, ImageFiles
from bot.store.backup import backup_data


async def test_a_backup_taken_during_writes_is_consistent(tmp_path: Path) -> None:
    database = Database(tmp_path / "data" / "salon.db")
    await database.open()
    try:
        async with database.transaction() as conn:
            await conn.execute("CREATE TABLE counter (n INTEGER NOT NULL, pad BLOB NOT NULL)")
        # A second writer, as the running bot is, commits rows while the backup copies pages.
        started, stop = threading.Event(), threading.Event()
        written = [0]

        def keep_writing() -> None:
            conn = sqlite3.connect(database.path, timeout=30, isolation_level=None)
            try:
                while not stop.is_set():
                    conn.execute("INSERT INTO counter VALUES (?, ?)", (written[0], b"x" * 4000))
                    written[0] += 1
                    if written[0] == 200:
                        started.set()
            finally:
                conn.close()

        writer = threading.Thread(target=keep_writing)
        writer.start()
        assert started.wait(60)
        images = ImageFiles(tmp_path / "data" / "images")
        stored = images.path_for(images.write(b"\x89PNG a picture"))
        try:
            result = backup_data(database.path, images.root, tmp_path / "backup")
        finally:
            stop.set()
            writer.join()
        copy = sqlite3.connect(result.database)
        try:
            assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            count, highest = copy.execute("SELECT count(*), max(n) FROM counter").fetchone()
            # A snapshot: every row up to some moment, no gap, no torn page.
            assert count >= 200 and highest == count - 1
            assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        finally:
            copy.close()
        assert result.images_copied == 1
        assert (tmp_path / "backup" / "images" / stored.relative_to(images.root)).read_bytes() == b"\x89PNG a picture"
        # A second backup into the same folder refreshes the database and copies only new images.
        assert backup_data(database.path, images.root, tmp_path / "backup").images_copied == 0
    finally:
        await database.close()


def test_backup_refuses_a_file_as_its_folder_and_a_missing_database(tmp_path: Path) -> None:
    (tmp_path / "salon.db").write_bytes(b"")
    sqlite3.connect(tmp_path / "real.db").close()
    (tmp_path / "taken").write_text("a file")
    with pytest.raises(UserInputError, match="is a file"):
        backup_data(tmp_path / "real.db", tmp_path / "images", tmp_path / "taken")
    with pytest.raises(UserInputError, match="no database"):
        backup_data(tmp_path / "missing.db", tmp_path / "images", tmp_path / "out")
    with pytest.raises(UserInputError, match="data folder itself"):
        backup_data(tmp_path / "real.db", tmp_path / "images", tmp_path)
