"""Fixtures: the loopback Discord with a plain discord.py client (not Salon) connected to it.

The probe bot's commands, views and modals are defined here; each handler reports what it
received on `probe.events`, and handlers that must be slow wait on `probe.gate`, which a test
opens after advancing the loopback clock.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import discord
import pytest
from discord import app_commands

from bot.discord_endpoint import point_discord_py_at, reset_discord_py
from loopback import LoopbackDiscord

TOKEN = "loopback-test-token.probe"
EVENT_TIMEOUT = 5.0


@dataclass
class Probe:
    """A plain discord.py client connected to a loopback Discord, and what it saw."""

    server: LoopbackDiscord
    client: discord.Client
    tree: app_commands.CommandTree
    guild_id: int
    channel_id: int
    alice: int
    bob: int
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    frames: list[dict[str, Any]] = field(default_factory=list)
    _queues: dict[str, asyncio.Queue[Any]] = field(default_factory=dict)

    def report(self, kind: str, value: Any) -> None:
        """Record that the bot saw or did something (called from handlers)."""
        self._queues.setdefault(kind, asyncio.Queue()).put_nowait(value)

    async def next(self, kind: str, timeout: float = EVENT_TIMEOUT) -> Any:
        """Return the next value reported under `kind`, waiting for it."""
        queue = self._queues.setdefault(kind, asyncio.Queue())
        return await asyncio.wait_for(queue.get(), timeout)

    def pending(self, kind: str) -> int:
        """Return how many values under `kind` have not been taken yet."""
        queue = self._queues.get(kind)
        return queue.qsize() if queue else 0

    @property
    def channel(self) -> discord.TextChannel:
        """Return the test channel from the client's cache."""
        channel = self.client.get_channel(self.channel_id)
        assert isinstance(channel, discord.TextChannel)
        return channel


