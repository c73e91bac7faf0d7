"""Interactions through the loopback Discord: commands, components, modals, and Discord's deadlines."""

from __future__ import annotations

import json

import aiohttp
import discord
import pytest

from loopback import CommandNotFound, CommandUnavailable, InteractionFailed, OptionError
from tests.loopback.conftest import Probe

pytestmark = pytest.mark.timeout(30)

MANAGE_GUILD = 1 << 5


async def test_commands_are_synced_and_stored(probe: Probe) -> None:
    commands = {c["name"]: c for c in probe.server.commands[0]}
    assert set(commands) == {"echo", "panel", "slow", "later", "private", "party", "preset", "admin", "Inspect"}
    assert commands["Inspect"]["type"] == 2 and commands["admin"]["default_member_permissions"] == str(MANAGE_GUILD)
    fetched = await probe.tree.fetch_commands()
    assert {c.name: c.id for c in fetched} == {name: int(c["id"]) for name, c in commands.items()}
    await probe.tree.sync()
    assert {c["name"]: c["id"] for c in probe.server.commands[0]} == {n: c["id"] for n, c in commands.items()}, (
        "re-syncing keeps command ids, as Discord does"
    )


async def test_invalid_command_definitions_are_refused(probe: Probe) -> None:
    app_id = probe.client.application_id
    assert app_id is not None
    shout = {"name": "Shout", "description": "upper case is not allowed", "type": 1}
    with pytest.raises(discord.HTTPException) as caught:
        await probe.client.http.bulk_upsert_global_commands(app_id, [shout])
    assert caught.value.status == 400 and caught.value.code == 50035
    optional_first = {
        "name": "order",
        "description": "a required option after an optional one",
        "options": [
            {"name": "a", "description": "a", "type": 3},
            {"name": "b", "description": "b", "type": 3, "required": True},
        ],
    }
    with pytest.raises(discord.HTTPException, match="Required options"):
        await probe.client.http.bulk_upsert_global_commands(app_id, [optional_first])
    assert len(probe.server.commands[0]) == 9, "a refused sync changes nothing"


async def test_slash_attachment_defer_edit_and_followup_with_file(probe: Probe) -> None:
    alice = probe.server.driver(probe.alice)
    inter = await alice.slash(probe.channel_id, "echo", {"text": "hi"}, attachments={"file": ("a.txt", b"12345")})
    assert await inter.wait_for_response() == 5
    original = await inter.wait_for_original()
    assert original.content == "hi (5 bytes)" and original.edited_at is not None and not original.loading
    followup = await inter.wait_for_followup()
    [attachment] = followup.attachments
    assert attachment.filename == "echo.bin" and attachment.data == b"12345"
    url = followup.payload(probe.server.base_url)["attachments"][0]["url"]
    assert url.startswith(probe.server.base_url + "/attachments/")
    assert await probe.server.download(url) == b"12345"
    assert followup.interaction is not None and followup.interaction["original_response_message_id"] == str(original.id)
    assert original.type == 20 and inter.refused == []


async def test_every_option_type_and_subcommands(probe: Probe) -> None:
    server = probe.server
    role = server.create_role(probe.guild_id, "painters")
    alice = server.driver(probe.alice)
    options = {
        "theme": "loneliness",
        "rounds": 3,
        "mood": "wild",
        "weight": 0.5,
        "public": True,
        "host": probe.bob,
        "where": probe.channel_id,
        "role": role.id,
        "anyone": role.id,
        "image": ("brief.png", b"\x89PNG not really"),
    }
    inter = await alice.slash(probe.channel_id, "party start", options)
    received = await probe.next("party_start")
    assert {k: received[k] for k in ("theme", "rounds", "mood", "weight", "public")} == {
        "theme": "loneliness",
        "rounds": 3,
        "mood": "wild",
        "weight": 0.5,
        "public": True,
    }
    assert isinstance(received["host"], discord.Member) and received["host"].id == probe.bob
    assert received["where"].id == probe.channel_id and received["role"].name == "painters"
    assert isinstance(received["anyone"], discord.Role) and received["image"] == b"\x89PNG not really"
    assert (await inter.wait_for_original()).content == "party loneliness x3"


