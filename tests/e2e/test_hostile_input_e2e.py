"""Hostile and forged input through the loopback Discord, surface by surface: each value gets its
exact private refusal (or a safe result), within the first response, and nothing is stored by it.

The values are what a modified client, a stale command schema or a forged request delivers, not
only what Discord's client lets a member type: the checks are Salon's own.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from loopback import Interaction
from tests.e2e.conftest import RunningSalon, World, shows_grid


def row_counts(salon: RunningSalon) -> dict[str, int]:
    """Return how many rows each table of Salon's store holds (read beside the running bot)."""
    with sqlite3.connect(salon.settings.resolved_database_path) as conn:
        tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {table: conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0] for table in tables}


async def refusal(world: World, interaction: Interaction) -> str:
    """Return the private answer to an interaction, checking it was the first and only response."""
    message = await world.server.wait_for(
        lambda: next((m for m in interaction.messages if m.content and not m.loading), None), timeout=30
    )
    assert message.ephemeral, message.content
    assert not any(m.content and not m.ephemeral for m in interaction.messages), "a public answer was posted"
    return message.content


LONG = "x" * 1001

# (command, forged options, what the private answer says). None of these may store anything.
FORGED_COMMANDS: list[tuple[str, dict[str, Any], str]] = [
    ("imagine", {"prompt": "a cat", "steps": 0}, "`steps` is 0; choose 1 to 150."),
    ("imagine", {"prompt": "a cat", "steps": 1.5}, "`steps` must be a whole number from 1 to 150."),
    ("imagine", {"prompt": "a cat", "steps": "12"}, "`steps` must be a whole number from 1 to 150."),
    ("imagine", {"prompt": "a cat", "steps": True}, "`steps` must be a whole number from 1 to 150."),
    ("imagine", {"prompt": "a cat", "width": 0}, "`width` is 0; choose 64 to 2048."),
    ("imagine", {"prompt": "a cat", "seed": -1}, "`seed` is -1; choose 0 to 4294967295."),
    ("imagine", {"prompt": "a cat", "count": 10}, "`count` is 10; choose 1 to 9."),
    ("imagine", {"prompt": "a cat", "guidance": "NaN"}, "`guidance` must be a number from 0 to 30."),
    ("imagine", {"prompt": "a cat", "guidance": 1e308}, "`guidance` is 1e+308; choose 0 to 30."),
    ("imagine", {"prompt": "a cat", "aspect": ""}, "'' is not a choice for `aspect`; choose one of `1:1`"),
    ("imagine", {"prompt": "a cat", "aspect": "1:100"}, "'1:100' is not a choice for `aspect`"),
    ("imagine", {"prompt": "a cat", "journey": "yes"}, "`journey` must be true or false."),
    ("imagine", {"prompt": LONG}, "`prompt` has 1001 characters; the limit is 1000."),
    ("imagine", {"prompt": ""}, "`prompt` needs at least 1 character."),
    ("imagine", {"prompt": 42}, "`prompt` must be text."),
    ("imagine", {"steps": 4}, "/imagine needs the option `prompt`."),
    ("imagine", {"prompt": "a cat", "evil": 1}, "/imagine has no option 'evil'; its options are: `prompt`"),
    ("imagine", {"prompt": "a cat", "`@everyone`": 1}, "/imagine has no option '\\`@\u200beveryone\\`'"),
    ("imagine", {"prompt": "\u200b\u2060\ufeff\u00ad"}, "The prompt is empty"),
    ("party start", {"topic": "love", "vote_mode": "chaos"}, "'chaos' is not a choice for `vote_mode`"),
    ("party start", {"topic": "love", "quorum": -1}, "`quorum` is -1; choose 0 to 100."),
    ("party start", {"topic": "love", "vote_minutes": 0}, "`vote_minutes` is 0; choose 0.05 to 10080."),
    ("party start", {"topic": "love", "tie_break": None}, "None is not a choice for `tie_break`"),
    ("party associate", {"text": "cats", "kind": "spell"}, "'spell' is not a choice for `kind`"),
    ("party role", {"member": "1", "role": "emperor"}, "`member` names a member Discord did not send"),
    ("party role", {"member": "x", "role": "facilitator"}, "`member` must name a member."),
    ("party revert", {"version": 2**60}, "`version` is 1152921504606846976; choose 1 to 10000."),
    ("party commit", {"proposal": 2**70}, "`proposal` is 1180591620717411303424; choose -9007199254740992 to"),
    ("party consent", {"publish": "no"}, "`publish` must be true or false."),
    ("export", {"format": "pdf"}, "'pdf' is not a choice for `format`; choose one of `gallery`"),
    ("regions heatmap", {"job": 2**63}, "`job` is 9223372036854775808; choose"),
    ("theme set", {"name": "x", "steps": -1}, "`steps` is -1; choose 1 to 150."),
    ("theme set", {"name": "x", "guidance": 1e308}, "`guidance` is 1e+308; choose 0 to 30."),
]


