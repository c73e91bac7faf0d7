"""Autocomplete for the ids a member would otherwise type: proposals, versions, jobs."""

from __future__ import annotations

from collections.abc import Iterable

from discord import app_commands

MAX_CHOICES = 25  # Discord shows at most 25


def id_choices(items: Iterable[tuple[int, str]], current: str) -> list[app_commands.Choice[int]]:
    """Return up to 25 choices of (id, label) whose id or label holds what the member typed so far."""
    typed = current.strip().lstrip("#v").casefold()
    shown = []
    for item_id, label in items:
        if typed and typed not in str(item_id) and typed not in label.casefold():
            continue
        shown.append(app_commands.Choice(name=label[:100], value=item_id))
        if len(shown) == MAX_CHOICES:
            break
    return shown