class ProbeView(discord.ui.View):
    """A button that edits its message, a two-pick select, a modal-opening button."""

    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Press", custom_id="probe:press")
    async def press(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.edit_message(content=f"pressed by {interaction.user.name}")

    @discord.ui.select(
        custom_id="probe:pick",
        max_values=2,
        options=[discord.SelectOption(label=x, value=x) for x in "abc"],
    )
    async def pick(self, interaction: discord.Interaction, select: discord.ui.Select) -> None:
        await interaction.response.send_message(f"picked {','.join(select.values)}", ephemeral=True)

    @discord.ui.button(label="Ask", custom_id="probe:ask")
    async def ask(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.send_modal(ProbeModal())


class ProbeModal(discord.ui.Modal, title="Tell me"):
    """A modal with one required and one optional text input."""

    answer = discord.ui.TextInput(label="Answer", custom_id="probe:answer")
    extra = discord.ui.TextInput(label="Extra", custom_id="probe:extra", required=False)

    def __init__(self) -> None:
        super().__init__(custom_id="probe:modal")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"you said {self.answer.value}{self.extra.value or ''}")


def build_commands(probe: Probe) -> None:
    """Define the probe bot's application commands."""
    tree = probe.tree

    @tree.command(name="echo", description="Defer, read the file, edit the original, follow up with a file")
    async def echo(interaction: discord.Interaction, text: str, file: discord.Attachment | None = None) -> None:
        await interaction.response.defer(thinking=True)
        data = await file.read() if file else b""
        await interaction.edit_original_response(content=f"{text} ({len(data)} bytes)")
        await interaction.followup.send("with file", file=discord.File(io.BytesIO(data or b"x"), "echo.bin"))

    @tree.command(name="panel", description="Post the component panel")
    async def panel(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("panel", view=ProbeView())

    @tree.command(name="slow", description="Answer only when the test opens the gate")
    async def slow(interaction: discord.Interaction) -> None:
        await probe.gate.wait()
        try:
            await interaction.response.send_message("late")
        except discord.HTTPException as exc:
            probe.report("slow_refused", exc)

    @tree.command(name="later", description="Defer, then follow up when the gate opens")
    async def later(interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        await probe.gate.wait()
        try:
            await interaction.followup.send("much later")
        except discord.HTTPException as exc:
            probe.report("later_refused", exc)

    @tree.command(name="private", description="Deferred ephemerally, then an ephemeral follow-up")
    async def private(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await interaction.followup.send("only you", ephemeral=True)

    party = app_commands.Group(name="party", description="Parties")

    @party.command(name="start", description="Every option type")
    @app_commands.choices(
        mood=[app_commands.Choice(name="calm", value="calm"), app_commands.Choice(name="wild", value="wild")]
    )
    async def start(
        interaction: discord.Interaction,
        theme: str,
        rounds: app_commands.Range[int, 1, 10],
        mood: app_commands.Choice[str],
        weight: float = 1.0,
        public: bool = False,
        host: discord.Member | None = None,
        where: discord.TextChannel | None = None,
        role: discord.Role | None = None,
        anyone: discord.Member | discord.Role | None = None,
        image: discord.Attachment | None = None,
    ) -> None:
        received = {
            "theme": theme,
            "rounds": rounds,
            "mood": mood.value,
            "weight": weight,
            "public": public,
            "host": host,
            "where": where,
            "role": role,
            "anyone": anyone,
            "image": await image.read() if image else None,
        }
        probe.report("party_start", received)
        await interaction.response.send_message(f"party {theme} x{rounds}")

    tree.add_command(party)

    async def preset_names(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        names = ["noir", "neon", "pastel", "nocturne"]
        return [app_commands.Choice(name=n, value=n) for n in names if n.startswith(current)]

    @tree.command(name="preset", description="Pick a preset by name")
    @app_commands.autocomplete(name=preset_names)
    async def preset(interaction: discord.Interaction, name: str) -> None:
        await interaction.response.send_message(f"preset {name}")

    @tree.command(name="admin", description="Only for members who can manage the guild")
    @app_commands.default_permissions(manage_guild=True)
    async def admin(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("admin ok", ephemeral=True)

    @tree.context_menu(name="Inspect")
    async def inspect(interaction: discord.Interaction, member: discord.Member) -> None:
        await interaction.response.send_message(f"{member.name} has {len(member.roles)} roles", ephemeral=True)


async def connect_probe(
    server: LoopbackDiscord, intents: discord.Intents | None = None, *, guild_ready_timeout: float = 0.05
) -> Probe:
    """Return a probe client logged in, commands synced and connecting; it reports "ready" and "guild_available".

    `guild_ready_timeout`: discord.py fires on_ready once this long has passed without a new
    GUILD_CREATE after READY (its default is 2 s; the probe does not wait that long by default).
    """
    guild = next(iter(server.guilds.values()))
    channel = server.create_text_channel(guild.id, "imagine")
    alice = server.create_user("alice", guilds=[guild.id])
    bob = server.create_user("bob", guilds=[guild.id])
    point_discord_py_at(server.api_base, server.gateway_url)
    client = discord.Client(
        intents=intents or discord.Intents.default(),
        enable_debug_events=True,
        guild_ready_timeout=guild_ready_timeout,
    )
    tree = app_commands.CommandTree(client)
    probe = Probe(server, client, tree, guild.id, channel.id, alice.id, bob.id)
    build_commands(probe)

    @client.event
    async def on_socket_raw_receive(raw: str) -> None:
        probe.frames.append(json.loads(raw))

    kinds = ("raw_reaction_add", "raw_reaction_remove", "thread_create", "message", "resumed", "ready")
    for kind in (*kinds, "guild_available"):

        async def forward(*args: Any, _kind: str = kind) -> None:
            probe.report(_kind, args[0] if args else None)

        forward.__name__ = f"on_{kind}"  # discord.py registers an event handler under its name
        client.event(forward)
    client.add_view(ProbeView())
    await client.login(TOKEN)
    await tree.sync()
    probe.task = asyncio.create_task(client.connect())
    return probe


async def start_probe(server: LoopbackDiscord, intents: discord.Intents | None = None) -> Probe:
    """Return a probe client logged in, commands synced, connected and with its guild available."""
    probe = await connect_probe(server, intents)
    await asyncio.wait_for(asyncio.gather(probe.next("ready", 10), probe.next("guild_available", 10)), 10)
    return probe


async def stop_probe(probe: Probe) -> None:
    """Close the probe client and wait for its connection task."""
    await probe.client.close()
    if probe.task is not None:
        await asyncio.wait({probe.task}, timeout=10)


@pytest.fixture
async def server() -> AsyncIterator[LoopbackDiscord]:
    """Return a started loopback Discord with the probe application and one guild."""
    loopback = LoopbackDiscord(record_responses=True)
    await loopback.start()
    loopback.create_application("Probe", TOKEN)
    loopback.create_guild("Probe guild")
    yield loopback
    await loopback.stop()
    reset_discord_py()


@pytest.fixture
async def probe(server: LoopbackDiscord) -> AsyncIterator[Probe]:
    """Return the probe bot connected to the loopback Discord."""
    running = await start_probe(server)
    yield running
    await stop_probe(running)
