"""Member text: what counts as empty, and how it is put on one line."""

from __future__ import annotations

import pytest

from bot.errors import UserInputError
from bot.member_text import is_blank, one_line
from bot.parties.service import PartySettings
from bot.services import Services
from bot.store import Actor

ALICE = Actor("1", "alice")
SETTINGS = PartySettings()

INVISIBLE = [
    "",
    "   \t\n",
    "\u200b\u200c\u200d",  # zero-width space, non-joiner, joiner
    "\u2060\ufeff\u00ad",  # word joiner, byte-order mark, soft hyphen
    "\u200e\u200f\u202a\u202e\u2066\u2069",  # bidi marks and isolates
    "\u3164\u115f\uffa0\u2800",  # Hangul fillers and the blank Braille pattern
    "\u0301\u0308",  # combining marks with nothing to sit on
    "\x00\x07\x1b",  # control characters
    "\u00a0\u2003\u3000",  # no-break, em and ideographic spaces
]


@pytest.mark.parametrize("text", INVISIBLE)
def test_text_that_shows_nothing_is_blank_and_empty_on_one_line(text: str) -> None:
    assert is_blank(text)
    assert one_line(text) == ""


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a\u200bcat", "a\u200bcat"),  # visible text keeps what it has
        ("  two\n\nlines\x07 here ", "two lines here"),
        ("e\u0301te\u0301", "e\u0301te\u0301"),
        ("👨\u200d👩\u200d👧", "👨\u200d👩\u200d👧"),  # an emoji sequence is not blank
    ],
)
def test_visible_text_is_kept_on_one_line(text: str, line: str) -> None:
    assert not is_blank(text)
    assert one_line(text) == line


ZERO_WIDTH = "\u200b\u200d\u2060\ufeff\u00ad"


@pytest.mark.asyncio(loop_scope="module")
async def test_a_party_refuses_invisible_topics_associations_and_prompts(services: Services) -> None:
    parties = services.parties
    with pytest.raises(UserInputError, match="A party's topic is 1 to"):
        await parties.start(ALICE, guild_id="1", channel_id="70", thread_id="71", topic=ZERO_WIDTH, settings=SETTINGS)
    await parties.start(ALICE, guild_id="1", channel_id="70", thread_id="71", topic="rain", settings=SETTINGS)
    with pytest.raises(UserInputError, match="An association is 1 to"):
        await parties.associate(ALICE, "71", ZERO_WIDTH)
    with pytest.raises(UserInputError, match="A party prompt is 1 to"):
        await parties.commit(ALICE, "71", text=f" {ZERO_WIDTH}\u3164 ")
    state = await parties.state_in("71")
    assert [v.text for v in state.versions] == ["rain"] and not state.associations, "nothing was stored"
