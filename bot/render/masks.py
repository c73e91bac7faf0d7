"""Pixels from cells: masks (hard, feathered, soft), the heatmap overlay, the lattice overlay, composites.

The guarantee the edits rest on: `keep_outside(original, edited, mask)` takes every pixel where the
mask is 0 from the original, byte for byte, so liked cells survive an inpaint untouched.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

from bot.regions.lattice import Cell, Lattice

LIKE_RGB = (40, 200, 80)
DISLIKE_RGB = (220, 40, 40)
MAX_OVERLAY_ALPHA = 150


def cell_mask(cells: Iterable[Cell], lattice: Lattice, size: tuple[int, int]) -> Image.Image:
    """Return an L mask of `size`: 255 inside the cells, 0 elsewhere."""
    mask = Image.new("L", size, 0)
    draw = ImageDraw.Draw(mask)
    for cell in cells:
        left, top, right, bottom = lattice.box(cell, *size)
        draw.rectangle((left, top, right - 1, bottom - 1), fill=255)
    return mask


def feathered(mask: Image.Image, radius: float) -> Image.Image:
    """Return the mask with soft inner edges: blurred, then cut to the original cells.

    The soft edge lies inside the marked cells, so every pixel outside them stays exactly 0 and a
    liked neighbour is never touched, while the seam inside still blends.
    """
    if radius <= 0:
        return mask.copy()
    return ImageChops.multiply(mask.filter(ImageFilter.GaussianBlur(radius)), mask)


def keep_outside(original: Image.Image, edited: Image.Image, mask: Image.Image) -> Image.Image:
    """Return `edited` inside the mask blended into `original`; where the mask is 0, `original` exactly."""
    edited = edited.convert(original.mode).resize(original.size)
    return Image.composite(edited, original, mask.resize(original.size))


def net_scores(marks: Iterable[tuple[Cell, int]]) -> dict[Cell, int]:
    """Return the net score per cell from (cell, +1 like / -1 dislike) marks, one per member and cell."""
    scores: dict[Cell, int] = {}
    for cell, value in marks:
        scores[cell] = scores.get(cell, 0) + value
    return scores


def heatmap_overlay(
    image: Image.Image, scores: Mapping[Cell, int], lattice: Lattice, image_number: int = 1
) -> Image.Image:
    """Return the image with a green (liked) / red (disliked) overlay, stronger where more people agree."""
    base = image.convert("RGBA")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    strongest = max((abs(v) for c, v in scores.items() if c.image == image_number), default=0)
    for cell, score in scores.items():
        if cell.image != image_number or score == 0 or strongest == 0:
            continue
        rgb = LIKE_RGB if score > 0 else DISLIKE_RGB
        alpha = round(MAX_OVERLAY_ALPHA * abs(score) / strongest)
        left, top, right, bottom = lattice.box(cell, *base.size)
        draw.rectangle((left, top, right - 1, bottom - 1), fill=(*rgb, alpha))
    return Image.alpha_composite(base, layer).convert("RGB")


def soft_strength(
    scores: Mapping[Cell, int], lattice: Lattice, size: tuple[int, int], image_number: int = 1
) -> Image.Image:
    """Return an L map of how much to change each pixel: 255 where most dislike, 0 where liked or unmarked."""
    strongest = max((-v for c, v in scores.items() if c.image == image_number and v < 0), default=0)
    strength = Image.new("L", size, 0)
    draw = ImageDraw.Draw(strength)
    for cell, score in scores.items():
        if cell.image == image_number and score < 0 and strongest:
            left, top, right, bottom = lattice.box(cell, *size)
            draw.rectangle((left, top, right - 1, bottom - 1), fill=round(255 * -score / strongest))
    return strength


def lattice_overlay(image: Image.Image, lattice: Lattice, image_number: int | None = None) -> Image.Image:
    """Return the image with the lattice drawn on it and each cell labelled (`B3`, or `2:B3` on a grid)."""
    canvas = image.convert("RGB").copy()
    draw = ImageDraw.Draw(canvas)
    width, height = canvas.size
    font = ImageFont.load_default(size=max(8, min(width // lattice.cols, height // lattice.rows) // 4))
    for cell in lattice.cells(image_number or 1):
        left, top, right, bottom = lattice.box(cell, width, height)
        draw.rectangle((left, top, right - 1, bottom - 1), outline=(255, 255, 255))
        label = cell.name(with_image=image_number is not None)
        draw.text((left + 2, top + 1), label, fill=(255, 255, 255), font=font, stroke_width=1, stroke_fill=(0, 0, 0))
    return canvas


def combine(base: Image.Image, picks: Mapping[Cell, Image.Image], lattice: Lattice, feather: float = 0) -> Image.Image:
    """Return `base` with each picked cell taken from its own image ("sky from 2, cat from 3")."""
    result = base.convert("RGB").copy()
    for cell, source in picks.items():
        mask = feathered(cell_mask([Cell(1, cell.row, cell.col)], lattice, result.size), feather)
        result = keep_outside(result, source.convert("RGB").resize(result.size), mask)
    return result


def differs_only_inside(original: Image.Image, edited: Image.Image, mask: Image.Image) -> bool:
    """Return whether every pixel that changed lies where the mask is above 0 (for tests and audits)."""
    changed = (
        ImageChops.difference(original.convert("RGB"), edited.convert("RGB"))
        .convert("L")
        .point(lambda v: 255 if v else 0)
    )
    outside = ImageChops.multiply(changed, ImageChops.invert(mask.point(lambda v: 255 if v else 0)))
    return outside.getbbox() is None


def keep_outside_png(original_png: bytes, edited_png: bytes, mask_png: bytes) -> bytes:
    """Return an edited PNG whose pixels where the mask is 0 are the original's, exactly.

    The VAE round trip changes every pixel a little; a region edit promises that liked cells stay.
    """
    original = Image.open(io.BytesIO(original_png)).convert("RGB")
    mask = Image.open(io.BytesIO(mask_png)).convert("L")
    edited = Image.open(io.BytesIO(edited_png)).convert("RGB")
    buffer = io.BytesIO()
    keep_outside(original, edited, mask).save(buffer, format="PNG")
    return buffer.getvalue()
