"""Free space in the data folder, and when it is low enough to warn an admin."""

from __future__ import annotations

import shutil
from pathlib import Path

from bot.catalogue import _


def free_bytes(path: Path) -> int:
    """Return the free bytes on the file system holding `path` (or its nearest existing parent)."""
    probe = path.resolve()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def human_size(size: int) -> str:
    """Return a size as people read it: `412 MB`, `1.5 GB`."""
    if size >= 10**9:
        return f"{size / 10**9:.1f} GB"
    if size >= 10**6:
        return f"{size // 10**6} MB"
    return f"{size // 10**3} KB"


def describe_low_space(path: Path, threshold_bytes: int) -> str | None:
    """Return a warning when the data folder has less than `threshold_bytes` free, else None."""
    free = free_bytes(path)
    if free >= threshold_bytes:
        return None
    return _("Only {free} free for Salon's data ({path}); an admin should free disk space soon.").format(
        free=human_size(free), path=path
    )
