"""The loopback gateway speaks Discord's protocol to an unmodified discord.py client."""

from __future__ import annotations

import asyncio
import json
import math

import aiohttp
import discord
import pytest

from bot.discord_endpoint import point_discord_py_at, reset_discord_py
from loopback import LoopbackDiscord
from tests.loopback.conftest import TOKEN, Probe, connect_probe, start_probe, stop_probe

pytestmark = pytest.mark.timeout(30)


async def test_ready_and_guild_create_fill_the_cache(probe: Probe) -> None:
    client = probe.client
    guild = client.get_guild(probe.guild_id)
    assert guild is not None and guild.name == "Probe guild" and not guild.unavailable
    assert {c.name for c in guild.text_channels} == {"general", "imagine"}
    assert probe.channel.name == "imagine" and probe.channel.guild is guild
    assert {r.name for r in guild.roles} == {"@everyone", "Probe"}
    # Without the members intent discord.py caches only itself, but GUILD_CREATE lists everyone.
    guild_create = next(f["d"] for f in probe.frames if f["t"] == "GUILD_CREATE")
    assert {m["user"]["username"] for m in guild_create["members"]} == {"Probe guild owner", "Probe", "alice", "bob"}
    assert guild.member_count == 4
    assert client.user is not None and client.user.name == "Probe" and client.user.bot
    assert client.application_id == probe.server.application.id
    me = guild.me
    assert me.guild_permissions.manage_messages and not me.guild_permissions.administrator
    everyone = guild.default_role.permissions
    assert everyone.send_messages and everyone.use_application_commands and not everyone.manage_guild


async def test_frames_have_discords_shape_and_sequence(probe: Probe) -> None:
    await probe.server.driver(probe.alice).send(probe.channel_id, "hello")
    await probe.next("message")
    hello, *rest = probe.frames
    assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] > 0
    for frame in probe.frames:
        assert set(frame) == {"op", "d", "s", "t"}
    dispatches = [f for f in probe.frames if f["op"] == 0]
    assert [f["s"] for f in dispatches] == list(range(1, len(dispatches) + 1))
    assert [f["t"] for f in dispatches[:2]] == ["READY", "GUILD_CREATE"]
    assert dispatches[-1]["t"] == "MESSAGE_CREATE"
    assert all(f["s"] is None and f["t"] is None for f in probe.frames if f["op"] != 0)
    assert any(f["op"] == 11 for f in rest), "the first heartbeat was acknowledged"
    ready = dispatches[0]["d"]
    assert ready["resume_gateway_url"] == probe.server.gateway_url
    assert ready["application"]["id"] == str(probe.server.application.id)


async def test_resume_replays_what_was_missed(probe: Probe) -> None:
    server = probe.server
    [session] = server.sessions
    await server.drop_connections(code=4000)
    # Sent while the bot is away: it must arrive exactly once, replayed on RESUME.
    sent = await server.driver(probe.alice).send(probe.channel_id, "while you were away")
    assert await probe.next("resumed") is None
    message = await probe.next("message")
    assert message.id == sent.id
    assert server.sessions == [session], "the same session resumed"
    await server.driver(probe.alice).send(probe.channel_id, "after")
    assert (await probe.next("message")).id != sent.id and probe.pending("message") == 0


async def test_reconnect_request_resumes(probe: Probe) -> None:
    [session] = probe.server.sessions
    await probe.server.request_reconnect()
    assert await probe.next("resumed") is None
    await probe.server.wait_for(lambda: probe.server.sessions)
    assert probe.server.sessions == [session]


async def test_message_content_needs_the_intent(probe: Probe) -> None:
    alice = probe.server.driver(probe.alice)
    await alice.send(probe.channel_id, "no intent, no content")
    assert (await probe.next("message")).content == ""
    await alice.send(probe.channel_id, f"<@{probe.client.user.id}> mentioned, so visible")
    mentioned = await probe.next("message")
    assert mentioned.content.endswith("so visible") and probe.client.user in mentioned.mentions


async def test_message_content_with_the_intent(server: LoopbackDiscord) -> None:
    intents = discord.Intents.default()
    intents.message_content = True
    probe = await start_probe(server, intents)
    try:
        await server.driver(probe.alice).send(probe.channel_id, "plain text")
        assert (await probe.next("message")).content == "plain text"
    finally:
        await stop_probe(probe)


