"""/imagine and /queue, and reactions on results. A thin cog: it parses interactions, calls the
generation service, and leaves showing jobs to the deliverer (`cogs.kit.delivery`)."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.catalogue import _
from bot.client import SalonBot
from bot.errors import SalonError
from bot.imagine.composer import ASPECT_RATIOS, MAX_PROMPT_CHARS, MAX_SEED, ImagineOptions
from bot.imagine.content_images import check_attachment_header, load_content_image
from bot.imagine.limits import COUNT, GUIDANCE, SIDE, STEPS, STRENGTH
from bot.jobs.names import state_name
from bot.jobs.progress import describe_eta, health_line
from bot.jobs.spec import Feature, Place
from bot.nearest import nearest_names
from bot.store import Actor
from bot.store.database import parse_utc
from bot.store.disk_space import describe_low_space
from bot.store.jobs import Job
from cogs.imagine.presenter import GridPresenter
from cogs.imagine.views import PERSISTENT_ITEMS, inspire_from_message, remix_message
from cogs.kit.delivery import start_generation
from cogs.kit.places import actor_of, defer_reply, message_link, place_of

log = logging.getLogger(__name__)


class ImagineCog(commands.Cog):
    """Slash commands that generate images in a channel, and the reactions on their results."""

    def __init__(self, bot: SalonBot) -> None:
        self.bot = bot
        presenter = GridPresenter(bot)
        bot.deliverer.register(Feature.IMAGINE, presenter)
        bot.deliverer.register(Feature.REGION_EDIT, presenter)
        # Right-click (or long-press) a result: Apps → Remix this / Use as inspiration.
        self.menus = [
            app_commands.ContextMenu(name="Remix this", callback=remix_message),
            app_commands.ContextMenu(name="Use as inspiration", callback=inspire_from_message),
        ]

    async def cog_load(self) -> None:
        for menu in self.menus:
            self.bot.tree.add_command(menu)

    async def cog_unload(self) -> None:
        for menu in self.menus:
            self.bot.tree.remove_command(menu.name, type=menu.type)

    @app_commands.command(name="imagine", description="Generate images from a prompt")
    @app_commands.describe(
        prompt="What to picture; inline flags work too: --no <words> --seed N --ar 16:9 --steps N",
        negative="What to keep out of the picture",
        seed=f"Seed of the first image (0 to {MAX_SEED}); the others follow it",
        count=f"How many images ({COUNT.allowed()})",
        aspect="Aspect ratio (instead of width and height)",
        width=f"Width in pixels ({SIDE.allowed()})",
        height=f"Height in pixels ({SIDE.allowed()})",
        steps=f"Denoising steps ({STEPS.allowed()})",
        guidance=f"How closely to follow the prompt ({GUIDANCE.allowed()})",
        style="A style preset (oil, watercolor, pencil, ...)",
        model="Which model to use",
        image="A content image to start from (image-to-image)",
        strength="With an image: how much to change it (0.05 keeps it, 1 ignores it)",
        journey="Also keep each image's denoising journey (an animation, shown in the session's gallery)",
    )
    @app_commands.choices(aspect=[app_commands.Choice(name=ratio, value=ratio) for ratio in ASPECT_RATIOS])
    async def imagine(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, MAX_PROMPT_CHARS],
        negative: app_commands.Range[str, 0, MAX_PROMPT_CHARS] | None = None,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
        count: app_commands.Range[int, COUNT.low, COUNT.high] | None = None,
        aspect: str | None = None,
        width: app_commands.Range[int, SIDE.low, SIDE.high] | None = None,
        height: app_commands.Range[int, SIDE.low, SIDE.high] | None = None,
        steps: app_commands.Range[int, STEPS.low, STEPS.high] | None = None,
        guidance: app_commands.Range[float, GUIDANCE.low, GUIDANCE.high] | None = None,
        style: str | None = None,
        model: str | None = None,
        image: discord.Attachment | None = None,
        strength: app_commands.Range[float, STRENGTH.low, STRENGTH.high] | None = None,
        journey: bool = False,
    ) -> None:
        actor, place = actor_of(interaction), place_of(interaction)
        service = self.bot.services.imagine
        options = ImagineOptions(
            prompt, negative or "", seed, count, width, height, steps, guidance, aspect, style, model, strength, journey
        )
        content = None
        if image is None:
            # Checking input is quick, so a mistake is refused privately before the public defer.
            prepared = await service.prepare(actor, place, options)
            reply_message_id = await defer_reply(interaction)
        else:
            check_attachment_header(image.filename, image.size, image.content_type)
            await service.prepare(actor, place, options)  # the prompt's mistakes, before anything is downloaded
            reply_message_id = await defer_reply(interaction)
            content = load_content_image(image.filename, await image.read())
            prepared = await service.prepare(actor, place, options, content=content)
        await start_generation(interaction, prepared, reply_message_id)

    @imagine.autocomplete("style")
    async def _style_names(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        styles = self.bot.services.composer.styles
        return [app_commands.Choice(name=label[:100], value=name) for name, label in styles.autocomplete(current)]

    @imagine.autocomplete("model")
    async def _model_names(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        defaults = self.bot.services.composer.defaults
        models = defaults.known_models
        typed = current.casefold()
        ranked = [
            m for m in models if typed in m.casefold() or typed in defaults.model_descriptions.get(m, "").casefold()
        ] or nearest_names(current, models)
        return [app_commands.Choice(name=defaults.model_label(m)[:100], value=m) for m in ranked[:25]]

    @app_commands.command(name="history", description="Your latest generations in this server, with links (private)")
    async def history(self, interaction: discord.Interaction) -> None:
        guild_id = str(interaction.guild_id) if interaction.guild_id else None
        jobs = await self.bot.services.jobs.history(actor_of(interaction), guild_id)
        await interaction.response.send_message(
            describe_history(jobs, guild_id), ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )

    @app_commands.command(name="queue", description="Show your generations in the queue and how long the queue is")
    async def queue(self, interaction: discord.Interaction) -> None:
        status = await self.bot.services.jobs.queue_status(actor_of(interaction))
        lines = [health_line(status.health)]
        low_space = describe_low_space(self.bot.settings.data_dir, self.bot.settings.low_disk_bytes)
        if low_space:
            lines.append(f"⚠️ {low_space}")
        lines.append(
            _("{queue_length} generations waiting, {active_total} queued or running in all.").format(
                queue_length=status.queue_length, active_total=status.active_total
            )
        )
        if not status.jobs:
            lines.append(_("You have nothing in the queue."))
        for row in status.jobs:
            job = row.job
            # The same rule as the job's own message: running once a worker has it, else its place.
            where = _("running") if row.running else _("queued, {value} ahead").format(value=row.position or 0)
            eta_text = "" if status.health.paused else describe_eta(row.eta)
            left = _(", {eta} left").format(eta=eta_text) if eta_text else ""
            prompt = discord.utils.escape_markdown(job.spec.render.prompt)[:80]
            lines.append(f"• #{job.id} {where}{left}: {prompt}")
        await interaction.response.send_message("\n".join(lines)[:2000], ephemeral=True)


def describe_history(jobs: list[Job], guild_id: str | None) -> str:
    """Return a member's latest jobs as lines: when, what, how it ended, and a link to the result."""
    if not jobs:
        return _("You have made nothing here yet. Try `/imagine prompt:a lighthouse at dusk` (`/help` shows more).")
    lines = [_("Your latest generations here, newest first:")]
    for job in jobs:
        when = f"<t:{int(parse_utc(job.created_at).timestamp())}:R>"
        prompt = discord.utils.escape_markdown(job.spec.user_prompt)[:70]
        message_id = job.result_message_id or job.reply_message_id
        link = f" — {message_link(guild_id, job.channel_id, message_id)}" if message_id else ""
        lines.append(f"• #{job.id} {when} {state_name(job.state)}: {prompt}{link}")
    return "\n".join(lines)[:2000]