async def test_driver_refuses_what_discords_client_would_not_send(probe: Probe) -> None:
    alice = probe.server.driver(probe.alice)
    with pytest.raises(CommandNotFound):
        await alice.slash(probe.channel_id, "imagine", {"prompt": "a cat"})
    with pytest.raises(CommandNotFound, match="no option"):
        await alice.slash(probe.channel_id, "echo", {"txt": "typo"})
    with pytest.raises(CommandNotFound, match="needs a subcommand"):
        await alice.slash(probe.channel_id, "party", {})
    with pytest.raises(OptionError, match="required"):
        await alice.slash(probe.channel_id, "echo", {})
    with pytest.raises(OptionError, match="outside"):
        await alice.slash(probe.channel_id, "party start", {"theme": "x", "rounds": 11, "mood": "calm"})
    with pytest.raises(OptionError, match="choices"):
        await alice.slash(probe.channel_id, "party start", {"theme": "x", "rounds": 1, "mood": "sad"})
    with pytest.raises(OptionError, match="integer"):
        await alice.slash(probe.channel_id, "party start", {"theme": "x", "rounds": "1", "mood": "calm"})
    with pytest.raises(CommandUnavailable):
        await alice.slash(probe.channel_id, "admin")
    probe.server.add_member(probe.guild_id, probe.alice, permissions=MANAGE_GUILD)
    inter = await alice.slash(probe.channel_id, "admin")
    assert (await inter.wait_for_original()).content == "admin ok"


async def test_autocomplete_and_context_menu(probe: Probe) -> None:
    alice = probe.server.driver(probe.alice)
    choices = await alice.autocomplete(probe.channel_id, "preset", {"name": "n"}, focused="name")
    assert [c["value"] for c in choices] == ["noir", "neon", "nocturne"]
    inspect = await alice.user_command(probe.channel_id, "Inspect", probe.bob)
    reply = await inspect.wait_for_original()
    assert reply.content == "bob has 1 roles" and reply.ephemeral and reply.visible_to == probe.alice


async def test_button_select_and_modal(probe: Probe) -> None:
    bob = probe.server.driver(probe.bob)
    panel = await bob.slash(probe.channel_id, "panel")
    message = await panel.wait_for_original()
    click = await bob.click(message, "probe:press")
    assert await click.wait_for_response() == 7
    assert message.content == "pressed by bob" and click.original is message
    pick = await bob.select(message, "probe:pick", ["b", "c"])
    picked = await pick.wait_for_original()
    assert picked.ephemeral and picked.content == "picked b,c"
    with pytest.raises(ValueError, match="offers"):
        await bob.select(message, "probe:pick", ["z"])
    with pytest.raises(PermissionError):
        await probe.server.driver(probe.alice).click(picked, "anything")  # bob's ephemeral message
    ask = await bob.click(message, "probe:ask")
    modal = await ask.wait_for_modal()
    assert modal["custom_id"] == "probe:modal" and modal["title"] == "Tell me"
    with pytest.raises(ValueError, match="required"):
        await bob.submit_modal(ask, {"probe:extra": "!"})
    submitted = await bob.submit_modal(ask, {"probe:answer": "blue", "probe:extra": "!"})
    reply = await submitted.wait_for_original()
    assert reply.content == "you said blue!"
    assert reply.interaction is not None and reply.interaction["triggering_interaction_metadata"]["id"] == str(ask.id)


async def test_ephemeral_defer_and_followup(probe: Probe) -> None:
    inter = await probe.server.driver(probe.alice).slash(probe.channel_id, "private")
    followup = await inter.wait_for_followup()
    assert followup.ephemeral and followup.content == "only you"
    assert inter.original is not None and inter.original.ephemeral
    assert probe.server.channel_messages(probe.channel_id) == []
    assert len(probe.server.channel_messages(probe.channel_id, include_ephemeral=True)) == 2


async def test_late_first_callback_is_unknown_interaction(probe: Probe) -> None:
    inter = await probe.server.driver(probe.alice).slash(probe.channel_id, "slow")
    probe.server.clock.advance(3.5)
    probe.gate.set()
    error = await probe.next("slow_refused")
    assert isinstance(error, discord.NotFound) and error.code == 10062 and error.text == "Unknown interaction"
    assert inter.refused == [(404, 10062)] and not inter.acknowledged
    with pytest.raises(InteractionFailed):
        await inter.wait_for_response()


async def test_second_callback_is_already_acknowledged(probe: Probe) -> None:
    inter = await probe.server.driver(probe.alice).slash(probe.channel_id, "panel")
    await inter.wait_for_response()
    url = f"{probe.server.api_base}/interactions/{inter.id}/{inter.token}/callback"
    async with aiohttp.ClientSession() as http, http.post(url, json={"type": 4, "data": {"content": "again"}}) as reply:
        assert reply.status == 400 and reply.content_type == "application/json"
        assert json.loads(await reply.text()) == {
            "message": "Interaction has already been acknowledged.",
            "code": 40060,
        }
    assert inter.refused == [(400, 40060)] and inter.callback_type == 4


async def test_followup_after_token_expiry_fails(probe: Probe) -> None:
    inter = await probe.server.driver(probe.alice).slash(probe.channel_id, "later")
    await inter.wait_for_response()
    probe.server.clock.advance(15 * 60 + 1)
    probe.gate.set()
    error = await probe.next("later_refused")
    assert error.status == 401 and error.code == 50027 and error.text == "Invalid Webhook Token"
    assert inter.refused == [(401, 50027)] and inter.followups == []
