"""Domain exceptions: what went wrong, in words a Discord user can act on."""

from __future__ import annotations


class SalonError(Exception):
    """Base of errors whose message is shown to the user as it is."""


class UserInputError(SalonError):
    """The user asked for something out of range or malformed; the message says what is allowed."""


class QueueFullError(SalonError):
    """A queue cap (per user or global) is reached; nothing was queued."""


class GenerationFailedError(SalonError):
    """A queued generation ended in failure; the job row holds the cause."""


class ServiceStoppingError(SalonError):
    """Salon is shutting down; the job, if any, is kept in the store for the next start."""


class StorageError(SalonError):
    """The store could not take a change; nothing of the interaction was kept."""


class StorageBusyError(StorageError):
    """Another writer held the database longer than Salon waits; nothing was changed."""


class StorageFullError(StorageError):
    """The disk (or the database's size cap) is full; nothing was changed."""
