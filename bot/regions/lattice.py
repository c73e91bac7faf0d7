"""The lattice over an image: cells named like `B3` (column letter, row number), `2:B3` on a grid.

Columns are letters from A, rows are numbers from 1, so `A1` is the top-left cell. Text such as
`A1-B2, 2:C4` parses into cells; anything outside the lattice or not a cell is refused with a
message that says what is allowed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.catalogue import _
from bot.errors import UserInputError

DEFAULT_SIZE = 4
MAX_SIZE = 5
_CELL = re.compile(r"^(?:(?P<image>\d+):)?(?P<col>[A-Za-z])(?P<row>\d+)$")


@dataclass(frozen=True, order=True)
class Cell:
    """One cell of one image: `image` is the 1-based image number on a grid, row and col are 0-based."""

    image: int
    row: int
    col: int

    def name(self, *, with_image: bool = True) -> str:
        """Return the cell's name, `B3` or `2:B3`."""
        base = f"{chr(ord('A') + self.col)}{self.row + 1}"
        return f"{self.image}:{base}" if with_image else base


@dataclass(frozen=True)
class Lattice:
    """The size of the lattice laid over each image."""

    rows: int = DEFAULT_SIZE
    cols: int = DEFAULT_SIZE

    def __post_init__(self) -> None:
        if not (1 <= self.rows <= MAX_SIZE and 1 <= self.cols <= MAX_SIZE):
            raise UserInputError(
                _("A lattice has 1 to {max_size} rows and columns, such as 4×4.").format(max_size=MAX_SIZE)
            )

    def cells(self, image: int = 1) -> list[Cell]:
        """Return every cell of one image, row by row."""
        return [Cell(image, row, col) for row in range(self.rows) for col in range(self.cols)]

    def last_name(self) -> str:
        """Return the name of the bottom-right cell (for messages: `A1 to D4`)."""
        return Cell(1, self.rows - 1, self.cols - 1).name(with_image=False)

    def box(self, cell: Cell, width: int, height: int) -> tuple[int, int, int, int]:
        """Return the pixel box (left, top, right, bottom) of a cell on an image of this size."""
        left = round(cell.col * width / self.cols)
        right = round((cell.col + 1) * width / self.cols)
        top = round(cell.row * height / self.rows)
        bottom = round((cell.row + 1) * height / self.rows)
        return left, top, right, bottom

    def parse(self, text: str, *, images: int = 1, default_image: int = 1) -> list[Cell]:
        """Return the cells named in `text` (`A1`, `2:B3`, ranges `A1-B2`, comma- or space-separated).

        Raise `UserInputError` naming the allowed cells for anything unknown or outside the lattice.
        """
        pieces = [piece for piece in re.split(r"[,\s]+", text.strip()) if piece]
        if not pieces:
            raise UserInputError(_("Name at least one cell, such as `B3`, `A1-B2` or `2:C4`."))
        found: list[Cell] = []
        for piece in pieces:
            ends = piece.split("-")
            if len(ends) > 2 or not all(end.strip() for end in ends):
                raise UserInputError(
                    _("{piece!r} is not a cell or range; write ranges as `A1-B2`.").format(piece=piece)
                )
            first = self._cell(ends[0], images, default_image, piece)
            last = self._cell(ends[-1], images, first.image if ":" not in ends[-1] else default_image, piece)
            if first.image != last.image:
                raise UserInputError(
                    _("The range {piece!r} spans two images; mark each image's cells on their own.").format(piece=piece)
                )
            for row in range(min(first.row, last.row), max(first.row, last.row) + 1):
                for col in range(min(first.col, last.col), max(first.col, last.col) + 1):
                    found.append(Cell(first.image, row, col))
        return sorted(dict.fromkeys(found))

    def _cell(self, text: str, images: int, default_image: int, piece: str) -> Cell:
        """Return one cell; a refusal quotes the whole piece the member wrote (`A1-ZZ`, not `ZZ`)."""
        match = _CELL.match(text.strip())
        allowed = _("cells go from A1 to {last_name}").format(last_name=self.last_name())
        if images > 1:
            allowed += _(" on images 1 to {images} (for example `2:B3`)").format(images=images)
        where = f" (in {piece!r})" if piece.strip() != text.strip() else ""
        if not match:
            raise UserInputError(
                _("{strip!r}{where} is not a cell: {allowed}.").format(strip=text.strip(), where=where, allowed=allowed)
            )
        image = int(match["image"]) if match["image"] else default_image
        col = ord(match["col"].upper()) - ord("A")
        row = int(match["row"]) - 1
        if not 1 <= image <= images or not 0 <= row < self.rows or not 0 <= col < self.cols:
            raise UserInputError(
                _("{strip!r}{where} is outside the lattice: {allowed}.").format(
                    strip=text.strip(), where=where, allowed=allowed
                )
            )
        return Cell(image, row, col)
