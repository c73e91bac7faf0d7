"""Answers for buttons, menus and forms that nothing handles: malformed, stale, or from before a restart.

discord.py silently ignores a component whose custom_id matches no registered `DynamicItem`, or
one that is not on the message it came from (a forged or tampered interaction); Discord then
shows the member "This interaction failed" after 3 seconds. Salon answers privately instead, at
once, saying the button no longer works.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

import discord

log = logging.getLogger(__name__)

STALE_BUTTON = "This button no longer works: the message is out of date. Use the newest message, or ask again."
STALE_FORM = "This form has expired (Salon may have restarted since it was opened): open it again."


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


async def answer_if_unhandled(registry: ComponentRegistry, interaction: discord.Interaction) -> bool:
    """Answer a component or form that nothing else will, privately; return whether it was answered."""
    data = interaction.data or {}
    custom_id = str(data.get("custom_id", ""))
    if interaction.type is discord.InteractionType.component:
        if registry.handles(custom_id) and shows_component(interaction.message, custom_id):
            return False
        message = STALE_BUTTON
    elif interaction.type is discord.InteractionType.modal_submit:
        if (interaction.user.id, custom_id) in registry.open_forms:
            return False
        message = STALE_FORM
    else:
        return False
    log.info("answered an unhandled %s with custom_id %r", interaction.type.name, custom_id[:100])
    try:
        await interaction.response.send_message(message, ephemeral=True)
    except discord.HTTPException:
        log.warning("could not answer an unhandled component", exc_info=True)
    return True
