"""Text members type, made comparable and checked for emptiness the same way everywhere.

A prompt of zero-width spaces, joiners, word joiners, byte-order marks or soft hyphens looks
empty to a person and is not empty to `str.strip()`. Every place that takes member text (a
prompt, a negative prompt, a party topic, an association, a fragment or proposal, a theme's
name and template) asks this module whether anything visible is left.
"""

from __future__ import annotations

import unicodedata

# Categories with nothing to see on their own: controls, format characters (ZWSP, ZWJ, word
# joiner, BOM, soft hyphen, bidi marks), separators, and combining marks without a base.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp", "Mn", "Me", "Cs", "Co", "Cn"})
# Letters by category that every font draws as blank space.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def is_visible(char: str) -> bool:
    """Return whether one character shows something by itself."""
    return char not in _BLANK_LETTERS and unicodedata.category(char) not in _INVISIBLE_CATEGORIES


def is_blank(text: str) -> bool:
    """Return whether `text` shows nothing: only spaces, invisible or format characters."""
    return not any(is_visible(char) for char in text)


def one_line(text: str) -> str:
    """Return member text on one line: controls and runs of spaces become single spaces, the ends trimmed.

    A text that shows nothing becomes "" (so a length check of 1 or more refuses it as empty).
    """
    if is_blank(text):
        return ""
    spaced = "".join(" " if unicodedata.category(char) == "Cc" else char for char in text)
    return " ".join(spaced.split())
