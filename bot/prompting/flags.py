"""Midjourney-style inline flags inside a prompt: `a lighthouse --no fog --seed 42 --ar 16:9 --steps 30`.

`--no` takes every word up to the next flag (the negative prompt); `--seed`, `--ar` and `--steps` take
one word, and any words after it go back into the prompt, so `a cat --ar 16:9 in the rain` reads as
the user meant. Phones turn `--` into an em dash (or an en dash), so `—no` counts too, and `--no=fog`
works like `--no fog`. A flag starts a word: `well--known` is left alone.

Only the form is checked here. Whether a seed or a step count is in range is the generation
service's rule; the aspect ratio is checked here because `size_for_aspect` needs a sane one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.catalogue import N_, _
from bot.errors import UserInputError
from bot.nearest import unknown_name_message

FLAG_NAMES = ("no", "seed", "ar", "steps")
ALLOWED_FLAGS = N_("--no <words>, --seed <number>, --ar <width>:<height> (such as 16:9), --steps <number>")
# A flag begins a word: two hyphens, an em dash or an en dash, its name up to a space or `=`.
_FLAG = re.compile(r"(?:(?<=\s)|^)(?:--|—|–)([A-Za-z][^\s=]*)=?")
_WHOLE_NUMBER = re.compile(r"[0-9]+")
_RATIO = re.compile(r"([0-9]+):([0-9]+)")
MAX_ASPECT_SIDE = 21
MAX_ASPECT_RATIO = 4.0
# Multiples of 8 (the VAE's scale): coarser steps collapse small sizes, e.g. 16:9 at 64² to a square.
SIZE_STEP = 8
MIN_SIDE = 64
MAX_SIDE = 2048


@dataclass(frozen=True)
class InlineFlags:
    """The prompt without its flags, and the values the flags gave (None where a flag was not used)."""

    prompt: str
    negative: str | None = None
    seed: int | None = None
    aspect: tuple[int, int] | None = None
    steps: int | None = None


def parse_inline_flags(text: str) -> InlineFlags:
    """Return the prompt with its inline flags read out, or raise `UserInputError` naming the allowed flags."""
    matches = list(_FLAG.finditer(text))
    if not matches:
        return InlineFlags(prompt=_tidy(text))
    pieces = [text[: matches[0].start()]]
    values: dict[str, str] = {}
    for index, match in enumerate(matches):
        name = match.group(1).lower()
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        value = text[match.end() : end].strip()
        if name not in FLAG_NAMES:
            known = [f"--{flag}" for flag in FLAG_NAMES]
            raise UserInputError(
                _("{value} The prompt understands {allowed_flags}.").format(
                    value=unknown_name_message("flag", f"--{name}", known), allowed_flags=_(ALLOWED_FLAGS)
                )
            )
        if name in values:
            raise UserInputError(
                _("--{name} is given twice; give each flag once. The flags are {allowed_flags}.").format(
                    name=name, allowed_flags=_(ALLOWED_FLAGS)
                )
            )
        if not value:
            raise UserInputError(
                _("--{name} needs a value. The flags are {allowed_flags}.").format(
                    name=name, allowed_flags=_(ALLOWED_FLAGS)
                )
            )
        if name != "no":
            # One word is the value; the rest belongs to the prompt again.
            value, *rest = value.split(maxsplit=1)
            pieces.extend(rest)
        values[name] = value
    return InlineFlags(
        prompt=_tidy(" ".join(pieces)),
        negative=_tidy(values["no"]) if "no" in values else None,
        seed=_whole_number("seed", values["seed"]) if "seed" in values else None,
        aspect=_aspect(values["ar"]) if "ar" in values else None,
        steps=_whole_number("steps", values["steps"]) if "steps" in values else None,
    )


def size_for_aspect(aspect: tuple[int, int], base_pixels: int) -> tuple[int, int]:
    """Return (width, height), multiples of 8 from 64 to 2048, with this aspect and about `base_pixels` pixels."""
    width, height = aspect
    if width <= 0 or height <= 0 or base_pixels <= 0:
        raise ValueError(f"aspect sides and base_pixels must be positive, got {aspect} and {base_pixels}")
    # Solve w * h = base_pixels with w / h = width / height, then round each side to the latent grid.
    exact_height = (base_pixels * height / width) ** 0.5
    exact_width = exact_height * width / height

    def fit(side: float) -> int:
        return min(MAX_SIDE, max(MIN_SIDE, round(side / SIZE_STEP) * SIZE_STEP))

    return fit(exact_width), fit(exact_height)


def _tidy(text: str) -> str:
    return " ".join(text.split())


def _whole_number(name: str, value: str) -> int:
    if not _WHOLE_NUMBER.fullmatch(value):
        raise UserInputError(
            _("--{name} takes a whole number such as --{name} 42, not {value!r}.").format(name=name, value=value)
        )
    return int(value)


def _aspect(value: str) -> tuple[int, int]:
    match = _RATIO.fullmatch(value)
    if not match:
        raise UserInputError(
            _("--ar takes a ratio of two whole numbers such as 16:9 or 2:3, not {value!r}.").format(value=value)
        )
    width, height = int(match.group(1)), int(match.group(2))
    if not (1 <= width <= MAX_ASPECT_SIDE and 1 <= height <= MAX_ASPECT_SIDE):
        raise UserInputError(
            _("--ar {value}: each side of the ratio goes from 1 to {max_aspect_side} (such as 16:9 or 21:9).").format(
                value=value, max_aspect_side=MAX_ASPECT_SIDE
            )
        )
    if max(width / height, height / width) > MAX_ASPECT_RATIO:
        raise UserInputError(
            _("--ar {value} is too narrow; use ratios from 1:4 to 4:1 (such as 16:9 or 2:3).").format(value=value)
        )
    return width, height
