"""From what a user typed to the exact job spec: flags, style, theme, blocklist, wildcards.

The order matters and is fixed: inline flags are read out of the prompt first; the user's own words
are checked against the channel's theme and the guild's blocklist; then the style preset and the
theme's template wrap them; wildcards expand last (seeded by the first image's seed, so the same
seed reproduces the same text), and the expanded text is checked against the blocklist again.

Every kind of job (a fresh grid, a variation, a party round, a region edit) is composed here, in
one call, from what it starts from: the spec is built once and never patched afterwards.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, replace
from typing import Any

from bot.catalogue import _
from bot.errors import UserInputError
from bot.imagine.content_images import ContentImage, size_like
from bot.imagine.limits import COUNT, GUIDANCE, SEED, SIDE, STEPS, STRENGTH
from bot.jobs.factory import build_request
from bot.jobs.spec import (
    Feature,
    ImagineOptions,
    JobSpec,
    Lineage,
    Origin,
    PartyRef,
    Place,
    PreparedGeneration,
    Region,
    RegionEdit,
    Render,
)
from bot.member_text import is_blank
from bot.nearest import unknown_name_message
from bot.prompting.flags import parse_inline_flags, size_for_aspect
from bot.prompting.styles import StyleCatalog
from bot.prompting.wildcards import Wildcards
from bot.store import Actor
from bot.store.image_files import ImageFiles
from bot.themes.service import Theme, ThemeService

__all__ = [
    "ASPECT_RATIOS",
    "MAX_PROMPT_CHARS",
    "MAX_SEED",
    "MAX_SIDE",
    "MAX_STEPS",
    "GenerationDefaults",
    "ImagineOptions",
    "Lineage",
    "Place",
    "PreparedGeneration",
    "PromptComposer",
    "StartImage",
]

MAX_PROMPT_CHARS = 1000
MAX_SEED = 2**32 - 1
MAX_SIDE = int(SIDE.high)
MAX_STEPS = int(STEPS.high)
DEFAULT_STRENGTH = 0.75
# Variations stay close to the chosen image: new noise on top of most of its structure.
VARIATION_STRENGTH = 0.45
ASPECT_RATIOS = ("1:1", "4:3", "3:4", "3:2", "2:3", "16:9", "9:16", "21:9", "9:21")


@dataclass(frozen=True)
class GenerationDefaults:
    """The parameters a generation takes when the user does not choose them."""

    model: str = "tiny"
    width: int = 512
    height: int = 512
    steps: int = 25
    guidance: float = 7.0
    scheduler: str = "euler"
    count: int = 4
    # The models users may pick; empty means only `model`.
    models: tuple[str, ...] = ()
    # Per model alias: its registry defaults (width, height, steps, guidance, scheduler) and negative prompt.
    model_defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    model_negatives: dict[str, str] = field(default_factory=dict)
    # What members read about each model (the registry's descriptions); never its source.
    model_descriptions: dict[str, str] = field(default_factory=dict)

    def model_label(self, alias: str) -> str:
        """Return how a model is named to members: its alias, and its description when it has one."""
        description = self.model_descriptions.get(alias, "")
        return f"{alias} · {description}" if description else alias

    @property
    def known_models(self) -> tuple[str, ...]:
        """Return every model a user may choose, the default first."""
        return tuple(dict.fromkeys((self.model, *self.models)))


@dataclass(frozen=True)
class StartImage:
    """The stored image a generation starts from, and how much of it to change."""

    sha256: str
    width: int
    height: int
    strength: float
    mask_sha256: str | None = None
    keep_unmasked: bool = False
    # A party round starts from the winner's seed, so the lineage of seeds stays easy to follow.
    first_seed: int | None = None


class PromptComposer:
    """Return checked job specs from user options, following the channel's rules."""

    def __init__(
        self,
        defaults: GenerationDefaults,
        themes: ThemeService,
        styles: StyleCatalog,
        wildcards: Wildcards,
        files: ImageFiles,
    ) -> None:
        self.defaults = defaults
        self.themes = themes
        self.styles = styles
        self.wildcards = wildcards
        self.files = files

    async def compose(
        self,
        requester: str,
        place: Place,
        options: ImagineOptions,
        *,
        feature: Feature = Feature.IMAGINE,
        origin: Origin = Origin.FRESH,
        content: ContentImage | None = None,
        start: StartImage | None = None,
        lineage: Lineage | None = None,
        party: PartyRef | None = None,
        edit: RegionEdit | None = None,
        regions: tuple[Region, ...] = (),
        priority: int = 0,
        share_key: str | None = None,
        session_id: int | None = None,
    ) -> PreparedGeneration:
        """Return the spec for `options`, or raise `UserInputError` naming what is allowed."""
        if content is not None and start is not None:
            raise ValueError("a generation starts from an uploaded content image or a stored image, not both")
        flags = parse_inline_flags(options.prompt)
        user_prompt = flags.prompt.strip()
        if is_blank(user_prompt):
            raise UserInputError(_("The prompt is empty: describe the image you want."))
        if len(user_prompt) > MAX_PROMPT_CHARS:
            raise UserInputError(
                _("The prompt has {count} characters; the limit is {max_prompt_chars}.").format(
                    count=len(user_prompt), max_prompt_chars=MAX_PROMPT_CHARS
                )
            )
        negative = ", ".join(
            part for part in (options.negative_prompt.strip(), (flags.negative or "").strip()) if not is_blank(part)
        )
        if len(negative) > MAX_PROMPT_CHARS:
            raise UserInputError(
                _("The negative prompt is limited to {max_prompt_chars} characters.").format(
                    max_prompt_chars=MAX_PROMPT_CHARS
                )
            )
        # Explicit options win over inline flags; flags fill what the options leave open.
        seed = options.seed if options.seed is not None else flags.seed
        steps_asked = options.steps if options.steps is not None else flags.steps
        aspect = _parse_aspect(options.aspect) if options.aspect is not None else flags.aspect
        theme = await self.themes.theme_of(place.rules_channel)
        model = options.model or (theme.allowed_models[0] if theme and theme.allowed_models else self.defaults.model)
        if model not in self.defaults.known_models:
            raise UserInputError(unknown_name_message("model", model, self.defaults.known_models))
        # The theme's defaults win over the model's, which win over the deployment's.
        defaults = {**self.defaults.model_defaults.get(model, {}), **(theme.defaults if theme else {})}
        count = self.defaults.count if options.count is None else options.count
        count = int(COUNT.check(count))
        if seed is not None:
            seed = int(SEED.check(seed))
        if start is not None:
            width, height = start.width, start.height
        else:
            width, height = self._size(options, aspect, content, defaults)
        # Zero is a value (refused by the range), never "not given".
        steps = int(STEPS.check(steps_asked if steps_asked is not None else defaults.get("steps", self.defaults.steps)))
        guidance = GUIDANCE.check(
            options.guidance if options.guidance is not None else defaults.get("guidance", self.defaults.guidance)
        )
        if start is not None:
            strength = start.strength
            # diffusers runs int(steps × strength) steps from the start image: at least one.
            steps = min(MAX_STEPS, max(steps, math.ceil(1 / strength)))
        else:
            strength = STRENGTH.check(DEFAULT_STRENGTH if options.strength is None else options.strength)

        if theme is not None:
            theme.check(user_prompt, model)
        who = Actor(requester)
        await self.themes.check_blocklist(place.guild_id, user_prompt, negative, actor=who, channel_id=place.channel_id)
        for *_unused, region_text in regions:
            await self.themes.check_blocklist(place.guild_id, region_text, actor=who, channel_id=place.channel_id)
        text = user_prompt
        style_name = None
        if options.style:
            preset = self.styles.get(options.style)
            style_name = preset.name
            text, negative = self.styles.apply(preset, text, negative)
        if theme is not None:
            text, negative = theme.apply(text, negative)
        model_negative = self.defaults.model_negatives.get(model, "")
        if model_negative:
            negative = ", ".join(part for part in (negative, model_negative) if part)
        # Seeds are consecutive from the first, so "seed 42, image 3" is easy to reproduce alone.
        if start is not None and start.first_seed is not None:
            first_seed = start.first_seed
        else:
            first_seed = random.randint(0, MAX_SEED - count) if seed is None else seed
        seeds = tuple((first_seed + i) % (MAX_SEED + 1) for i in range(count))
        notes: list[str] = []
        wildcards_used: tuple[str, ...] = ()
        if self.wildcards.has_syntax(text) or self.wildcards.has_syntax(negative):
            wildcards_used = tuple(dict.fromkeys(self.wildcards.used(text) + self.wildcards.used(negative)))
            notes += self.wildcards.literal_notes(text) + self.wildcards.literal_notes(negative)
            expanded = self.wildcards.expand(text, first_seed)
            negative = self.wildcards.expand(negative, first_seed) if negative else negative
            if expanded != text:
                notes.append(_("Wildcards chose: {expanded}").format(expanded=expanded))
            text = expanded
            await self.themes.check_blocklist(place.guild_id, text, negative)
        content_sha256 = self.files.write(content.png) if content is not None else None
        if start is not None:
            kind = "inpaint" if start.mask_sha256 else "img2img"
            init_sha256 = start.sha256
        else:
            kind = "img2img" if content is not None else "txt2img"
            init_sha256 = content_sha256
        render = Render(
            kind=kind,
            prompt=text,
            negative_prompt=negative,
            seeds=seeds,
            width=width,
            height=height,
            steps=steps,
            guidance=guidance,
            scheduler=defaults.get("scheduler", self.defaults.scheduler),
            model=model,
            strength=strength,
            init_image_sha256=init_sha256,
            mask_sha256=start.mask_sha256 if start else None,
            keep_unmasked=start.keep_unmasked if start else False,
            journey=options.journey,
            regions=regions,
            priority=priority,
            # Fair shares are per channel by default: one party thread or one themed channel is one share.
            share_key=share_key or f"channel:{place.channel_id}",
        )
        spec = JobSpec(
            feature=feature,
            origin=origin,
            options=replace(options, seed=seed, steps=steps_asked),
            user_prompt=user_prompt,
            render=render,
            theme=theme.name if theme else None,
            style=style_name,
            notes=tuple(notes),
            wildcards=wildcards_used,
            lineage=lineage,
            party=party,
            edit=edit,
            content_sha256=content_sha256,
        )
        try:
            build_request(spec, self.files, requester=requester).validate()
        except ValueError as exc:
            raise UserInputError(_("This generation cannot run: {exc}.").format(exc=exc)) from exc
        return PreparedGeneration(spec, session_id)

    def _size(
        self,
        options: ImagineOptions,
        aspect: tuple[int, int] | None,
        content: ContentImage | None,
        defaults: dict[str, float],
    ) -> tuple[int, int]:
        """Return (width, height): explicit sizes, else the aspect ratio, else the content image's shape."""
        base_width = int(defaults.get("width", self.defaults.width))
        base_height = int(defaults.get("height", self.defaults.height))
        sized = options.width is not None or options.height is not None
        if sized and aspect:
            raise UserInputError(_("Choose either an aspect ratio or a width and height, not both."))
        if aspect:
            width, height = size_for_aspect(aspect, base_width * base_height)
        elif sized:
            width = base_width if options.width is None else options.width
            height = base_height if options.height is None else options.height
        elif content is not None:
            width, height = size_like(content.width, content.height, base_width * base_height)
        else:
            width, height = base_width, base_height
        width = int(SIDE.check(width, _("The width")))
        height = int(SIDE.check(height, _("The height")))
        return width, height

    def theme_for_display(self, theme: Theme | None) -> str:
        """Return how a channel's theme is described to everyone, or a line saying it has none."""
        if theme is None:
            return _("This channel has no theme: prompts are used as they are written.")
        return theme.describe()


def _parse_aspect(text: str) -> tuple[int, int]:
    """Return (w, h) from an aspect option such as `16:9`."""
    if text not in ASPECT_RATIOS:
        raise UserInputError(
            _("The aspect ratio {text!r} is not offered; choose one of {aspect_ratios}.").format(
                text=text, aspect_ratios=", ".join(ASPECT_RATIOS)
            )
        )
    width, height = text.split(":")
    return int(width), int(height)
