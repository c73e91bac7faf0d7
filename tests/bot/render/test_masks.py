"""Masks, feathering, compositing, heatmaps: liked pixels survive, disliked ones are the only ones changed."""

from __future__ import annotations

import random

from PIL import Image, ImageChops

from bot.regions.lattice import Cell, Lattice
from bot.render.masks import (
    cell_mask,
    combine,
    differs_only_inside,
    feathered,
    heatmap_overlay,
    keep_outside,
    lattice_overlay,
    net_scores,
    soft_strength,
)

LATTICE = Lattice(4, 4)


def noise(size: tuple[int, int], seed: int) -> Image.Image:
    rng = random.Random(seed)
    return Image.frombytes("RGB", size, bytes(rng.randrange(256) for _ in range(size[0] * size[1] * 3)))


def test_cell_mask_covers_exactly_its_cells() -> None:
    mask = cell_mask([Cell(1, 0, 0), Cell(1, 3, 3)], LATTICE, (64, 64))
    assert mask.getpixel((0, 0)) == 255 and mask.getpixel((15, 15)) == 255 and mask.getpixel((16, 16)) == 0
    assert mask.getpixel((63, 63)) == 255 and mask.histogram()[255] == 2 * 16 * 16


def test_feathering_softens_the_inner_edge_and_never_leaves_the_cells() -> None:
    hard = cell_mask([Cell(1, 1, 1), Cell(1, 1, 2)], LATTICE, (64, 64))
    mask = feathered(hard, radius=3)
    assert mask.getpixel((31, 24)) >= 250  # deep inside the marked cells
    assert 0 < mask.getpixel((16, 24)) < 255  # the seam blends, inside the cell
    assert mask.getpixel((15, 24)) == 0 and mask.getpixel((2, 2)) == 0  # a neighbour is never touched
    assert ImageChops.subtract(mask, hard).getbbox() is None


def test_liked_pixels_survive_an_inpaint_unchanged() -> None:
    original, edited = noise((64, 64), 1), noise((64, 64), 2)
    mask = feathered(cell_mask([Cell(1, 2, 2)], LATTICE, (64, 64)), radius=3)
    result = keep_outside(original, edited, mask)
    assert differs_only_inside(original, result, mask)
    assert result.getpixel((0, 0)) == original.getpixel((0, 0))
    assert result.getpixel((40, 40)) == edited.getpixel((40, 40))


def test_net_scores_and_heatmap_colours() -> None:
    scores = net_scores([(Cell(1, 0, 0), 1), (Cell(1, 0, 0), 1), (Cell(1, 0, 1), -1), (Cell(1, 0, 1), 1)])
    assert scores == {Cell(1, 0, 0): 2, Cell(1, 0, 1): 0}
    overlay = heatmap_overlay(Image.new("RGB", (64, 64), (0, 0, 0)), {Cell(1, 0, 0): 2, Cell(1, 1, 1): -1}, LATTICE)
    red, green, _ = overlay.getpixel((4, 4))
    assert green > red  # liked: green
    red, green, _ = overlay.getpixel((20, 20))
    assert red > green  # disliked: red
    assert overlay.getpixel((60, 60)) == (0, 0, 0)  # unmarked: untouched


def test_soft_strength_follows_how_many_dislike() -> None:
    strength = soft_strength({Cell(1, 0, 0): -2, Cell(1, 0, 1): -1, Cell(1, 1, 1): 3}, LATTICE, (64, 64))
    assert strength.getpixel((4, 4)) == 255 and strength.getpixel((20, 4)) == 128 and strength.getpixel((20, 20)) == 0


def test_combine_takes_each_cell_from_its_image() -> None:
    base, two, three = noise((64, 64), 1), noise((64, 64), 2), noise((64, 64), 3)
    result = combine(base, {Cell(2, 0, 0): two, Cell(3, 3, 3): three}, LATTICE)
    assert result.getpixel((3, 3)) == two.getpixel((3, 3))
    assert result.getpixel((60, 60)) == three.getpixel((60, 60))
    assert result.getpixel((30, 30)) == base.getpixel((30, 30))


def test_lattice_overlay_keeps_the_size_and_draws_lines() -> None:
    image = Image.new("RGB", (64, 64), (0, 0, 0))
    drawn = lattice_overlay(image, LATTICE, image_number=2)
    assert drawn.size == image.size and drawn.getpixel((16, 40)) == (255, 255, 255)
