"""A copy of Salon's data folder taken while the bot runs: SQLite's online backup API plus the images.

Copying `salon.db` with `cp` while Salon writes can capture a torn file, and leaves the WAL behind.
SQLite's backup API copies a consistent snapshot page by page; a write during the copy makes
SQLite restart from that snapshot, so a busy bot delays a backup but never corrupts one. Image
files are content-addressed and never rewritten, so copying those that are new is enough.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from bot.errors import UserInputError

PAGES_PER_STEP = 1024


@dataclass(frozen=True)
class BackupResult:
    """What a backup wrote: the database copy, its size in pages, and how many image files were new."""

    database: Path
    pages: int
    images_copied: int


def backup_data(database: Path, images: Path, out: Path) -> BackupResult:
    """Copy the live `database` and the `images` folder into `out` (created; an existing backup is refreshed)."""
    if not database.is_file():
        raise UserInputError(f"there is no database at {database} to back up")  # admin-read
    if out.exists() and not out.is_dir():
        raise UserInputError(f"{out} is a file; name a folder for the backup")  # admin-read
    if out.resolve() == database.parent.resolve():
        raise UserInputError("the backup folder must not be the data folder itself")  # admin-read
    out.mkdir(parents=True, exist_ok=True)
    target = out / database.name
    pages = _backup_database(database, target)
    return BackupResult(target, pages, _copy_new_images(images, out / "images"))


def _backup_database(source: Path, target: Path) -> int:
    """Write a consistent copy of `source` to `target` through a temporary file; return its page count."""
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    # Read-write only so that SQLite may open the WAL's index if the bot is not running; nothing is written.
    source_conn = sqlite3.connect(source, timeout=30)
    target_conn = sqlite3.connect(partial)
    try:
        source_conn.backup(target_conn, pages=PAGES_PER_STEP)
        # The copy is a standalone file: no WAL beside it to lose.
        target_conn.execute("PRAGMA journal_mode = DELETE")
        (verdict,) = target_conn.execute("PRAGMA quick_check").fetchone()
        if verdict != "ok":
            raise RuntimeError(f"the backup of {source} failed SQLite's check: {verdict}")
        (pages,) = target_conn.execute("PRAGMA page_count").fetchone()
    finally:
        target_conn.close()
        source_conn.close()
    os.replace(partial, target)
    return int(pages)


def _copy_new_images(images: Path, out: Path) -> int:
    """Copy the image files `out` lacks (same relative path and size counts as present); return how many."""
    if not images.is_dir():
        return 0
    copied = 0
    for path in images.rglob("*"):
        if not path.is_file() or path.name.startswith(".tmp-"):  # skip ImageFiles' half-written files
            continue
        destination = out / path.relative_to(images)
        if destination.is_file() and destination.stat().st_size == path.stat().st_size:
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)
        copied += 1
    return copied