async def react_to_result(bot: SalonBot, payload: discord.RawReactionActionEvent, *, added: bool) -> None:
    """Count a reaction on a result as a vote, and reroll on 🔁 (a raw reaction routed by `cogs.reactions`)."""
    name = payload.member.display_name if payload.member else ""
    actor = Actor(str(payload.user_id), name)
    outcome = await bot.services.reactions.react(actor, str(payload.message_id), str(payload.emoji), added=added)
    if outcome.action != "reroll" or outcome.job_id is None:
        return
    channel = bot.get_channel(payload.channel_id)
    if not isinstance(channel, discord.abc.Messageable):
        return
    place = Place(str(payload.guild_id) if payload.guild_id else None, str(payload.channel_id))
    parent_id = getattr(channel, "parent_id", None) if isinstance(channel, discord.Thread) else None
    place = Place(place.guild_id, place.channel_id, str(parent_id) if parent_id else None)
    try:
        prepared = await bot.services.imagine.reroll(actor, place, outcome.job_id)
        queued = await bot.services.jobs.submit(actor, place, prepared)
    except SalonError as exc:
        # A reaction has no private reply: tell the person in the channel, briefly.
        await channel.send(f"<@{payload.user_id}> {exc}", delete_after=60)
        return
    await bot.deliverer.follow(queued, post=True)


async def setup(bot: SalonBot) -> None:
    """Load the cog and register its buttons that survive restarts (discord.py extension entry point)."""
    bot.add_persistent_items(*PERSISTENT_ITEMS)
    await bot.add_cog(ImagineCog(bot))
