"""The catalogue of every text Salon shows a member: gettext, with `bot/locale/salon.pot` as its list.

Salon speaks English only for now, but every sentence a member reads goes through `_` (or `N_`
for text defined at import time and translated where it is shown), so that a translator can turn
`bot/locale/salon.pot` into `bot/locale/<language>/LC_MESSAGES/salon.po` and Salon speaks it once
compiled to `salon.mo`. Texts with values are written with named fields and filled in after the
lookup, `_("Round {number} closed").format(number=n)`, so a translation may move the fields.

`make catalogue` regenerates the `.pot` from the source (Babel's extractor); a test fails when the
committed file is behind the code, and another when a sentence reaches a member without `_`.
"""

from __future__ import annotations

import gettext
from pathlib import Path

DOMAIN = "salon"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"

_active: gettext.NullTranslations = gettext.NullTranslations()


def compiled_languages(locale_dir: Path = LOCALE_DIR) -> list[str]:
    """Return the languages Salon can speak: English and each compiled `<language>/LC_MESSAGES/salon.mo`."""
    compiled = sorted(path.parent.parent.name for path in locale_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.mo"))
    return ["en", *compiled]


def use_language(language: str, locale_dir: Path = LOCALE_DIR) -> bool:
    """Speak `language` from now on; return False (and keep English) when it has no compiled catalogue."""
    global _active
    if language in ("", "en"):
        _active = gettext.NullTranslations()
        return True
    try:
        _active = gettext.translation(DOMAIN, localedir=locale_dir, languages=[language])
    except FileNotFoundError:
        _active = gettext.NullTranslations()
        return False
    return True


def _(message: str) -> str:
    """Return `message` in the language Salon speaks (the text itself in English)."""
    return _active.gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    """Return the singular or plural form for `count`, in the language Salon speaks."""
    return _active.ngettext(singular, plural, count)


def N_(message: str) -> str:  # the gettext convention for "mark now, translate where shown"
    """Mark text defined at import time for the catalogue; it is translated with `_` where it is shown."""
    return message
