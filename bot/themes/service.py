"""Themed channels and guild blocklists: the rules every generation in a channel follows.

A theme wraps the user's prompt in a template, adds a negative prompt, supplies defaults, and may
limit models and words. A guild's blocklist refuses terms everywhere in that guild. Plain async
Python without Discord types: the cogs, the CLI and the demo share it.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bot.catalogue import _
from bot.errors import UserInputError
from bot.imagine.limits import GUIDANCE, SIDE, STEPS
from bot.member_text import comparable, is_blank
from bot.nearest import unknown_name_message
from bot.presets import preset_path
from bot.store import Actor, Database, EventDraft, record
from bot.themes.store import (
    add_blocked_term,
    blocked_terms,
    delete_channel_theme,
    load_channel_theme,
    remove_blocked_term,
    save_channel_theme,
)

THEME_PRESETS_PATH = preset_path("bot.themes", "presets.toml")
MAX_TEMPLATE_CHARS = 500
MAX_WORDS = 50
MAX_BLOCKED_TERMS = 500
DEFAULT_LIMITS = {"steps": STEPS, "guidance": GUIDANCE, "width": SIDE, "height": SIDE}
DEFAULT_KEYS = tuple(DEFAULT_LIMITS)


def word_pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    """Return a case-insensitive pattern matching any of `words` as whole words (plurals too), as `word`."""
    # A term of several words matches with any run of spaces between them.
    spelled = {r"\s+".join(re.escape(part) for part in word.split()) for word in words if word.strip()}
    alternatives = sorted(spelled, key=len, reverse=True)
    if not alternatives:
        return None
    return re.compile(r"(?<!\w)(?P<word>" + "|".join(alternatives) + r")(?:s|es)?(?!\w)", re.IGNORECASE)


def found_words(text: str, words: Iterable[str]) -> list[str]:
    """Return the distinct words of `words` that `text` mentions, in the order they appear.

    Both sides are compared in their `comparable` form, so a word disguised with fullwidth letters,
    a zero-width space, an accent or a look-alike letter of another script is still found; the
    word is returned as the list has it.
    """
    listed: dict[str, str] = {}
    for word in words:
        listed.setdefault(" ".join(comparable(word).split()), word.strip().casefold())
    listed.pop("", None)
    pattern = word_pattern(listed)
    if pattern is None:
        return []
    found = (listed[" ".join(match.group("word").split())] for match in pattern.finditer(comparable(text)))
    return list(dict.fromkeys(found))


def split_words(text: str | None) -> tuple[str, ...]:
    """Return the comma-separated words of an option, trimmed, without empties or repeats."""
    if not text:
        return ()
    return tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))


@dataclass(frozen=True)
class Theme:
    """What a themed channel is about and the rules its generations follow."""

    name: str
    description: str
    template: str = "{prompt}"
    negative: str = ""
    label: str = ""
    defaults: dict[str, float] = field(default_factory=dict)
    allowed_models: tuple[str, ...] = ()
    required_words: tuple[str, ...] = ()
    banned_words: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise `UserInputError` saying what is allowed if the theme cannot be used."""
        if is_blank(self.name) or len(self.name) > 60:
            raise UserInputError(_("A theme needs a name of 1 to 60 characters."))
        if len(self.description) > 1000:
            raise UserInputError(_("A theme's description is limited to 1000 characters."))
        if self.template.count("{prompt}") != 1:
            raise UserInputError(
                _(
                    "A theme's template must contain `{prompt}` exactly once, where the user's "
                    "prompt goes (for example `{prompt}, distant planet landscape`)."
                )
            )
        if len(self.template) > MAX_TEMPLATE_CHARS or len(self.negative) > MAX_TEMPLATE_CHARS:
            raise UserInputError(
                _("A theme's template and negative prompt are limited to {max_template_chars} characters.").format(
                    max_template_chars=MAX_TEMPLATE_CHARS
                )
            )
        for key, value in self.defaults.items():
            if key not in DEFAULT_KEYS:
                raise UserInputError(
                    _("Unknown theme default {key!r}; allowed: {default_keys}.").format(
                        key=key, default_keys=", ".join(DEFAULT_KEYS)
                    )
                )
            # The same limits as /imagine's own options: a theme cannot promise what /imagine refuses.
            DEFAULT_LIMITS[key].check(value, _("The theme's default {key}").format(key=key))
        for words in (self.required_words, self.banned_words, self.allowed_models):
            if len(words) > MAX_WORDS:
                raise UserInputError(
                    _("A theme lists at most {max_words} words or models in each list.").format(max_words=MAX_WORDS)
                )
        both = {w.casefold() for w in self.required_words} & {w.casefold() for w in self.banned_words}
        if both:
            raise UserInputError(
                _("A word cannot be both required and banned: {both}.").format(both=", ".join(sorted(both)))
            )

    def to_json(self) -> dict[str, Any]:
        """Return the theme as JSON-safe data for the store."""
        data = asdict(self)
        for key in ("allowed_models", "required_words", "banned_words"):
            data[key] = list(data[key])
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Theme:
        """Return a theme from stored or preset data."""
        values = dict(data)
        for key in ("allowed_models", "required_words", "banned_words"):
            values[key] = tuple(values.get(key, ()))
        values["defaults"] = dict(values.get("defaults", {}))
        return cls(**values)

    def apply(self, prompt: str, negative: str) -> tuple[str, str]:
        """Return the prompt in the theme's template and the negative prompt with the theme's added."""
        themed = self.template.replace("{prompt}", prompt)
        negatives = [part for part in (negative.strip(), self.negative.strip()) if part]
        return themed, ", ".join(negatives)

    def check(self, prompt: str, model: str) -> None:
        """Raise `UserInputError` if the user's prompt or model breaks the theme's rules."""
        if self.allowed_models and model not in self.allowed_models:
            allowed = ", ".join(f"`{m}`" for m in self.allowed_models)
            raise UserInputError(
                _("This channel's theme ({name}) allows only these models: {allowed}.").format(
                    name=self.name, allowed=allowed
                )
            )
        banned = found_words(prompt, self.banned_words)
        if banned:
            raise UserInputError(
                _("This channel's theme ({name}) does not allow {value} in prompts.").format(
                    name=self.name, value=", ".join(f"`{w}`" for w in banned)
                )
            )
        if self.required_words and not found_words(prompt, self.required_words):
            words = ", ".join(f"`{w}`" for w in self.required_words)
            raise UserInputError(
                _("This channel is about {name}: mention at least one of {words} in your prompt.").format(
                    name=self.name, words=words
                )
            )

    def describe(self) -> str:
        """Return a few lines telling everyone what the channel is about and its rules."""
        lines = [f"**{self.label or self.name}**", self.description]
        lines.append(_("Prompts become: `{template}`").format(template=self.template))
        if self.negative:
            lines.append(_("Always avoided: `{negative}`").format(negative=self.negative))
        if self.defaults:
            defaults = ", ".join(f"{k} {v}" for k, v in sorted(self.defaults.items()))
            lines.append(_("Defaults: {defaults}").format(defaults=defaults))
        if self.allowed_models:
            lines.append(_("Models: {models}").format(models=", ".join(f"`{m}`" for m in self.allowed_models)))
        if self.required_words:
            lines.append(_("Mention one of: {words}").format(words=", ".join(self.required_words)))
        if self.banned_words:
            lines.append(_("Not allowed: ") + ", ".join(self.banned_words))
        return "\n".join(line for line in lines if line)