async def test_forged_command_options_get_their_exact_private_refusal_and_store_nothing(
    world: World, salon: RunningSalon
) -> None:
    alice = world.server.driver(world.users["alice"])
    before = row_counts(salon)
    for command, options, expected in FORGED_COMMANDS:
        interaction = await alice.forged_slash(world.channel_id, command, options)
        text = await refusal(world, interaction)
        assert expected in text, (command, options, text)
        assert "Something went wrong" not in text
    await salon.settled()
    assert row_counts(salon) == before


HUGE = "9" * 30  # far past SQLite's 64-bit integers


async def test_forged_buttons_and_menus_get_private_refusals_and_store_nothing(
    world: World, salon: RunningSalon
) -> None:
    server = world.server
    alice = server.driver(world.users["alice"])
    made = await alice.slash(world.channel_id, "imagine", {"prompt": "a red kite", "count": 2})
    grid = await server.wait_for(lambda: made.original if made.original and shows_grid(made.original) else None, 120)
    await salon.settled()
    job = int(grid.custom_id("salon:info:").rsplit(":", 1)[1])
    cases: list[tuple[str, list[str] | None, str]] = [
        (f"salon:u:{job}:99", None, f"Job #{job} has images 1 to 2; there is no image 100."),
        (f"salon:v:{job}:2", None, f"Job #{job} has images 1 to 2; there is no image 3."),
        (f"salon:u:{HUGE}:0", None, "This button no longer works"),
        (f"salon:reroll:{HUGE}", None, "This button no longer works"),
        ("salon:info:0", None, "Job #0 is gone"),
        (f"salon:delete:{HUGE}", None, "This button no longer works"),
        (f"salon:pvote:{HUGE}:0", None, "This button no longer works"),
        (f"salon:pclose:{HUGE}", None, "This button no longer works"),
        (f"salon:pstar:{HUGE}:1", None, "This button no longer works"),
        (f"salon:regions:{HUGE}", None, "This button no longer works"),
        (f"salon:rmode:{HUGE}:like", None, "This button no longer works"),
        (f"salon:rsel:{job}:1:4:4", ["Z9"], "'Z9' is not in this menu; it offers A1, B1, C1, D1, A2"),
        (f"salon:rsel:{job}:1:4:4", [], "Pick 1 to 16 entries of this menu."),
        (f"salon:rsel:{job}:1:4:4", ["A1"] * 40, "Pick each entry of the menu once."),
        (f"salon:rsel:{job}:7:4:4", ["A1"], "'7:A1' is outside the lattice: cells go from A1 to D4 on images 1 to 2"),
        (f"salon:rsel:{HUGE}:1:4:4", ["A1"], "This button no longer works"),
        ("salon:nonsense:1", None, "This button no longer works"),
        (f"salon:u:{job}:123", None, "This button no longer works"),
    ]
    assert server.application is not None
    components = {
        custom_id: {"type": 2, "style": 2, "label": "x", "custom_id": custom_id}
        if values is None
        else {"type": 3, "custom_id": custom_id, "options": [{"label": "A1", "value": "A1"}]}
        for custom_id, values, _ in cases
    }
    # Messages of Salon's carrying the forged components, one per row and five rows each, as a
    # tampered client or a copied message would show them.
    rows = [{"type": 1, "components": [component]} for component in components.values()]
    channel = server.channels[world.channel_id]
    planted = [
        server.post_message(channel, server.application, {"content": "…", "components": rows[i : i + 5]})
        for i in range(0, len(rows), 5)
    ]
    carrier = {c: m for m in planted for c in m.custom_ids()}
    before = row_counts(salon)
    for custom_id, values, expected in cases:
        interaction = await alice.forged_component(carrier[custom_id], custom_id, values=values)
        text = await refusal(world, interaction)
        assert expected in text and "Something went wrong" not in text, (custom_id, values, text)
    await salon.settled()
    assert row_counts(salon) == before


async def test_reaction_toggles_and_stray_emoji_do_one_thing_or_nothing(world: World, salon: RunningSalon) -> None:
    server = world.server
    bob = server.driver(world.users["bob"])
    made = await bob.slash(world.channel_id, "imagine", {"prompt": "a lantern", "count": 2})
    grid = await server.wait_for(lambda: made.original if made.original and shows_grid(made.original) else None, 120)
    await salon.settled()
    before = row_counts(salon)
    handled = salon.bot.services.reactions.handled
    # Twenty toggles of 🔁 in a burst are one reroll; a number past the grid and foreign emoji do nothing.
    for _ in range(20):
        await bob.react(grid, "🔁")
        await bob.unreact(grid, "🔁")
    for emoji in ("7️⃣", "🎉", "🇿"):
        await bob.react(grid, emoji)
    await salon.bot.services.reactions.wait_handled(handled + 43)
    # The reroll's grid, posted in the channel beside the first.
    await server.wait_for(lambda: sum(map(shows_grid, server.channel_messages(world.channel_id))) >= 2, 120)
    await salon.settled()
    after = row_counts(salon)
    assert after["jobs"] == before["jobs"] + 1
    assert after["votes"] == before["votes"]
