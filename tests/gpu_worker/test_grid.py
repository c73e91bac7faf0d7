"""Grids are near-square and numbered."""

from __future__ import annotations

import pytest
from PIL import Image

from gpu_worker.grid import grid_shape, make_grid


@pytest.mark.parametrize(("count", "shape"), [(1, (1, 1)), (2, (2, 1)), (4, (2, 2)), (5, (3, 2)), (9, (3, 3))])
def test_grid_shape(count: int, shape: tuple[int, int]) -> None:
    assert grid_shape(count) == shape


def test_grid_places_cells_and_numbers_them() -> None:
    colours = [(200, 0, 0), (0, 200, 0), (0, 0, 200), (200, 200, 0)]
    grid = make_grid([Image.new("RGB", (64, 64), colour) for colour in colours])
    assert grid.size == (128, 128)
    for index, colour in enumerate(colours):
        x, y = (index % 2) * 64, (index // 2) * 64
        assert grid.getpixel((x + 60, y + 60)) == colour  # far corner: the cell's own image
        assert grid.getpixel((x + 2, y + 2)) == (0, 0, 0)  # near corner: the number's label box
    plain = make_grid([Image.new("RGB", (64, 64), colours[0])], numbered=False)
    assert plain.getpixel((2, 2)) == colours[0]


def test_empty_grid_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one image"):
        make_grid([])
