"""The loopback Discord speaks Discord to an unmodified discord.py client, rules included."""

from __future__ import annotations

import io

import discord
import pytest

from bot.loopback import LoopbackDiscord
from bot.loopback.client_patch import point_discord_py_at
from tests.loopback.conftest import Probe


async def test_ready_and_guild_create_fill_the_cache(probe: Probe) -> None:
    guild = probe.client.get_guild(probe.guild_id)
    assert guild is not None and guild.name == "Probe guild"
    assert probe.client.get_channel(probe.channel_id).name == "general"
    assert probe.client.user.name == "Probe"
    assert {c["name"] for c in probe.server.commands[0]} == {"echo", "panel", "slow", "later"}


async def test_slash_with_attachment_defer_edit_and_followup(probe: Probe) -> None:
    alice = probe.server.driver(probe.alice)
    inter = await alice.slash(probe.channel_id, "echo", {"text": "hi"}, attachments={"file": ("a.txt", b"12345")})
    await probe.server.wait_for(lambda: len(inter.followups) == 1, timeout=10)
    assert inter.callback_type == 5
    assert inter.original.content == "hi (5 bytes)"
    [attachment] = inter.followups[0].attachments
    assert attachment.data == b"12345" and attachment.filename == "f.bin"


async def test_button_select_and_modal(probe: Probe) -> None:
    bob = probe.server.driver(probe.bob)
    panel = await bob.slash(probe.channel_id, "panel")
    message = await probe.server.wait_for(lambda: panel.original, timeout=10)
    click = await bob.click(message, "probe:press")
    await probe.server.wait_for(lambda: click.acknowledged, timeout=10)
    assert click.callback_type == 7 and message.content == "pressed by bob"
    pick = await bob.select(message, "probe:pick", ["b", "c"])
    await probe.server.wait_for(lambda: pick.original, timeout=10)
    assert pick.original.ephemeral and pick.original.content == "picked b,c"
    ask = await bob.click(message, "probe:ask")
    await probe.server.wait_for(lambda: ask.modal, timeout=10)
    submitted = await bob.submit_modal(ask, {"probe:answer": "blue"})
    await probe.server.wait_for(lambda: submitted.original, timeout=10)
    assert submitted.original.content == "you said blue"
    with pytest.raises(ValueError, match="offers"):
        await bob.select(message, "probe:pick", ["z"])


async def test_bot_message_file_edit_reactions_both_ways(probe: Probe) -> None:
    channel = probe.client.get_channel(probe.channel_id)
    sent = await channel.send("hello", file=discord.File(io.BytesIO(b"png?"), "x.png"))
    assert sent.attachments[0].filename == "x.png"
    assert await sent.attachments[0].read() == b"png?"
    await sent.edit(content="edited")
    await sent.add_reaction("🔁")
    stored = probe.server.messages[sent.id]
    assert stored.content == "edited" and probe.client.user.id in stored.reactions["🔁"]
    kind, own = await probe.events.get()  # Discord tells the bot about its own reactions too
    assert kind == "reaction_add" and own.user_id == probe.client.user.id
    alice = probe.server.driver(probe.alice)
    await alice.react(stored, "❤️")
    kind, payload = await probe.events.get()
    assert kind == "reaction_add" and payload.user_id == probe.alice and str(payload.emoji) == "❤️"
    await alice.unreact(stored, "❤️")
    kind, payload = await probe.events.get()
    assert kind == "reaction_remove" and payload.message_id == sent.id


async def test_threads_and_pins(probe: Probe) -> None:
    channel = probe.client.get_channel(probe.channel_id)
    brief = await channel.send("the brief")
    thread = await brief.create_thread(name="party: loneliness")
    kind, created = await probe.events.get()
    assert kind == "thread_create" and created.id == thread.id and thread.parent_id == channel.id
    inside = await thread.send("welcome")
    await inside.pin()
    assert [m.id async for m in thread.pins()] == [inside.id]
    assert probe.server.channel_messages(thread.id)[0].content == "welcome"


async def test_late_first_callback_is_unknown_interaction(probe: Probe) -> None:
    inter = await probe.server.driver(probe.alice).slash(probe.channel_id, "slow")
    probe.server.clock.advance(3.5)
    probe.gate.set()
    kind, error = await probe.events.get()
    assert kind == "slow_refused" and isinstance(error, discord.NotFound) and error.code == 10062
    assert inter.refused == [(404, 10062)] and not inter.acknowledged


async def test_followup_after_token_expiry_fails(probe: Probe) -> None:
    inter = await probe.server.driver(probe.alice).slash(probe.channel_id, "later")
    await probe.server.wait_for(lambda: inter.acknowledged, timeout=10)
    probe.server.clock.advance(15 * 60 + 1)
    probe.gate.set()
    kind, error = await probe.events.get()
    assert kind == "later_refused" and error.status == 401 and error.code == 50027


async def test_upload_over_limit_is_refused(probe: Probe) -> None:
    probe.server.max_upload_bytes = 1024
    channel = probe.client.get_channel(probe.channel_id)
    with pytest.raises(discord.HTTPException) as caught:
        await channel.send(file=discord.File(io.BytesIO(b"x" * 4096), "big.bin"))
    assert caught.value.status == 413 and caught.value.code == 40005


async def test_wrong_token_is_refused() -> None:
    server = LoopbackDiscord()
    await server.start()
    server.create_application("Probe", "right-token")
    point_discord_py_at(server.api_base, server.gateway_url)
    client = discord.Client(intents=discord.Intents.default())
    try:
        with pytest.raises(discord.LoginFailure):
            await client.login("wrong-token")
    finally:
        await client.close()
        await server.stop()
