"""The limits of a generation's numbers, defined once: the composer checks them, theme defaults
are checked against them, and the slash command's schema is built from them, so none can drift.

A stale schema or a modified client can deliver any value, so Salon checks each one itself: a
value out of range, of the wrong kind (1.5 steps), or not a number at all is refused with the
range, and zero is a value like any other, never "not given".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bot.catalogue import N_, _
from bot.errors import UserInputError


def shown(value: int | float) -> str:
    """Return a number as a member reads it: whole numbers in full (4294967295), others short (1.5, 1e+308)."""
    return str(value) if isinstance(value, int) else f"{value:g}"


@dataclass(frozen=True)
class NumberLimit:
    """A number a member may choose: its range, whether it is whole, and how it is named."""

    name: str
    low: int | float
    high: int | float
    integer: bool
    multiple_of: int = 1
    hint: str = ""

    def allowed(self) -> str:
        """Return the allowed values in words, e.g. `1 to 150` or `a multiple of 8 from 64 to 2048`."""
        text = _("{low} to {high}").format(low=shown(self.low), high=shown(self.high))
        if self.multiple_of > 1:
            text = _("a multiple of {multiple_of} from {text}").format(multiple_of=self.multiple_of, text=text)
        return text + (f" ({_(self.hint)})" if self.hint else "")

    def check(self, value: object, what: str | None = None) -> int | float:
        """Return `value` if it is allowed, else raise `UserInputError` naming the range."""
        label = what or _("The {name}").format(name=_(self.name))
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise UserInputError(
                _("{label} must be a number; choose {allowed}.").format(label=label, allowed=self.allowed())
            )
        if self.integer and value != int(value):
            raise UserInputError(
                _("{label} is {value}, not a whole number; choose {allowed}.").format(
                    label=label, value=shown(value), allowed=self.allowed()
                )
            )
        if not self.low <= value <= self.high or (self.multiple_of > 1 and int(value) % self.multiple_of):
            raise UserInputError(
                _("{label} is {value}; choose {allowed}.").format(
                    label=label, value=shown(value), allowed=self.allowed()
                )
            )
        return int(value) if self.integer else float(value)


SEED = NumberLimit("seed", 0, 2**32 - 1, integer=True)
COUNT = NumberLimit(N_("number of images"), 1, 9, integer=True)
SIDE = NumberLimit("size", 64, 2048, integer=True, multiple_of=8, hint="pixels")
STEPS = NumberLimit(N_("number of steps"), 1, 150, integer=True)
GUIDANCE = NumberLimit("guidance", 0.0, 30.0, integer=False)
STRENGTH = NumberLimit(N_("strength"), 0.05, 1.0, integer=False, hint=N_("0.05 keeps the image, 1 ignores it"))
