"""The running bot's heartbeat: a small file a container's health check (or a person) can read.

A process can be alive and useless: disconnected from Discord, or with every GPU worker down. The
bot rewrites `heartbeat.json` in its data folder every `SALON_HEARTBEAT_SECONDS` with what it
knows, and `python -m bot health` turns the file into an exit code and one line, without touching
the database, Discord or the GPU (a health check runs every half minute and must be cheap).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

HEARTBEAT_FILE = "heartbeat.json"
# Beats that may be missed before the bot counts as hung (a long GC or a slow disk skips one).
MISSED_BEATS = 3


@dataclass(frozen=True)
class Heartbeat:
    """What the bot knew at one beat."""

    at: str  # ISO-8601 UTC
    connected: bool  # the gateway is up and the bot is ready
    ready_workers: int
    total_workers: int
    stopped: bool = False  # written by a clean shutdown
    last_error: str | None = None


def write_heartbeat(data_dir: Path, beat: Heartbeat) -> None:
    """Replace the heartbeat file atomically (a reader sees the old beat or the new one)."""
    path = data_dir / HEARTBEAT_FILE
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(asdict(beat)), encoding="utf-8")
    os.replace(partial, path)


def heartbeat_problem(data_dir: Path, interval_seconds: float, now: datetime | None = None) -> str | None:
    """Return why the bot is not healthy according to its heartbeat, or None when it is."""
    path = data_dir / HEARTBEAT_FILE
    try:
        beat = Heartbeat(**json.loads(path.read_text(encoding="utf-8")))
        at = datetime.fromisoformat(beat.at)
    except FileNotFoundError:
        return f"no heartbeat at {path}: Salon has not connected to Discord yet, or is not running"
    except (OSError, ValueError, TypeError) as exc:
        return f"the heartbeat at {path} cannot be read: {exc}"
    age = ((now or datetime.now(UTC)) - at).total_seconds()
    if beat.stopped:
        return f"Salon stopped {age:.0f} s ago"
    if age > MISSED_BEATS * interval_seconds:
        return f"the last heartbeat is {age:.0f} s old (one is due every {interval_seconds:g} s): Salon is hung or gone"
    if not beat.connected:
        return "Salon is not connected to Discord (it is reconnecting)"
    if beat.ready_workers == 0:
        reason = f": {beat.last_error}" if beat.last_error else ""
        return f"no generation worker is ready (0 of {beat.total_workers}){reason}"
    return None
