"""Style presets: named wrappers for a prompt (oil, watercolor, pencil, "by <artist>", ...).

The shipped presets are in `bot/prompting/presets/styles.toml`, one table per preset, keyed by its slug:

    [oil]
    label = "Oil painting"
    description = "Oil on canvas: rich colour, visible brush strokes."
    template = "{prompt}, oil painting, oil on canvas"
    negative = "photo, text"        # optional
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from bot.errors import UserInputError
from bot.nearest import unknown_name_message
from bot.presets import preset_path

STYLES_PATH = preset_path("bot.prompting", "presets", "styles.toml")
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_REQUIRED = ("label", "description", "template")
_KEYS = {*_REQUIRED, "negative"}
# Discord shows at most 25 autocomplete choices.
AUTOCOMPLETE_LIMIT = 25


@dataclass(frozen=True)
class StylePreset:
    """One style: its slug, how it is shown, its template (with `{prompt}` once) and the negative it adds."""

    name: str
    label: str
    description: str
    template: str
    negative: str = ""


class StyleCatalog:
    """The style presets users can pick, by name."""

    def __init__(self, presets: list[StylePreset]) -> None:
        self._presets: dict[str, StylePreset] = {}
        for preset in presets:
            if preset.name in self._presets:
                raise ValueError(f"style {preset.name!r} is defined twice")
            self._presets[preset.name] = preset

    @classmethod
    def load(cls, path: Path = STYLES_PATH) -> StyleCatalog:
        """Return the catalog in a TOML file; raise `ValueError` naming the file and the broken entry."""
        try:
            with path.open("rb") as handle:
                raw = tomllib.load(handle)
        except tomllib.TOMLDecodeError as exc:  # a table declared twice lands here too
            raise ValueError(f"{path.name} is not valid TOML: {exc}") from exc
        return cls([_preset(path.name, name, entry) for name, entry in raw.items()])

    def names(self) -> list[str]:
        """Return the preset names, sorted."""
        return sorted(self._presets)

    def get(self, name: str) -> StylePreset:
        """Return the preset called `name` (any case), or raise `UserInputError` suggesting the nearest names."""
        preset = self._presets.get(name.strip().lower())
        if preset is None:
            raise UserInputError(unknown_name_message("style", name, self._presets))
        return preset

    def autocomplete(self, current: str, limit: int = AUTOCOMPLETE_LIMIT) -> list[tuple[str, str]]:
        """Return (name, label) of presets for what the user is typing: prefix matches first, then substrings."""
        typed = current.strip().casefold()
        ordered = sorted(self._presets.values(), key=lambda preset: preset.name)
        prefix = [p for p in ordered if p.name.startswith(typed) or p.label.casefold().startswith(typed)]
        inside = [p for p in ordered if p not in prefix and typed in f"{p.name}\n{p.label}".casefold()]
        return [(p.name, p.label) for p in [*prefix, *inside][:limit]]

    @staticmethod
    def apply(preset: StylePreset, prompt: str, negative: str) -> tuple[str, str]:
        """Return the prompt set in the preset's template, and the negative prompt with the preset's appended."""
        negatives = [part for part in (negative.strip(), preset.negative.strip()) if part]
        # One `{prompt}` is guaranteed by `load`; braces in the user's text are not read as placeholders.
        return preset.template.replace("{prompt}", prompt.strip()), ", ".join(negatives)


@cache
def default_style_catalog() -> StyleCatalog:
    """Return the shipped presets (bot/prompting/presets/styles.toml), loaded once per process."""
    return StyleCatalog.load(STYLES_PATH)


def _preset(file_name: str, name: str, entry: object) -> StylePreset:
    """Return the preset of one TOML table, or raise `ValueError` saying what is wrong with it."""
    where = f"{file_name}: style [{name}]"  # admin-read: a preset file's error, for whoever wrote it
    if not _SLUG.fullmatch(name):
        raise ValueError(f"{where}: the name must be a slug (lowercase letters, digits and hyphens)")
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be a table with {', '.join(_REQUIRED)} and optionally negative")
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise ValueError(f"{where} has unknown keys {unknown}; allowed are {sorted(_KEYS)}")
    for key in _REQUIRED:
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise ValueError(f"{where} needs a non-empty {key}")
    if not isinstance(entry.get("negative", ""), str):
        raise ValueError(f"{where}: negative must be a string")
    count = entry["template"].count("{prompt}")
    if count != 1:
        raise ValueError(f"{where}: the template must contain {{prompt}} exactly once, it has it {count} times")
    return StylePreset(
        name=name,
        label=entry["label"].strip(),
        description=entry["description"].strip(),
        template=entry["template"],
        negative=entry.get("negative", "").strip(),
    )
