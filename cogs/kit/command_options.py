"""Every slash command's options, checked by Salon itself against the schema it declared.

Discord's client keeps a value inside the declared choices and ranges, but a stale schema, a
modified client or a forged request can deliver anything, and discord.py passes raw values on
unchecked. So before a command runs, each delivered option is checked against the same
`app_commands` parameters the schema is built from (one definition, so the two cannot drift): an
unknown option, a missing one, a value of the wrong kind, outside its range or not among its
choices is refused with what is allowed. The checks are plain and synchronous, well within
Discord's three seconds.
"""

from __future__ import annotations

import math
from typing import Any

import discord
from discord import AppCommandOptionType as OptionType
from discord import app_commands

from bot.catalogue import N_, _
from bot.imagine.limits import shown

# Sub-command and sub-command group: options that hold the options below them.
_NESTING = (OptionType.subcommand.value, OptionType.subcommand_group.value)
_ENTITIES = {
    OptionType.user: N_("member"),
    OptionType.channel: N_("channel"),
    OptionType.role: N_("role"),
    OptionType.mentionable: N_("member or role"),
    OptionType.attachment: N_("file"),
}
_MAX_CHOICES_LISTED = 25
# Discord's integer and number options lie within ±2^53 (what JSON numbers hold exactly).
DISCORD_NUMBER_LIMIT = 2**53


class OptionRefused(app_commands.CheckFailure):
    """A delivered option breaks the command's schema; the message says what is allowed."""


def leaf_options(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the options of the command actually run, below any sub-command group and sub-command."""
    options = data.get("options") or []
    while isinstance(options, list) and len(options) == 1 and isinstance(options[0], dict):
        if options[0].get("type") not in _NESTING:
            break
        options = options[0].get("options") or []
    if not isinstance(options, list):
        return [options]  # refused by the caller as not an option
    return options


def check_options(command: app_commands.Command[Any, ..., Any], data: dict[str, Any]) -> None:
    """Raise `OptionRefused` unless every option in `data` fits `command`'s declared parameters."""
    parameters = {parameter.display_name: parameter for parameter in command.parameters}
    delivered: dict[str, dict[str, Any]] = {}
    for option in leaf_options(data):
        if not isinstance(option, dict):
            raise OptionRefused(
                _("/{qualified_name} got an option that is not one; run it from the / menu.").format(
                    qualified_name=command.qualified_name
                )
            )
        name = str(option.get("name"))
        if name not in parameters:
            known = ", ".join(f"`{p}`" for p in parameters) or "none"
            raise OptionRefused(
                _("/{qualified_name} has no option {name}; its options are: {known}.").format(
                    qualified_name=command.qualified_name, name=_quoted(name), known=known
                )
            )
        if name in delivered:
            raise OptionRefused(_("The option `{name}` was given twice; give it once.").format(name=name))
        delivered[name] = option
    for name, parameter in parameters.items():
        option = delivered.get(name)
        if option is None:
            if parameter.required:
                raise OptionRefused(
                    _("/{qualified_name} needs the option `{name}`.").format(
                        qualified_name=command.qualified_name, name=name
                    )
                )
            continue
        _check_value(parameter, option.get("value"), data.get("resolved") or {})


def _check_value(parameter: app_commands.Parameter, value: object, resolved: dict[str, Any]) -> None:
    name = f"`{parameter.display_name}`"
    kind = parameter.type
    if parameter.choices:
        values = [choice.value for choice in parameter.choices]
        # Compared with their types too: True is not the choice 1.
        if not any(type(value) is type(v) and value == v for v in values):
            listed = ", ".join(f"`{v}`" for v in values[:_MAX_CHOICES_LISTED])
            raise OptionRefused(
                _("{value} is not a choice for {name}; choose one of {listed}.").format(
                    value=_quoted(value), name=name, listed=listed
                )
            )
        return
    if kind is OptionType.string:
        if not isinstance(value, str):
            raise OptionRefused(_("{name} must be text.").format(name=name))
        _check_length(parameter, value)
    elif kind is OptionType.integer:
        if isinstance(value, bool) or not isinstance(value, int):
            raise OptionRefused(
                _("{name} must be a whole number from {parameter}.").format(name=name, parameter=_range(parameter))
            )
        _check_range(parameter, value)
    elif kind is OptionType.number:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise OptionRefused(
                _("{name} must be a number from {parameter}.").format(name=name, parameter=_range(parameter))
            )
        _check_range(parameter, value)
    elif kind is OptionType.boolean:
        if not isinstance(value, bool):
            raise OptionRefused(_("{name} must be true or false.").format(name=name))
    elif kind in _ENTITIES:
        _check_entity(parameter, value, resolved)


def _check_length(parameter: app_commands.Parameter, value: str) -> None:
    low, high = parameter.min_value, parameter.max_value
    if low is not None and len(value) < low:
        plural = "" if low == 1 else "s"
        raise OptionRefused(
            _("`{display_name}` needs at least {low} character{plural}.").format(
                display_name=parameter.display_name, low=int(low), plural=plural
            )
        )
    if high is not None and len(value) > high:
        raise OptionRefused(
            _("`{display_name}` has {count} characters; the limit is {high}.").format(
                display_name=parameter.display_name, count=len(value), high=int(high)
            )
        )


def _bounds(parameter: app_commands.Parameter) -> tuple[int | float, int | float]:
    """Return the declared range, or Discord's own for numbers declared without one."""
    low = parameter.min_value if parameter.min_value is not None else -DISCORD_NUMBER_LIMIT
    high = parameter.max_value if parameter.max_value is not None else DISCORD_NUMBER_LIMIT
    return low, high


def _check_range(parameter: app_commands.Parameter, value: int | float) -> None:
    low, high = _bounds(parameter)
    if not low <= value <= high:
        raise OptionRefused(
            _("`{display_name}` is {value}; choose {parameter}.").format(
                display_name=parameter.display_name, value=shown(value), parameter=_range(parameter)
            )
        )


def _range(parameter: app_commands.Parameter) -> str:
    low, high = _bounds(parameter)
    return f"{shown(low)} to {shown(high)}"


def _check_entity(parameter: app_commands.Parameter, value: object, resolved: dict[str, Any]) -> None:
    what = _(_ENTITIES[parameter.type])
    name = f"`{parameter.display_name}`"
    if not isinstance(value, str) or not value.isdigit() or len(value) > 20:
        raise OptionRefused(_("{name} must name a {what}.").format(name=name, what=what))
    tables = {
        OptionType.user: ("users", "members"),
        OptionType.channel: ("channels",),
        OptionType.role: ("roles",),
        OptionType.mentionable: ("users", "members", "roles"),
        OptionType.attachment: ("attachments",),
    }[parameter.type]
    if not any(value in (resolved.get(table) or {}) for table in tables):
        raise OptionRefused(
            _("{name} names a {what} Discord did not send; pick one from the list.").format(name=name, what=what)
        )


def _quoted(value: object) -> str:
    text = repr(value) if not isinstance(value, str) else repr(value[:50])
    return discord.utils.escape_markdown(discord.utils.escape_mentions(text))
