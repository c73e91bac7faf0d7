"""Answers for buttons, menus and forms that nothing handles: malformed, stale, or from before a restart.

discord.py silently ignores a component whose custom_id matches no registered `DynamicItem`, or
one that is not on the message it came from (a forged or tampered interaction); Discord then
shows the member "This interaction failed" after 3 seconds. Salon answers privately instead, at
once, saying the button no longer works.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, ClassVar, Generic, NamedTuple, TypeVar

import discord

from bot.catalogue import N_, _
from cogs.kit.command_tree import report_error

log = logging.getLogger(__name__)

# An id inside a custom_id: at most 18 digits, so it always fits SQLite's 64-bit integers. A longer
# (forged) number matches no template and gets the stale-button answer instead of reaching the store.
ID = "[0-9]{1,18}"
# A position (an image in a grid, a star count): at most two digits; the service checks the range.
SMALL = "[0-9]{1,2}"


class Part(NamedTuple):
    """One value in a custom_id: the pattern it must match, and how its text becomes the value."""

    pattern: str
    parse: Callable[[str], Any]


# A stored row's id, and a position (as above), read back as ints.
NUMBER = Part(ID, int)
POSITION = Part(SMALL, int)


def digit(low: int, high: int) -> Part:
    """Return a one-digit part from `low` to `high` (a lattice side, say)."""
    return Part(f"[{low}-{high}]", int)


def one_of(*words: str) -> Part:
    """Return a part that is one of `words`, read back as text."""
    return Part("|".join(re.escape(word) for word in words), str)


Shown = TypeVar("Shown", bound=discord.ui.Item[Any])


class SalonItem(discord.ui.DynamicItem[Shown], Generic[Shown], template=r"(?!)"):
    """A button or menu that keeps working after a restart: its state lives in its custom_id.

    One declaration gives both the custom_id a new item carries (`make_id`) and the template that
    recognises it, so the two cannot drift:

        class PickButton(SalonItem[discord.ui.Button], key="u", parts={"job_id": NUMBER, "idx": POSITION},
                         where="the U button"):

    A click rebuilds the item from its custom_id (its `__init__` takes the parts in order) and runs
    `act`; a refusal or a bug becomes a private answer that names `where`, never silence.
    """

    key: ClassVar[str]
    parts: ClassVar[dict[str, Part]]
    where: ClassVar[str]

    def __init_subclass__(cls, *, key: str, parts: dict[str, Part] | None = None, where: str, **kwargs: Any) -> None:
        parts = dict(parts or {})
        fields = [f"(?P<{name}>{part.pattern})" for name, part in parts.items()]
        super().__init_subclass__(template=":".join(["salon", key, *fields]), **kwargs)
        cls.key, cls.parts, cls.where = key, parts, where

    @classmethod
    def make_id(cls, *values: object) -> str:
        """Return the custom_id of an item with these values (in the order of `parts`)."""
        if len(values) != len(cls.parts):
            raise TypeError(f"{cls.__name__} takes {len(cls.parts)} values in its custom_id, not {len(values)}")
        return ":".join(["salon", cls.key, *(str(value) for value in values)])

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: Shown, match: re.Match[str], /
    ) -> SalonItem[Shown]:
        return cls(*(part.parse(match[name]) for name, part in cls.parts.items()))  # type: ignore[call-arg]

    async def callback(self, interaction: discord.Interaction) -> None:
        await guarded(interaction, _(self.where), lambda: self.act(interaction))

    async def act(self, interaction: discord.Interaction) -> None:
        """Do what a click on this item means."""
        raise NotImplementedError(f"{type(self).__name__} does not say what a click does")


async def guarded(interaction: discord.Interaction, where: str, action: Callable[[], Awaitable[None]]) -> None:
    """Run a component's action; a mistake or a bug becomes an ephemeral reply, never silence."""
    try:
        await action()
    except Exception as exc:
        await report_error(interaction, exc, where)


