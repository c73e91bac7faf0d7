"""Variants and wildcards through `dynamicprompts`: `{red|blue} car`, `a portrait by __artists__`.

Lists live in `bot/prompting/presets/wildcards/<name>.txt`, one option a line (`#` starts a comment). Expansion is
seeded, so the same template and seed always give the same text: a reproduced grid matches.

Only the names of existing lists expand (a `*` glob must match one of them). Any other
`__word__` (Markdown underline, a Python dunder, a typo) stays in the prompt as text, hidden from
dynamicprompts so it never reaches the file system as a path; the composer notes it, with the
nearest list name. A stray `}` passes as text in dynamicprompts, so braces are checked here first.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

from dynamicprompts.generators import RandomPromptGenerator
from dynamicprompts.wildcards import WildcardManager

from bot.catalogue import N_, _
from bot.errors import UserInputError
from bot.nearest import nearest_names
from bot.presets import preset_path

WILDCARDS_DIR = preset_path("bot.prompting", "presets", "wildcards")
_WILDCARD = re.compile(r"__([\w*/-]+?)__")
_VARIANT = re.compile(r"\{[^{}]*\|[^{}]*\}")
VARIANT_FORM = N_("variants are written {red|green|blue}, wildcards __artists__")
# dynamicprompts reads `#` to the end of a line as a comment; in a prompt it is text ("#1 fan").
_HASH_STAND_IN = "\ue000"
# Around a `__word__` that names no list, so dynamicprompts sees plain text (private-use marks).
_LITERAL_OPEN, _LITERAL_CLOSE = "\ue001", "\ue002"


class Wildcards:
    """Return prompts with their variants and wildcards expanded, from the `.txt` lists in a folder."""

    def __init__(self, folder: Path = WILDCARDS_DIR) -> None:
        if not folder.is_dir():
            raise ValueError(f"the wildcard folder {folder} does not exist")
        self.folder = folder
        self._manager = WildcardManager(folder)

    def names(self) -> list[str]:
        """Return the names of the wildcard lists (`artists` for artists.txt), sorted."""
        return sorted(self._manager.get_collection_names())

    @staticmethod
    def has_syntax(text: str) -> bool:
        """Return whether `text` uses variants (`{a|b}`) or wildcards (`__name__`)."""
        return bool(_WILDCARD.search(text) or _VARIANT.search(text))

    def expand(self, template: str, seed: int) -> str:
        """Return the expansion of `template` that `seed` picks, or raise `UserInputError` saying what is wrong."""
        _check_braces(template)
        known = self.names()

        def hide_unknown(match: re.Match[str]) -> str:
            if fnmatch.filter(known, match[1]):
                return match[0]
            return f"{_LITERAL_OPEN}{match[1]}{_LITERAL_CLOSE}"

        hidden = _WILDCARD.sub(hide_unknown, template.replace("#", _HASH_STAND_IN))
        generator = RandomPromptGenerator(self._manager, seed=seed)
        try:
            [expanded] = generator.generate(hidden, 1)
        except Exception as exc:  # pyparsing's ParseException, among others: the syntax could not be read
            raise UserInputError(
                _("The prompt's variants could not be read; {variant_form}.").format(variant_form=_(VARIANT_FORM))
            ) from exc
        text = expanded.replace(_HASH_STAND_IN, "#").replace(_LITERAL_OPEN, "__").replace(_LITERAL_CLOSE, "__")
        return " ".join(text.split())

    def used(self, template: str) -> tuple[str, ...]:
        """Return the wildcard lists `template` draws from (globs resolved), in the order written."""
        known = self.names()
        return tuple(dict.fromkeys(n for name in _WILDCARD.findall(template) for n in fnmatch.filter(known, name)))

    def literal_notes(self, template: str) -> list[str]:
        """Return a note for each `__word__` that names no list and so stays as text (with the nearest name)."""
        known = self.names()
        notes = []
        for name in dict.fromkeys(_WILDCARD.findall(template)):
            if fnmatch.filter(known, name):
                continue
            nearest = nearest_names(name, known, limit=1)
            hint = _("; did you mean `__{nearest}__`?").format(nearest=nearest[0]) if nearest else "."
            notes.append(
                _("`__{name}__` is not a wildcard list, so it was kept as text{hint}").format(name=name, hint=hint)
            )
        return notes


def _check_braces(template: str) -> None:
    """Raise `UserInputError` unless every `{` in `template` is closed by a later `}`."""
    depth = 0
    for character in template:
        if character == "{":
            depth += 1
        elif character == "}":
            depth -= 1
            if depth < 0:
                raise UserInputError(
                    _("The prompt has a `}}` that closes nothing; {variant_form}.").format(variant_form=_(VARIANT_FORM))
                )
    if depth:
        raise UserInputError(
            _("The prompt has a `{{` that is never closed; {variant_form}.").format(variant_form=_(VARIANT_FORM))
        )
