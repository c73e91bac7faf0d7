"""`python -m bot demo`: a whole party, offline, against the built-in loopback Discord.

Four simulated members meet in a thread on a topic: they collect associations, refine the prompt
over three rounds with votes, star a favourite, edit the regions of a winner, hold the final vote
and wrap up. Then the session is exported (through `/export` on the loopback, and as a gallery and
a Hugo bundle on disk) and the paths are printed. It drives Salon exactly as Discord users would:
every step is a slash command, a button or a reaction over real sockets, through unmodified
discord.py. The tiny offline model is the default, so it runs on any machine; `--real-model` uses
the configured one (SALON_MODEL_SOURCE).
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.client import REQUIRED_PERMISSIONS, SalonBot, point_discord_at
from bot.export.service import ExportResult
from bot.parties.store import party_in_thread, rounds_of
from bot.settings import Settings, load_settings
from bot.store.images import images_of_job

if TYPE_CHECKING:
    # The loopback Discord is test and demo equipment, not part of the bot: loaded only when the demo runs.
    from loopback import LoopbackDiscord, Message
    from loopback.interactions import Interaction

DEMO_TOKEN = "loopback-demo-token.salon"
TOPIC = "loneliness"
# Generation can take a while with a real model on a CPU; the tiny model answers in seconds.
STEP_TIMEOUT = 600.0

Say = Callable[[str], None]


@dataclass(frozen=True)
class DemoResult:
    """What the demo made: the party's session and where its exports are."""

    session_id: int
    thread_id: int
    gallery: ExportResult
    hugo: ExportResult
    discord_export: str  # what /export answered in the thread
    # Salon's messages everyone in the channel and the party's thread saw (not private answers, not
    # Discord's own "pinned a message" notices): how loud the party was.
    public_messages: int


def demo_settings(out: Path, *, real_model: bool, server: LoopbackDiscord, base: Settings | None = None) -> Settings:
    """Return settings that point Salon at the loopback, with its data under `out/data`."""
    values: dict[str, Any] = {
        "discord_token": DEMO_TOKEN,
        "discord_api_base": server.api_base,
        "discord_gateway_url": server.gateway_url,
        "data_dir": out / "data",
        "log_level": "WARNING",
    }
    if base is not None and base.model_cache_dir is not None:
        values["model_cache_dir"] = base.model_cache_dir
    if not real_model:
        # The offline tiny pipeline: real diffusers code, random weights, images in seconds.
        values.update(model_source="tiny", image_width=64, image_height=64, steps=4, batch_size=4)
    elif base is not None:
        values.update(
            model_source=base.model_source,
            devices=base.devices,
            image_width=base.image_width,
            image_height=base.image_height,
            steps=base.steps,
        )
    return load_settings(**values)


class DemoMember:
    """A simulated member: a loopback user who types slash commands and presses buttons."""

    def __init__(self, server: LoopbackDiscord, name: str, guild_id: int, say: Say) -> None:
        self.server = server
        self.name = name
        self.user = server.create_user(name)
        server.add_member(guild_id, self.user.id)
        self.driver = server.driver(self.user.id)
        self.say = say
        self.names: dict[object, str] = {}  # user ids shown as @names in the narration

    async def command(self, channel_id: int, command: str, options: dict[str, Any] | None = None) -> Message:
        """Run `/command` and return Salon's answer once it says something."""
        shown = " ".join(f"{key}:{self.names.get(value, value)}" for key, value in (options or {}).items())
        self.say(f"{self.name}: /{command} {shown}".rstrip())
        interaction = await self.driver.slash(channel_id, command, options)
        return await answer(interaction)

    async def press(self, message: Message, custom_id: str) -> Message:
        """Press a button and return Salon's answer."""
        return await answer(await self.driver.click(message, custom_id))


async def answer(interaction: Interaction, predicate: Callable[[Message], Any] | None = None) -> Message:
    """Return the bot's answer to an interaction once it has content (and satisfies `predicate`)."""
    check = predicate or (lambda m: m.content and not m.loading)
    return await interaction.wait_for_original(check, timeout=STEP_TIMEOUT)


MARKER = ".salon-demo"


class DemoFolderError(ValueError):
    """The output folder holds something that is not an earlier demo's output."""


def prepare_folder(out: Path) -> Path:
    """Return `out` made ready for a run: an earlier demo's output is replaced, anything else is left alone."""
    out = out.resolve()
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise DemoFolderError(f"{out} is not empty and holds no earlier demo; choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by python -m bot demo; the next demo run replaces this folder\n")
    return out


