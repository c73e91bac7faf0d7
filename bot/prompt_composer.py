"""From what a user typed to the exact generation request: flags, style, theme, blocklist, wildcards.

The order matters and is fixed: inline flags are read out of the prompt first; the user's own words
are checked against the channel's theme and the guild's blocklist; then the style preset and the
theme's template wrap them; wildcards expand last (seeded by the first image's seed, so the same
seed reproduces the same text), and the expanded text is checked against the blocklist again.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from bot.content_images import ContentImage, size_like
from bot.errors import UserInputError
from bot.nearest import unknown_name_message
from bot.prompting.flags import parse_inline_flags, size_for_aspect
from bot.prompting.styles import StyleCatalog
from bot.prompting.wildcards import Wildcards
from bot.themes import Theme, ThemeService
from gpu_worker import GenerationRequest

MAX_PROMPT_CHARS = 1000
MAX_SEED = 2**32 - 1
MAX_SIDE = 2048
MAX_STEPS = 150
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
    max_count: int = 9
    # The models users may pick; empty means only `model`.
    models: tuple[str, ...] = ()

    @property
    def known_models(self) -> tuple[str, ...]:
        """Return every model a user may choose, the default first."""
        return tuple(dict.fromkeys((self.model, *self.models)))


@dataclass(frozen=True)
class Place:
    """Where on Discord a generation was asked for."""

    guild_id: str | None
    channel_id: str


@dataclass(frozen=True)
class ImagineOptions:
    """What a user asked for; None means "the default"."""

    prompt: str
    negative_prompt: str = ""
    seed: int | None = None
    count: int | None = None
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    guidance: float | None = None
    aspect: str | None = None
    style: str | None = None
    model: str | None = None
    strength: float | None = None
    # Record each image's denoising journey (an animated GIF, shown in the gallery).
    journey: bool = False

    def to_json(self) -> dict[str, Any]:
        """Return the options as JSON-safe data (stored with the job, so a reroll asks the same)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImagineOptions:
        """Return options stored by `to_json`."""
        known = {name for name in cls.__dataclass_fields__}
        return cls(**{key: value for key, value in data.items() if key in known})


@dataclass(frozen=True)
class Lineage:
    """Where a generation comes from when it carries another one further."""

    action: str  # reroll, variation, remix
    parent_job_id: int
    parent_prompt_id: int
    source_image_id: int | None = None


@dataclass(frozen=True)
class PreparedGeneration:
    """A checked request, ready to persist and queue, with what the user should be told about it."""

    request: GenerationRequest
    options: ImagineOptions
    user_prompt: str
    style: str | None = None
    theme: str | None = None
    notes: tuple[str, ...] = ()
    lineage: Lineage | None = None
    init_image_sha256: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # The session the job belongs to (a party's); None: the channel's ongoing stream.
    session_id: int | None = None

    def params(self) -> dict[str, Any]:
        """Return what is stored with the job besides the request: enough to reroll or reproduce it."""
        data: dict[str, Any] = {
            "options": self.options.to_json(),
            "user_prompt": self.user_prompt,
            "style": self.style,
            "theme": self.theme,
            "notes": list(self.notes),
        }
        if self.init_image_sha256:
            data["init_image_sha256"] = self.init_image_sha256
        if self.lineage:
            data["lineage"] = asdict(self.lineage)
        return {**data, **self.extra}


