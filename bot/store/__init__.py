"""Salon's durable store: SQLite through aiosqlite, plus content-addressed image files."""

from bot.store.database import Database, utc_now
from bot.store.events import SYSTEM, Actor, Change, Event, EventDraft, append_event, list_events, record
from bot.store.image_files import ImageFiles

__all__ = [
    "SYSTEM",
    "Actor",
    "Change",
    "Database",
    "Event",
    "EventDraft",
    "ImageFiles",
    "append_event",
    "list_events",
    "record",
    "utc_now",
]
