"""Cell names and parsing: `B3`, `2:B3`, ranges, and clear refusals for anything else."""

from __future__ import annotations

import pytest

from bot.errors import UserInputError
from bot.regions.lattice import Cell, Lattice


def test_cells_are_named_by_column_letter_and_row_number() -> None:
    assert Cell(1, 0, 0).name() == "1:A1"
    assert Cell(2, 2, 1).name(with_image=False) == "B3"


def test_parse_single_cells_ranges_and_images() -> None:
    lattice = Lattice()
    assert lattice.parse("b3") == [Cell(1, 2, 1)]
    assert lattice.parse("A1-B2", images=4) == [Cell(1, 0, 0), Cell(1, 0, 1), Cell(1, 1, 0), Cell(1, 1, 1)]
    assert lattice.parse("2:C4, 2:C4 1:A1", images=4) == [Cell(1, 0, 0), Cell(2, 3, 2)]
    assert lattice.parse("3:A1-B1", images=4) == [Cell(3, 0, 0), Cell(3, 0, 1)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("E1", "outside the lattice: cells go from A1 to D4"),
        ("A5", "outside the lattice"),
        ("5:A1", "on images 1 to 4"),
        ("Z", "is not a cell"),
        ("", "Name at least one cell"),
        ("1:A1-2:B2", "spans two images"),
        ("A1-B2-C3", "write ranges as `A1-B2`"),
        # The refusal quotes what the member wrote, never an empty piece of it.
        ("A1-", "'A1-' is not a cell or range"),
        ("-B2", "'-B2' is not a cell or range"),
        ("A1-ZZ", "'ZZ' \\(in 'A1-ZZ'\\) is not a cell"),
        ("B2-E9", "'E9' \\(in 'B2-E9'\\) is outside the lattice"),
    ],
)
def test_bad_cells_say_what_is_allowed(text: str, message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        Lattice().parse(text, images=4)


def test_lattice_size_is_limited_and_boxes_cover_the_image() -> None:
    with pytest.raises(UserInputError, match="1 to 5 rows"):
        Lattice(6, 4)
    lattice = Lattice(3, 3)
    boxes = [lattice.box(cell, 100, 60) for cell in lattice.cells()]
    assert boxes[0] == (0, 0, 33, 20) and boxes[-1] == (67, 40, 100, 60)
    assert sum((r - left) * (b - t) for left, t, r, b in boxes) == 100 * 60


def test_a_region_plan_becomes_boxes_with_prompts() -> None:
    from bot.regions.service import parse_plan

    assert parse_plan("A1-D2: a stormy sky; A3-D4: a calm sea", Lattice()) == [
        (0.0, 0.0, 1.0, 0.5, "a stormy sky"),
        (0.0, 0.5, 1.0, 1.0, "a calm sea"),
    ]
    assert parse_plan("A1, C3: a moon", Lattice()) == [
        (0.0, 0.0, 0.25, 0.25, "a moon"),
        (0.5, 0.5, 0.75, 0.75, "a moon"),
    ]
    with pytest.raises(UserInputError, match="needs cells and a prompt"):
        parse_plan("A1-B2", Lattice())
    with pytest.raises(UserInputError, match="outside the lattice"):
        parse_plan("E1: sky", Lattice())
