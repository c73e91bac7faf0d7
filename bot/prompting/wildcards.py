"""Variants and wildcards through `dynamicprompts`: `{red|blue} car`, `a portrait by __artists__`.

Lists live in `data/wildcards/<name>.txt`, one option a line (`#` starts a comment). Expansion is
seeded, so the same template and seed always give the same text: a reproduced grid matches.

dynamicprompts is lenient where a user needs to hear about a mistake: an unknown `__name__` is
left in the prompt with a log warning, and a stray `}` passes as text. Both are checked here first.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

from dynamicprompts.generators import RandomPromptGenerator
from dynamicprompts.wildcards import WildcardManager

from bot.errors import UserInputError
from bot.nearest import unknown_name_message
from bot.prompting import DATA_DIR

WILDCARDS_DIR = DATA_DIR / "wildcards"
_WILDCARD = re.compile(r"__([\w*/-]+?)__")
_VARIANT = re.compile(r"\{[^{}]*\|[^{}]*\}")
VARIANT_FORM = "variants are written {red|green|blue}, wildcards __artists__"
# dynamicprompts reads `#` to the end of a line as a comment; in a prompt it is text ("#1 fan").
_HASH_STAND_IN = "\ue000"


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
        self._check_wildcards(template)
        _check_braces(template)
        generator = RandomPromptGenerator(self._manager, seed=seed)
        try:
            [expanded] = generator.generate(template.replace("#", _HASH_STAND_IN), 1)
        except Exception as exc:  # pyparsing's ParseException, among others: the syntax could not be read
            raise UserInputError(f"The prompt's variants could not be read; {VARIANT_FORM}.") from exc
        return " ".join(expanded.replace(_HASH_STAND_IN, "#").split())

    def _check_wildcards(self, template: str) -> None:
        known = self.names()
        for name in _WILDCARD.findall(template):
            # `__art*__` is a glob over the list names; it must match at least one.
            if not fnmatch.filter(known, name):
                raise UserInputError(unknown_name_message("wildcard", f"__{name}__", [f"__{n}__" for n in known]))


def _check_braces(template: str) -> None:
    """Raise `UserInputError` unless every `{` in `template` is closed by a later `}`."""
    depth = 0
    for character in template:
        if character == "{":
            depth += 1
        elif character == "}":
            depth -= 1
            if depth < 0:
                raise UserInputError(f"The prompt has a `}}` that closes nothing; {VARIANT_FORM}.")
    if depth:
        raise UserInputError(f"The prompt has a `{{` that is never closed; {VARIANT_FORM}.")