async def run_demo(
    out: Path, *, real_model: bool = False, base: Settings | None = None, say: Say = print
) -> DemoResult:
    """Run the whole party in `out` (data, exports) and return where its gallery and Hugo bundle are."""
    out = prepare_folder(out)
    from loopback import LoopbackDiscord

    server = LoopbackDiscord()
    await server.start()
    try:
        salon = server.create_application(
            "Salon", DEMO_TOKEN, privileged_intents=0, permissions=REQUIRED_PERMISSIONS.value
        )
        guild = server.create_guild("Salon demo")
        channel = server.create_text_channel(guild.id, "parties")
        settings = demo_settings(out, real_model=real_model, server=server, base=base)
        point_discord_at(settings)
        bot = SalonBot(settings)
        runner = asyncio.create_task(bot.start(DEMO_TOKEN))
        try:
            say(f"Salon is connecting to the loopback Discord at {server.base_url} (model: {settings.model_source})")
            ready = asyncio.create_task(bot.wait_until_ready())
            done, _ = await asyncio.wait({runner, ready}, timeout=STEP_TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
            if runner in done:
                runner.result()
            if ready not in done:
                raise RuntimeError("Salon did not connect to the loopback Discord")
            members = [DemoMember(server, name, guild.id, say) for name in ("ada", "ben", "cleo", "dev")]
            for member in members:
                member.names = {other.user.id: f"@{other.name}" for other in members}
            result = await _party(server, bot, channel.id, members, out, say)
            seen = [
                message
                for place in (channel.id, result.thread_id)
                for message in server.channel_messages(place, include_system=False)
                if message.author.id == salon.id
            ]
            say(f"Salon posted {len(seen)} public messages in the channel and the party's thread")
            return replace(result, public_messages=len(seen))
        finally:
            await bot.close()
            await asyncio.wait({runner}, timeout=60)
    finally:
        await server.stop()


async def _party(
    server: LoopbackDiscord, bot: SalonBot, channel_id: int, members: list[DemoMember], out: Path, say: Say
) -> DemoResult:
    ada, ben, cleo, dev = members  # facilitator, Prompt Master, Art Expert, participant
    await ada.command(channel_id, "party start", {"topic": TOPIC, "vote_minutes": 60.0})
    thread = await server.wait_for(
        lambda: next((c for c in server.channels.values() if c.is_thread and TOPIC in c.name), None),
        timeout=STEP_TIMEOUT,
    )
    for member in (ben, cleo, dev):
        await member.command(thread.id, "party join")
    await ada.command(thread.id, "party role", {"member": ben.user.id, "role": "prompt-master"})
    await ada.command(thread.id, "party role", {"member": cleo.user.id, "role": "art-expert"})
    for member in members:
        # Everyone decides whether their images may be published; dev keeps theirs private.
        await member.command(thread.id, "party consent", {"publish": member is not dev})

    # Associations: what the topic brings to mind.
    for member, text, kind in (
        (ben, "empty chair", "word"),
        (cleo, "empty chair", "word"),
        (dev, "rain on a window", "word"),
        (cleo, "Edward Hopper", "artist"),
        (dev, "a lighthouse", "word"),
        (ada, "muted colours", "style"),
    ):
        await member.command(thread.id, "party associate", {"text": text, "kind": kind})
    await ben.command(
        thread.id, "party fragment", {"text": "an empty chair by a rainy window", "associations": "empty chair"}
    )
    await ben.command(thread.id, "party commit", {"text": "an empty chair by a rainy window"})
    await ada.command(thread.id, "party next")

    party = await party_in_thread(bot.db, str(thread.id))
    assert party is not None
    refinements = (
        None,
        "an empty chair by a rainy window, muted colours, in the style of Edward Hopper",
        "an empty chair by a rainy window at dusk, a distant lighthouse, muted colours, Edward Hopper",
    )
    voters = (ben, cleo, dev)
    for number, refinement in enumerate(refinements, start=1):
        if refinement:
            await cleo.command(thread.id, "party propose", {"text": refinement})
            await ben.command(thread.id, "party commit", {"text": refinement})
        say(f"ada: /party round  (round {number})")
        grid = await _round_grid(server, await ada.driver.slash(thread.id, "party round"))
        round_row = (await rounds_of(bot.db, party.id))[-1]
        # Two votes for image number, one elsewhere: each round has a clear winner.
        for voter, idx in zip(voters, (number % 4, number % 4, (number + 1) % 4), strict=True):
            await voter.press(grid, f"salon:pvote:{round_row.id}:{idx}")
        await cleo.press(grid, grid.custom_id("salon:pstar:"))
        await ada.press(grid, grid.custom_id("salon:pclose:"))
        announced = await _announcement(server, thread.id, f"🏆 Round {number}")
        # The round's own message now tells how its vote ended.
        say("Salon: " + next(line for line in announced.content.splitlines() if line.startswith("🏆")))
        if number == 2:
            await _region_edit(server, bot, thread.id, party.id, members, say)

    await ada.command(thread.id, "party next")
    say("ada: /party final")
    ballot = await _round_grid(server, await ada.driver.slash(thread.id, "party final"))
    final = (await rounds_of(bot.db, party.id))[-1]
    for voter in voters:
        await voter.press(ballot, f"salon:pvote:{final.id}:0")
    await ada.press(ballot, ballot.custom_id("salon:pclose:"))
    await _announcement(server, thread.id, "🏆 The final vote")
    await _announcement(server, thread.id, "the party in review")
    say("Salon: the party is over; its summary and best-of collage are in the thread")

    say("ada: /export format:gallery")
    exported = await answer(await ada.driver.slash(thread.id, "export", {"format": "gallery"}), lambda m: m.attachments)
    say(f"Salon: {exported.content} ({exported.attachments[0].filename})")

    gallery = await bot.services.exports.export(party.session_id, "gallery", out / "gallery")
    hugo = await bot.services.exports.export(party.session_id, "hugo", out / "hugo" / "content" / "posts")
    return DemoResult(party.session_id, thread.id, gallery, hugo, exported.content, public_messages=0)


def vote_message_after(server: LoopbackDiscord, interaction: Interaction) -> Message | None:
    """Return the newest vote message (a round's or the final vote's) posted after `interaction`, if any.

    Salon posts each vote as its own message in the thread (the command's answer is private), so
    the vote is the message with vote buttons that came after the command.
    """
    votes = [
        message
        for message in server.channel_messages(interaction.channel.id)
        if message.id > interaction.id and any(c.startswith("salon:pvote:") for c in message.custom_ids())
    ]
    return votes[-1] if votes else None


async def _round_grid(server: LoopbackDiscord, interaction: Interaction) -> Message:
    """Return a round's (or the final vote's) grid once its vote buttons are shown."""
    return await server.wait_for(lambda: vote_message_after(server, interaction), timeout=STEP_TIMEOUT)


async def _announcement(server: LoopbackDiscord, thread_id: int, text: str) -> Message:
    return await server.wait_for(
        lambda: next((m for m in reversed(server.channel_messages(thread_id)) if text in m.content), None),
        timeout=STEP_TIMEOUT,
    )


async def _region_edit(
    server: LoopbackDiscord, bot: SalonBot, thread_id: int, party_id: int, members: list[DemoMember], say: Say
) -> None:
    """Members mark what they dislike in round 2's winner; the Art Expert regenerates those cells."""
    _, ben, cleo, dev = members
    round_two = (await rounds_of(bot.db, party_id))[-1]
    assert round_two.job_id is not None and round_two.winner_image_id is not None
    images = [image.id for image in await images_of_job(bot.db, round_two.job_id)]
    winner = images.index(round_two.winner_image_id) + 1
    job = round_two.job_id
    await ben.command(thread_id, "regions mark", {"job": job, "like": f"{winner}:A1-D2"})
    await dev.command(thread_id, "regions mark", {"job": job, "dislike": f"{winner}:A3-D4"})
    await cleo.command(thread_id, "regions mark", {"job": job, "dislike": f"{winner}:B3-C4"})
    heatmap = await cleo.driver.slash(thread_id, "regions heatmap", {"job": job})
    await answer(heatmap, lambda m: m.attachments)
    say("Salon: the heatmap shows what the group liked (green) and disliked (red)")
    say(f"cleo: /regions edit action:regenerate image:{winner} job:{job}")
    edited = await cleo.driver.slash(
        thread_id,
        "regions edit",
        {"action": "regenerate", "image": winner, "job": job, "prompt": "a calm sea under the window"},
    )
    await answer(edited, lambda m: any(a.filename.startswith("salon-") for a in m.attachments))
    say("Salon: the disliked cells are regenerated; the liked ones are kept exactly")
