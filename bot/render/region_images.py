"""Region edits drawn as PNGs: heatmaps and lattices over a grid, edit masks, and cells combined from images.

The region service works with stored PNG bytes only; every pixel operation is here.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import replace

from PIL import Image, ImageFilter

from bot.regions.lattice import Cell, Lattice
from bot.render.masks import cell_mask, combine, feathered, heatmap_overlay, lattice_overlay, soft_strength
from gpu_worker.grid import make_grid

FEATHER_RADIUS_FRACTION = 1 / 32  # of the image's shorter side


def feather_radius(size: tuple[int, int]) -> float:
    """Return how far an edit's edge fades for an image of `size`: a thirty-second of its shorter side."""
    return max(1.0, min(size) * FEATHER_RADIUS_FRACTION)


def _picture(png: bytes) -> Image.Image:
    return Image.open(io.BytesIO(png)).convert("RGB")


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def heatmap_pngs(pngs: Sequence[bytes], scores: Mapping[Cell, int], lattice: Lattice) -> tuple[bytes, list[bytes]]:
    """Return the group's heatmap over the images: as one numbered grid, and one PNG per image."""
    overlays = [heatmap_overlay(_picture(png), scores, lattice, image_number=n) for n, png in enumerate(pngs, start=1)]
    return _png(make_grid(overlays)), [_png(overlay) for overlay in overlays]


def lattice_grid_png(pngs: Sequence[bytes], scores: Mapping[Cell, int], lattice: Lattice) -> bytes:
    """Return the images with the lattice drawn and labelled over each (and the heatmap so far), as one grid."""
    numbered = len(pngs) > 1
    pictures = [
        lattice_overlay(heatmap_overlay(_picture(png), scores, lattice, n), lattice, n if numbered else None)
        for n, png in enumerate(pngs, start=1)
    ]
    return _png(make_grid(pictures, numbered=False))


def cells_mask_png(cells: Sequence[Cell], lattice: Lattice, size: tuple[int, int]) -> bytes:
    """Return the feathered inpainting mask (white: change) of `cells` of one image of `size`."""
    mask = cell_mask([replace(cell, image=1) for cell in cells], lattice, size)
    return _png(feathered(mask, feather_radius(size)))


def soft_mask_png(scores: Mapping[Cell, int], lattice: Lattice, size: tuple[int, int], image_number: int) -> bytes:
    """Return a mask whose strength per pixel follows the dislikes of image `image_number`, softened at the edges."""
    strength = soft_strength(scores, lattice, size, image_number)
    return _png(strength.filter(ImageFilter.GaussianBlur(feather_radius(size) / 2)))


def combined_png(base_png: bytes, picks: Mapping[Cell, bytes], lattice: Lattice) -> bytes:
    """Return the base image with each picked cell taken from its own image (a PNG per cell), edges feathered."""
    base = _picture(base_png)
    pictures = {cell: _picture(png) for cell, png in picks.items()}
    return _png(combine(base, pictures, lattice, feather=feather_radius(base.size)))
