"""Salon's durable store: SQLite through aiosqlite, plus content-addressed image files."""

from bot.store.database import Database, utc_now
from bot.store.events import SYSTEM, Actor, Event, append_event, list_events
from bot.store.image_files import ImageFiles

__all__ = ["SYSTEM", "Actor", "Database", "Event", "ImageFiles", "append_event", "list_events", "utc_now"]
