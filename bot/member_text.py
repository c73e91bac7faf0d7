"""Text members type, made comparable and checked for emptiness the same way everywhere.

A prompt of zero-width spaces, joiners, word joiners, byte-order marks or soft hyphens looks
empty to a person and is not empty to `str.strip()`. Every place that takes member text (a
prompt, a negative prompt, a party topic, an association, a fragment or proposal, a theme's
name and template) asks this module whether anything visible is left.
"""

from __future__ import annotations

import json
import unicodedata
from functools import cache
from importlib import resources

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


def comparable(text: str) -> str:
    """Return `text` as a moderator's word list compares it: the same word however it is disguised.

    Compatibility forms are folded (NFKC: fullwidth `ｃａｔ` is `cat`), invisible and format characters
    dropped (`c\u200bat`), accents and stacked marks dropped (`c\u0301at`; `café` is `cafe`), case
    folded, and letters of other scripts that look like Latin ones read as those (Cyrillic `сat`,
    Greek `ο`), from Unicode's confusables. Both the text and the words are passed through it, so a
    term written with a look-alike matches too.
    """
    # Decomposed first, so an accent or a mark stacked on a letter is dropped with the invisibles.
    decomposed = unicodedata.normalize("NFKD", text)
    visible = "".join(char for char in decomposed if unicodedata.category(char) not in ("Cf", "Mn", "Me"))
    return unicodedata.normalize("NFKC", visible).casefold().translate(_latin_look_alikes())


@cache
def _latin_look_alikes() -> dict[int, str]:
    """Return, for each non-ASCII character Unicode lists as confusable with a Latin letter, that letter."""
    data = json.loads(resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8"))
    table: dict[int, str] = {}
    for char, homoglyphs in data.items():
        if len(char) != 1 or char.isascii():
            continue
        letters = [h["c"] for h in homoglyphs if len(h["c"]) == 1 and h["c"].isascii() and h["c"].isalpha()]
        if letters:
            lower = [letter for letter in letters if letter.islower()]
            table[ord(char)] = (lower or letters)[0].lower()
    return table