def load_theme_presets(path: Path = THEME_PRESETS_PATH) -> dict[str, Theme]:
    """Return the shipped theme presets by name; raise `ValueError` naming a broken entry."""
    with path.open("rb") as handle:
        raw = tomllib.load(handle)
    presets = {}
    for name, entry in raw.items():
        try:
            presets[name] = Theme.from_json({"name": name, **entry})
        except (TypeError, UserInputError) as exc:
            raise ValueError(f"{path.name}: theme [{name}] is invalid: {exc}") from exc
    return presets


class ThemeService:
    """Return and change channel themes and guild blocklists, logging every change as an event."""

    def __init__(self, db: Database, presets: dict[str, Theme] | None = None) -> None:
        self.db = db
        self.presets = load_theme_presets() if presets is None else presets

    def preset(self, name: str) -> Theme:
        """Return a preset by name, or raise `UserInputError` suggesting the nearest names."""
        theme = self.presets.get(name.strip().casefold())
        if theme is None:
            raise UserInputError(unknown_name_message(_("theme preset"), name, self.presets))
        return theme

    def autocomplete(self, current: str, limit: int = 25) -> list[tuple[str, str]]:
        """Return (name, label) of presets matching what the user is typing, prefix matches first."""
        typed = current.casefold().strip()
        ranked = sorted(
            self.presets.values(),
            key=lambda t: (not t.name.startswith(typed), typed not in (t.name + " " + t.label).casefold(), t.name),
        )
        return [(t.name, t.label or t.name) for t in ranked if typed in (t.name + " " + t.label).casefold()][:limit]

    async def theme_of(self, channel_id: str) -> Theme | None:
        """Return the channel's theme, or None."""
        data = await load_channel_theme(self.db, channel_id)
        return Theme.from_json(data) if data else None

    async def set_theme(self, actor: Actor, guild_id: str | None, channel_id: str, theme: Theme) -> Theme:
        """Set a channel's theme (replacing any) and return it."""
        async with record(self.db) as change:
            await save_channel_theme(
                change.conn,
                channel_id=channel_id,
                guild_id=guild_id,
                name=theme.name,
                theme=theme.to_json(),
                set_by=actor.id,
            )
            change.log(
                EventDraft(
                    actor=actor,
                    kind="theme.set",
                    guild_id=guild_id,
                    channel_id=channel_id,
                    subject=("channel", channel_id),
                    payload=theme.to_json(),
                )
            )
        return theme

    async def clear_theme(self, actor: Actor, guild_id: str | None, channel_id: str) -> bool:
        """Remove a channel's theme; return whether it had one."""
        async with record(self.db) as change:
            removed = await delete_channel_theme(change.conn, channel_id)
            if removed:
                change.log(
                    EventDraft(
                        actor=actor,
                        kind="theme.cleared",
                        guild_id=guild_id,
                        channel_id=channel_id,
                        subject=("channel", channel_id),
                    )
                )
        return removed

    async def block(self, actor: Actor, guild_id: str, term: str) -> bool:
        """Add a term to a guild's blocklist; return False if it was there already."""
        term = _checked_term(term)
        if len(await blocked_terms(self.db, guild_id)) >= MAX_BLOCKED_TERMS:
            raise UserInputError(
                _("A guild's blocklist holds at most {max_blocked_terms} terms; remove some first.").format(
                    max_blocked_terms=MAX_BLOCKED_TERMS
                )
            )
        async with record(self.db) as change:
            added = await add_blocked_term(change.conn, guild_id=guild_id, term=term, added_by=actor.id)
            if added:
                change.log(
                    EventDraft(
                        actor=actor,
                        kind="blocklist.added",
                        guild_id=guild_id,
                        subject=("guild", guild_id),
                        payload={"term": term},
                    )
                )
        return added

    async def unblock(self, actor: Actor, guild_id: str, term: str) -> bool:
        """Remove a term from a guild's blocklist; return whether it was there."""
        term = _checked_term(term)
        async with record(self.db) as change:
            removed = await remove_blocked_term(change.conn, guild_id=guild_id, term=term)
            if removed:
                change.log(
                    EventDraft(
                        actor=actor,
                        kind="blocklist.removed",
                        guild_id=guild_id,
                        subject=("guild", guild_id),
                        payload={"term": term},
                    )
                )
        return removed

    async def blocked(self, guild_id: str) -> list[str]:
        """Return a guild's blocked terms."""
        return await blocked_terms(self.db, guild_id)

    async def check_blocklist(
        self, guild_id: str | None, *texts: str, actor: Actor | None = None, channel_id: str | None = None
    ) -> None:
        """Raise `UserInputError` if any text mentions a term blocked in the guild.

        With `actor`, a refusal is logged (`blocklist.refused`, the text and the terms) for `/audit`:
        moderators see who keeps trying what, though nothing was stored or queued.
        """
        if guild_id is None:
            return
        terms = await blocked_terms(self.db, guild_id)
        for text in texts:
            hits = found_words(text, terms)
            if hits:
                if actor is not None:
                    async with record(
                        self.db,
                        EventDraft(
                            actor=actor,
                            kind="blocklist.refused",
                            guild_id=guild_id,
                            channel_id=channel_id,
                            subject=("user", actor.id),
                            payload={"terms": hits, "text": text[:500]},
                        ),
                    ):
                        pass
                named = ", ".join(f"`{hit}`" for hit in hits)
                raise UserInputError(
                    _("This uses {named}, blocked by the moderators of this server; rephrase it and try again.").format(
                        named=named
                    )
                )


def _checked_term(term: str) -> str:
    cleaned = " ".join(term.split()).casefold()
    if not 1 <= len(cleaned) <= 100:
        raise UserInputError(_("A blocked term is 1 to 100 characters."))
    return cleaned
