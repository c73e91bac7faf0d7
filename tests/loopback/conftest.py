"""Fixtures: the loopback Discord with a plain discord.py bot (not Salon) connected to it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import discord
import pytest
from discord import app_commands

from bot.loopback import LoopbackDiscord
from bot.loopback.client_patch import point_discord_py_at

TOKEN = "loopback-test-token"


@dataclass
class Probe:
    """A plain discord.py client, its server, and what it saw."""

    server: LoopbackDiscord
    client: discord.Client
    tree: app_commands.CommandTree
    guild_id: int
    channel_id: int
    alice: int
    bob: int
    events: asyncio.Queue[tuple[str, Any]] = field(default_factory=asyncio.Queue)
    gate: asyncio.Event = field(default_factory=asyncio.Event)


class ProbeView(discord.ui.View):
    """A button, a select and a modal-opening button."""

    def __init__(self, probe: Probe) -> None:
        super().__init__(timeout=None)
        self.probe = probe

    @discord.ui.button(label="Press", custom_id="probe:press")
    async def press(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.edit_message(content=f"pressed by {interaction.user.name}")

    @discord.ui.select(custom_id="probe:pick", options=[discord.SelectOption(label=x, value=x) for x in "abc"])
    async def pick(self, interaction: discord.Interaction, select: discord.ui.Select) -> None:
        await interaction.response.send_message(f"picked {','.join(select.values)}", ephemeral=True)

    @discord.ui.button(label="Ask", custom_id="probe:ask")
    async def ask(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.send_modal(ProbeModal())


class ProbeModal(discord.ui.Modal, title="Tell me"):
    answer = discord.ui.TextInput(label="Answer", custom_id="probe:answer")

    def __init__(self) -> None:
        super().__init__(custom_id="probe:modal")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"you said {self.answer.value}")


def build_commands(probe: Probe) -> None:
    tree = probe.tree

    @tree.command(name="echo", description="Echo text and an optional file")
    async def echo(interaction: discord.Interaction, text: str, file: discord.Attachment | None = None) -> None:
        await interaction.response.defer(thinking=True)
        data = await file.read() if file else b""
        await interaction.edit_original_response(content=f"{text} ({len(data)} bytes)")
        await interaction.followup.send("with file", file=discord.File(__import__("io").BytesIO(data or b"x"), "f.bin"))

    @tree.command(name="panel", description="Post the component panel")
    async def panel(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("panel", view=ProbeView(probe))

    @tree.command(name="slow", description="Answer only when the test opens the gate")
    async def slow(interaction: discord.Interaction) -> None:
        await probe.gate.wait()
        try:
            await interaction.response.send_message("late")
        except discord.HTTPException as exc:
            probe.events.put_nowait(("slow_refused", exc))

    @tree.command(name="later", description="Defer, then follow up when the gate opens")
    async def later(interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        await probe.gate.wait()
        try:
            await interaction.followup.send("much later")
        except discord.HTTPException as exc:
            probe.events.put_nowait(("later_refused", exc))


@pytest.fixture
async def probe() -> AsyncIterator[Probe]:
    server = LoopbackDiscord(record_responses=True)
    await server.start()
    server.create_application("Probe", TOKEN)
    guild = server.create_guild("Probe guild")
    channel = server.create_text_channel(guild.id, "general")
    alice, bob = server.create_user("alice"), server.create_user("bob")
    server.add_member(guild.id, alice.id)
    server.add_member(guild.id, bob.id)
    point_discord_py_at(server.api_base, server.gateway_url)
    intents = discord.Intents.default()
    client = discord.Client(intents=intents)
    tree = app_commands.CommandTree(client)
    state = Probe(server, client, tree, guild.id, channel.id, alice.id, bob.id)
    build_commands(state)

    @client.event
    async def on_raw_reaction_add(payload: discord.RawReactionActionEvent) -> None:
        state.events.put_nowait(("reaction_add", payload))

    @client.event
    async def on_raw_reaction_remove(payload: discord.RawReactionActionEvent) -> None:
        state.events.put_nowait(("reaction_remove", payload))

    @client.event
    async def on_thread_create(thread: discord.Thread) -> None:
        state.events.put_nowait(("thread_create", thread))

    client.add_view(ProbeView(state))
    await client.login(TOKEN)
    await tree.sync()
    task = asyncio.create_task(client.connect())
    await asyncio.wait_for(client.wait_until_ready(), 30)
    yield state
    await client.close()
    await asyncio.wait({task}, timeout=10)
    await server.stop()