async def test_privileged_intent_not_enabled_closes_4014() -> None:
    async with LoopbackDiscord() as server:
        server.create_application("Probe", TOKEN, privileged_intents=0)
        server.create_guild("g")
        point_discord_py_at(server.api_base, server.gateway_url)
        intents = discord.Intents.default()
        intents.members = True
        client = discord.Client(intents=intents)
        try:
            await client.login(TOKEN)
            with pytest.raises(discord.PrivilegedIntentsRequired):
                await client.connect()
        finally:
            await client.close()
            reset_discord_py()


async def test_wrong_token_is_refused_by_rest_and_gateway() -> None:
    async with LoopbackDiscord(record_responses=True) as server:
        server.create_application("Probe", "right-token")
        point_discord_py_at(server.api_base, server.gateway_url)
        client = discord.Client(intents=discord.Intents.default())
        try:
            with pytest.raises(discord.LoginFailure):
                await client.login("wrong-token")
            [record] = server.recorded
            assert (record.status, record.body) == (401, {"message": "401: Unauthorized", "code": 0})
        finally:
            await client.close()
            reset_discord_py()
        async with aiohttp.ClientSession() as http, http.ws_connect(server.gateway_url + "?v=10&encoding=json") as ws:
            hello = json.loads((await ws.receive()).data)
            assert hello["op"] == 10
            await ws.send_str(json.dumps({"op": 2, "d": {"token": "wrong-token", "intents": 513, "properties": {}}}))
            closing = await asyncio.wait_for(ws.receive(), 5)
            assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 4004


async def test_frames_before_identify_are_refused() -> None:
    async with LoopbackDiscord() as server:
        server.create_application("Probe", TOKEN)
        async with aiohttp.ClientSession() as http, http.ws_connect(server.gateway_url) as ws:
            await ws.receive()  # HELLO
            await ws.send_str(json.dumps({"op": 1, "d": None}))
            assert json.loads((await ws.receive()).data)["op"] == 11
            await ws.send_str(json.dumps({"op": 8, "d": {"guild_id": "1"}}))
            closing = await asyncio.wait_for(ws.receive(), 5)
            assert closing.data == 4003


async def test_slash_command_between_ready_and_on_ready_reaches_the_handler(server: LoopbackDiscord) -> None:
    """discord.py handles INTERACTION_CREATE at once, while on_ready still waits for the guilds.

    The guild is known only from READY (unavailable, no channels yet), so the interaction carries
    its guild id and a channel built from the interaction's own payload.
    """
    server.guild_create_delay = math.inf  # held until release_guild_creates()
    # on_ready fires once guild_ready_timeout passes without a GUILD_CREATE: far later than this test.
    probe = await connect_probe(server, guild_ready_timeout=30)
    seen: list[tuple[bool, int | None, bool | None, str | None]] = []

    async def on_interaction(interaction: discord.Interaction) -> None:
        guild = interaction.guild
        channel = interaction.channel
        seen.append(
            (probe.client.is_ready(), interaction.guild_id, guild and guild.unavailable, channel and channel.name)
        )

    probe.client.event(on_interaction)  # looked up by name at dispatch, so registering now is in time
    try:
        session = await server.wait_for_ready_sent()
        assert session.user is server.application
        echo = await server.driver(probe.alice).slash(probe.channel_id, "echo", {"text": "early"})
        assert (await echo.wait_for_followup()).content == "with file"
        assert (await echo.wait_for_original()).content == "early (0 bytes)"
        assert seen == [(False, probe.guild_id, True, "imagine")]
        assert "GUILD_CREATE" not in [f["t"] for f in probe.frames] and not probe.client.is_ready()
        server.release_guild_creates()
        guild = await probe.next("guild_available")
        assert guild.id == probe.guild_id and not guild.unavailable and probe.channel.guild is guild
        events = [f["t"] for f in probe.frames if f["op"] == 0]
        assert events.index("READY") < events.index("INTERACTION_CREATE") < events.index("GUILD_CREATE")
    finally:
        await stop_probe(probe)


async def test_on_ready_waits_for_a_delayed_guild_create(server: LoopbackDiscord) -> None:
    server.guild_create_delay = 0.1
    # Longer than the delay, so discord.py is still waiting for the guild when it comes.
    probe = await connect_probe(server, guild_ready_timeout=1.0)
    try:
        await server.wait_for_ready_sent()
        guild = await probe.next("guild_available")
        assert not probe.client.is_ready(), "on_ready comes guild_ready_timeout after the last GUILD_CREATE"
        assert await probe.next("ready") is None
        assert probe.client.get_guild(probe.guild_id) is guild and not guild.unavailable
    finally:
        await stop_probe(probe)
