"""Grids: N images laid out near-square, each cell numbered so people can say "I like 3"."""

from __future__ import annotations

import math

from PIL import Image, ImageDraw, ImageFont


def grid_shape(count: int) -> tuple[int, int]:
    """Return (columns, rows) for `count` cells: as square as possible, wider than tall."""
    if count < 1:
        raise ValueError("a grid needs at least one image")
    columns = math.ceil(math.sqrt(count))
    return columns, math.ceil(count / columns)


def make_grid(images: list[Image.Image], numbered: bool = True) -> Image.Image:
    """Return one image with `images` in a grid (all cells sized like the first), numbered from 1."""
    columns, rows = grid_shape(len(images))
    width, height = images[0].size
    grid = Image.new("RGB", (columns * width, rows * height), (24, 24, 24))
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default(size=max(10, min(width, height) // 8))
    for index, image in enumerate(images):
        x, y = (index % columns) * width, (index // columns) * height
        grid.paste(image.convert("RGB").resize((width, height)), (x, y))
        if numbered:
            label = str(index + 1)
            left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
            pad = max(2, (bottom - top) // 4)
            box = (x + pad, y + pad, x + 3 * pad + right - left, y + 3 * pad + bottom - top)
            draw.rectangle(box, fill=(0, 0, 0))
            draw.text((x + 2 * pad - left, y + 2 * pad - top), label, fill=(255, 255, 255), font=font)
    return grid
