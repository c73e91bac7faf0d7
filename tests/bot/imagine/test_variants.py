"""The `{a|b}` rule as members are told it: one variant for the whole grid, picked by its first seed."""

from __future__ import annotations

from bot.help.topics import PAGES, HelpTopic
from bot.jobs.spec import ImagineOptions, Place
from bot.services import Services
from bot.store import Actor

ALICE = Actor("1", "alice")
PLACE = Place("1", "50")


async def test_a_variant_is_one_choice_for_the_whole_grid(services: Services) -> None:
    chosen = set()
    for seed in range(0, 40, 4):
        options = ImagineOptions("a {red|blue} door", seed=seed, count=4)
        prepared = await services.imagine.prepare(ALICE, PLACE, options)
        render = prepared.spec.render
        # One prompt for the grid's four seeds; the note says which variant it is.
        assert render.seeds == (seed, seed + 1, seed + 2, seed + 3)
        assert render.prompt in ("a red door", "a blue door")
        assert f"Wildcards chose: {render.prompt}" in prepared.notes
        again = await services.imagine.prepare(ALICE, PLACE, options)
        assert again.spec.render.prompt == render.prompt  # the same first seed picks the same variant
        chosen.add(render.prompt)
    assert chosen == {"a red door", "a blue door"}  # another first seed (a 🔁 reroll) may pick another


def test_members_are_told_the_rule_the_code_follows() -> None:
    assert "picks one for the whole grid" in PAGES[HelpTopic.IMAGINE].replace("\n", " ")
