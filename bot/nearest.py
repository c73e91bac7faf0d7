"""Nearest names: what to suggest when a user types a preset, theme or wildcard that does not exist."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from bot.catalogue import _


def nearest_names(name: str, known: Iterable[str], limit: int = 3) -> list[str]:
    """Return up to `limit` known names closest to `name`, best first (case-insensitive)."""
    by_folded = {candidate.casefold(): candidate for candidate in known}
    folded = name.casefold().strip()
    prefixed = [original for key, original in sorted(by_folded.items()) if folded and key.startswith(folded)]
    close = difflib.get_close_matches(folded, list(by_folded), n=limit, cutoff=0.6)
    ordered = [*prefixed, *(by_folded[key] for key in close)]
    return list(dict.fromkeys(ordered))[:limit]


def unknown_name_message(what: str, name: str, known: Iterable[str]) -> str:
    """Return "There is no <what> named X; did you mean A, B? Known: ..." for a user-facing error."""
    names = sorted(known)
    message = _("There is no {what} named {name!r}.").format(what=what, name=name)
    suggestions = nearest_names(name, names)
    if suggestions:
        message += _(" Did you mean ") + ", ".join(f"`{s}`" for s in suggestions) + "?"
    elif names:
        shown = ", ".join(f"`{s}`" for s in names[:15])
        message += _(" Choose one of {shown}").format(shown=shown) + (" …" if len(names) > 15 else "") + "."
    return message