STALE_BUTTON = N_("This button no longer works: the message is out of date. Use the newest message, or ask again.")
STALE_FORM = N_("This form has expired (Salon may have restarted since it was opened): open it again.")


class ComponentRegistry:
    """Knows which custom_ids Salon handles: the templates of its persistent items, and open forms."""

    def __init__(self) -> None:
        self.templates: list[re.Pattern[str]] = []
        # (user id, custom_id) of forms (modals) this process opened and has not seen submitted.
        self.open_forms: set[tuple[int, str]] = set()

    def add_items(self, items: Iterable[type[discord.ui.DynamicItem]]) -> None:  # type: ignore[type-arg]
        """Remember the templates of `items` (registered with discord.py alongside)."""
        for item in items:
            self.templates.append(item.__discord_ui_compiled_template__)  # type: ignore[attr-defined]

    def handles(self, custom_id: str) -> bool:
        """Return whether a persistent item takes this custom_id."""
        return any(template.fullmatch(custom_id) for template in self.templates)

    def form_opened(self, user_id: int, custom_id: str) -> None:
        """Note a form sent to `user_id`; its submission is then handled by discord.py's modal."""
        self.open_forms.add((user_id, custom_id))

    def form_closed(self, user_id: int, custom_id: str) -> None:
        """Note that a form was submitted or timed out."""
        self.open_forms.discard((user_id, custom_id))


def shows_component(message: discord.Message | None, custom_id: str) -> bool:
    """Return whether `message` carries a button or menu with this custom_id (discord.py acts only then)."""
    if message is None:
        return False
    for row in message.components:
        for child in getattr(row, "children", [row]):
            if getattr(child, "custom_id", None) == custom_id:
                return True
    return False


def refuse_menu_values(menu: discord.ui.Select, values: object) -> str | None:
    """Return why picked values do not fit the menu Salon built, or None if they do.

    The menu is the schema of a pick, as declared options are of a command: a tampered client
    can send values it does not offer, the same one twice, or more than it allows.
    """
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        return _("Pick from the menu.")
    offered = [option.value for option in menu.options]
    if len(set(values)) != len(values):
        return _("Pick each entry of the menu once.")
    strangers = [value for value in values if value not in offered]
    if strangers:
        return _("{strangers!r} is not in this menu; it offers {offered}.").format(
            strangers=strangers[0][:40], offered=", ".join(offered[:25])
        )
    if not menu.min_values <= len(values) <= menu.max_values:
        return _("Pick {min_values} to {max_values} entries of this menu.").format(
            min_values=menu.min_values, max_values=menu.max_values
        )
    return None


async def pick_fits_menu(interaction: discord.Interaction, menu: discord.ui.Select) -> bool:
    """Return whether a pick fits `menu`; if not, say why privately (a menu's `interaction_check`)."""
    refusal = refuse_menu_values(menu, (interaction.data or {}).get("values"))
    if refusal is None:
        return True
    await interaction.response.send_message(refusal, ephemeral=True)
    return False


async def answer_if_unhandled(registry: ComponentRegistry, interaction: discord.Interaction) -> bool:
    """Answer a component or form that nothing else will, privately; return whether it was answered."""
    data = interaction.data or {}
    custom_id = str(data.get("custom_id", ""))
    if interaction.type is discord.InteractionType.component:
        if registry.handles(custom_id) and shows_component(interaction.message, custom_id):
            return False
        message = _(STALE_BUTTON)
    elif interaction.type is discord.InteractionType.modal_submit:
        if (interaction.user.id, custom_id) in registry.open_forms:
            return False
        message = _(STALE_FORM)
    else:
        return False
    log.info("answered an unhandled %s with custom_id %r", interaction.type.name, custom_id[:100])
    try:
        await interaction.response.send_message(message, ephemeral=True)
    except discord.HTTPException:
        log.warning("could not answer an unhandled component", exc_info=True)
    return True