class PromptComposer:
    """Return checked generation requests from user options, following the channel's rules."""

    def __init__(
        self, defaults: GenerationDefaults, themes: ThemeService, styles: StyleCatalog, wildcards: Wildcards
    ) -> None:
        self.defaults = defaults
        self.themes = themes
        self.styles = styles
        self.wildcards = wildcards

    async def compose(
        self,
        requester: str,
        place: Place,
        options: ImagineOptions,
        *,
        content: ContentImage | None = None,
        content_sha256: str | None = None,
        lineage: Lineage | None = None,
    ) -> PreparedGeneration:
        """Return the request for `options`, or raise `UserInputError` naming what is allowed."""
        flags = parse_inline_flags(options.prompt)
        user_prompt = flags.prompt.strip()
        if not user_prompt:
            raise UserInputError("The prompt is empty: describe the image you want.")
        if len(user_prompt) > MAX_PROMPT_CHARS:
            raise UserInputError(f"The prompt has {len(user_prompt)} characters; the limit is {MAX_PROMPT_CHARS}.")
        negative = ", ".join(part for part in (options.negative_prompt.strip(), (flags.negative or "").strip()) if part)
        if len(negative) > MAX_PROMPT_CHARS:
            raise UserInputError(f"The negative prompt is limited to {MAX_PROMPT_CHARS} characters.")
        # Explicit options win over inline flags; flags fill what the options leave open.
        seed = options.seed if options.seed is not None else flags.seed
        steps_asked = options.steps if options.steps is not None else flags.steps
        aspect = _parse_aspect(options.aspect) if options.aspect else flags.aspect
        theme = await self.themes.theme_of(place.channel_id)
        defaults = theme.defaults if theme else {}

        model = options.model or (theme.allowed_models[0] if theme and theme.allowed_models else self.defaults.model)
        if model not in self.defaults.known_models:
            raise UserInputError(unknown_name_message("model", model, self.defaults.known_models))
        count = self.defaults.count if options.count is None else options.count
        if not 1 <= count <= self.defaults.max_count:
            raise UserInputError(f"You asked for {count} images; choose 1 to {self.defaults.max_count}.")
        if seed is not None and not 0 <= seed <= MAX_SEED:
            raise UserInputError(f"The seed must be between 0 and {MAX_SEED}.")
        width, height = self._size(options, aspect, content, defaults)
        steps = steps_asked or int(defaults.get("steps", self.defaults.steps))
        if not 1 <= steps <= MAX_STEPS:
            raise UserInputError(f"You asked for {steps} steps; choose 1 to {MAX_STEPS}.")
        guidance = (
            options.guidance
            if options.guidance is not None
            else float(defaults.get("guidance", self.defaults.guidance))
        )
        if not 0.0 <= guidance <= 30.0:
            raise UserInputError(f"The guidance is {guidance}; choose 0 to 30.")
        strength = DEFAULT_STRENGTH if options.strength is None else options.strength
        if not 0.05 <= strength <= 1.0:
            raise UserInputError(f"The strength is {strength}; choose 0.05 (keep the image) to 1 (ignore it).")

        if theme is not None:
            theme.check(user_prompt, model)
        await self.themes.check_blocklist(place.guild_id, user_prompt, negative)
        text = user_prompt
        style_name = None
        if options.style:
            preset = self.styles.get(options.style)
            style_name = preset.name
            text, negative = self.styles.apply(preset, text, negative)
        if theme is not None:
            text, negative = theme.apply(text, negative)
        # Seeds are consecutive from the first, so "seed 42, image 3" is easy to reproduce alone.
        first_seed = random.randint(0, MAX_SEED - count) if seed is None else seed
        seeds = tuple((first_seed + i) % (MAX_SEED + 1) for i in range(count))
        notes: list[str] = []
        if self.wildcards.has_syntax(text) or self.wildcards.has_syntax(negative):
            expanded = self.wildcards.expand(text, first_seed)
            negative = self.wildcards.expand(negative, first_seed) if negative else negative
            if expanded != text:
                notes.append(f"Wildcards chose: {expanded}")
            text = expanded
            await self.themes.check_blocklist(place.guild_id, text, negative)
        request = GenerationRequest(
            kind="img2img" if content is not None else "txt2img",
            prompt=text,
            negative_prompt=negative,
            seeds=seeds,
            width=width,
            height=height,
            steps=steps,
            guidance=guidance,
            scheduler=self.defaults.scheduler,
            model=model,
            strength=strength,
            init_image=content.png if content is not None else None,
            journey=options.journey,
            requester=requester,
            # Fair shares are per channel: one party thread or one themed channel is one session.
            session=f"channel:{place.channel_id}",
        )
        try:
            request.validate()
        except ValueError as exc:
            raise UserInputError(f"This generation cannot run: {exc}.") from exc
        return PreparedGeneration(
            request=request,
            options=replace(options, seed=seed, steps=steps_asked),
            user_prompt=user_prompt,
            style=style_name,
            theme=theme.name if theme else None,
            notes=tuple(notes),
            lineage=lineage,
            init_image_sha256=content_sha256,
        )

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
        if (options.width or options.height) and aspect:
            raise UserInputError("Choose either an aspect ratio or a width and height, not both.")
        if aspect:
            width, height = size_for_aspect(aspect, base_width * base_height)
        elif options.width or options.height:
            width, height = options.width or base_width, options.height or base_height
        elif content is not None:
            width, height = size_like(content.width, content.height, base_width * base_height)
        else:
            width, height = base_width, base_height
        for name, side in (("width", width), ("height", height)):
            if not 64 <= side <= MAX_SIDE or side % 8:
                raise UserInputError(f"The {name} is {side}; use a multiple of 8 from 64 to {MAX_SIDE}.")
        return width, height

    def theme_for_display(self, theme: Theme | None) -> str:
        """Return how a channel's theme is described to everyone, or a line saying it has none."""
        if theme is None:
            return "This channel has no theme: prompts are used as they are written."
        return theme.describe()


def _parse_aspect(text: str) -> tuple[int, int]:
    """Return (w, h) from an aspect option such as `16:9`."""
    if text not in ASPECT_RATIOS:
        raise UserInputError(f"The aspect ratio {text!r} is not offered; choose one of {', '.join(ASPECT_RATIOS)}.")
    width, height = text.split(":")
    return int(width), int(height)
