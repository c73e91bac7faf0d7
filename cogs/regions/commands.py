"""/regions and the lattice message: members mark cells they like and dislike, then edit those parts.

Three ways to mark, all landing in `bot.regions.service`: select menus on the lattice message,
regional-indicator reactions on it (🇦 = A1, 🇧 = B1, ... on image 1, in the member's mode), and
`/regions mark like:A1-B2 dislike:2:C4`. The lattice message shows the heatmap and is edited as
people mark. A thin cog: parse, call the service, render.
"""

from __future__ import annotations

import io
import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.catalogue import N_, _
from bot.client import SalonBot
from bot.errors import SalonError, UserInputError
from bot.imagine.composer import ImagineOptions
from bot.jobs.names import grid_name, image_name
from bot.regions.lattice import DEFAULT_SIZE, MAX_SIZE, Lattice
from bot.regions.service import MarkOutcome, RegionService, cell_for_indicator
from bot.store import Actor
from bot.store.jobs import Job
from cogs.kit.choices import id_choices
from cogs.kit.components import NUMBER, POSITION, SalonItem, digit, one_of, pick_fits_menu
from cogs.kit.delivery import start_generation
from cogs.kit.places import actor_of, place_of, services_of

log = logging.getLogger(__name__)

MAX_SELECT_IMAGES = 4  # four menus and a row of buttons fill a message's five rows
EDIT_ACTIONS = ("regenerate", "add", "remove", "embolden", "soft", "combine")


def regions_of(client: discord.Client) -> RegionService:
    """Return the region service of the bot."""
    return services_of(client).regions


def describe_scores(outcome: MarkOutcome) -> str:
    """Return the heatmap as text: the most liked and most disliked cells."""
    liked = sorted((c for c, v in outcome.scores.items() if v > 0), key=lambda c: -outcome.scores[c])
    disliked = sorted((c for c, v in outcome.scores.items() if v < 0), key=lambda c: outcome.scores[c])
    parts = []
    if liked:
        cells = ", ".join(f"{c.name()} (+{outcome.scores[c]})" for c in liked[:8])
        parts.append(_("liked {cells}").format(cells=cells))
    if disliked:
        cells = ", ".join(f"{c.name()} ({outcome.scores[c]})" for c in disliked[:8])
        parts.append(_("disliked {cells}").format(cells=cells))
    return "; ".join(parts) or _("no marks yet")


async def refresh_lattice(
    client: object, message: discord.Message | discord.PartialMessage, job_id: int, lattice: Lattice
) -> None:
    """Redraw a lattice message with the heatmap as it is now."""
    png = await regions_of(client).lattice_png(job_id, lattice)
    try:
        await message.edit(attachments=[discord.File(io.BytesIO(png), filename=f"salon-lattice-{job_id}.png")])
    except discord.HTTPException:
        log.warning("could not redraw the lattice of job %s", job_id, exc_info=True)


class CellSelect(
    SalonItem[discord.ui.Select],
    key="rsel",
    parts={"job_id": NUMBER, "image": POSITION, "rows": digit(1, 5), "cols": digit(1, 5)},
    where=N_("marking cells"),
):
    """A menu of one image's cells: the picked cells are marked in the member's mode."""

    def __init__(self, job_id: int, image: int, rows: int, cols: int, numbered: bool = True) -> None:
        lattice = Lattice(rows, cols)
        options = [
            discord.SelectOption(label=cell.name(with_image=numbered), value=cell.name(with_image=False))
            for cell in lattice.cells(image)
        ]
        super().__init__(
            discord.ui.Select(
                custom_id=self.make_id(job_id, image, rows, cols),
                placeholder=_("Mark cells of image {image}").format(image=image) if numbered else _("Mark cells"),
                min_values=1,
                max_values=len(options),
                options=options,
            )
        )
        self.job_id, self.image, self.lattice = job_id, image, lattice

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        # The menu rebuilt from the custom_id offers the lattice's cells: a pick of anything else is refused.
        return await pick_fits_menu(interaction, self.item)

    async def act(self, interaction: discord.Interaction) -> None:
        service = regions_of(interaction.client)
        values = self.item.values
        _unused, images = await service.images(self.job_id, place_of(interaction))
        cells = self.lattice.parse(" ".join(f"{self.image}:{value}" for value in values), images=len(images))
        actor = actor_of(interaction)
        mode = await service.mode_of(actor, self.job_id)
        outcome = await service.mark(actor, self.job_id, cells, mode, self.lattice)  # type: ignore[arg-type]
        await interaction.response.send_message(
            _("Marked {value} as {mode}d. Now: {outcome}").format(
                value=", ".join(c.name() for c in cells), mode=mode, outcome=describe_scores(outcome)
            ),
            ephemeral=True,
        )
        if interaction.message is not None:
            await refresh_lattice(interaction.client, interaction.message, self.job_id, self.lattice)


class ModeButton(
    SalonItem[discord.ui.Button],
    key="rmode",
    parts={"job_id": NUMBER, "mode": one_of("like", "dislike")},
    where=N_("switching the marking mode"),
):
    """👍 / 👎: what the member's menu picks and reactions mean from now on."""

    def __init__(self, job_id: int, mode: str) -> None:
        super().__init__(
            discord.ui.Button(
                label=_("Mark liked") if mode == "like" else _("Mark disliked"),
                emoji="👍" if mode == "like" else "👎",
                style=discord.ButtonStyle.success if mode == "like" else discord.ButtonStyle.danger,
                custom_id=self.make_id(job_id, mode),
            )
        )
        self.job_id, self.mode = job_id, mode

    async def act(self, interaction: discord.Interaction) -> None:
        await regions_of(interaction.client).images(self.job_id, place_of(interaction))
        await regions_of(interaction.client).set_mode(actor_of(interaction), self.job_id, self.mode)  # type: ignore[arg-type]
        await interaction.response.send_message(
            _("Your picks and reactions now mark cells as {mode}d.").format(mode=self.mode), ephemeral=True
        )


class RegionsButton(SalonItem[discord.ui.Button], key="regions", parts={"job_id": NUMBER}, where=N_("opening regions")):
    """🔲 Regions, under a result: open it for marking."""

    def __init__(self, job_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=_("Regions"), emoji="🔲", style=discord.ButtonStyle.secondary, custom_id=self.make_id(job_id)
            )
        )
        self.job_id = job_id

    async def act(self, interaction: discord.Interaction) -> None:
        await open_lattice(interaction, self.job_id, Lattice())


async def open_lattice(interaction: discord.Interaction, job_id: int, lattice: Lattice) -> None:
    """Post a result with its labelled lattice, cell menus and mode buttons, and remember the message."""
    service = regions_of(interaction.client)
    _unused, images = await service.images(job_id, place_of(interaction))
    png = await service.lattice_png(job_id, lattice)
    view = discord.ui.View(timeout=None)
    numbered = len(images) > 1
    for number in range(1, min(len(images), MAX_SELECT_IMAGES) + 1):
        select = CellSelect(job_id, number, lattice.rows, lattice.cols, numbered)
        select.row = number - 1
        view.add_item(select)
    for mode in ("like", "dislike"):
        button = ModeButton(job_id, mode)
        button.row = 4
        view.add_item(button)
    extra = (
        _(" Images beyond {max_select_images}: use `/regions mark`.").format(max_select_images=MAX_SELECT_IMAGES)
        if len(images) > MAX_SELECT_IMAGES
        else ""
    )
    cells = f"A1 to {lattice.last_name()}" + (_(" (2:B3 is cell B3 of image 2)") if numbered else "")
    text = _(
        "🔲 Mark what you like and dislike in job #{job_id}: cells {cells}. Pick cells in "
        "the menus, react with 🇦 (A1), 🇧 (B1), … on image 1, or use `/regions mark`. 👍/👎 "
        "choose what your picks mean.{extra}"
    ).format(job_id=job_id, cells=cells, extra=extra)
    channel = interaction.channel
    if not isinstance(channel, discord.abc.Messageable):
        raise UserInputError(_("Open regions in a channel or thread where Salon can post."))
    # A plain channel message, not the interaction's response: Salon edits it as people mark, long
    # after the interaction's token has expired.
    message = await channel.send(
        text, file=discord.File(io.BytesIO(png), filename=f"salon-lattice-{job_id}.png"), view=view
    )
    await service.record_lattice(job_id, str(message.id), str(interaction.channel_id), lattice)
    await interaction.response.send_message(
        _("Opened job #{job_id} for marking.").format(job_id=job_id), ephemeral=True
    )


class RegionsCog(commands.Cog):
    """Marking regions of results and editing them."""

    regions = app_commands.Group(name="regions", description="Mark what you like and dislike in a result, then edit it")

    def __init__(self, bot: SalonBot) -> None:
        self.bot = bot

    async def _job_and_lattice(self, interaction: discord.Interaction, job: int | None) -> tuple[int, Lattice]:
        if job is not None:
            return job, Lattice()
        post = await regions_of(self.bot).latest_lattice(str(interaction.channel_id))
        return post.job_id, Lattice(post.rows, post.cols)

    @regions.command(name="open", description="Open a result for marking, with a lattice over each image")
    async def open(
        self,
        interaction: discord.Interaction,
        job: int,
        rows: app_commands.Range[int, 1, MAX_SIZE] = DEFAULT_SIZE,
        cols: app_commands.Range[int, 1, MAX_SIZE] = DEFAULT_SIZE,
    ) -> None:
        await open_lattice(interaction, job, Lattice(rows, cols))

    @regions.command(name="mark", description="Mark cells by name: like:A1-B2 dislike:2:C4 clear:B3")
    async def mark(
        self,
        interaction: discord.Interaction,
        like: str = "",
        dislike: str = "",
        clear: str = "",
        job: int | None = None,
    ) -> None:
        job_id, lattice = await self._job_and_lattice(interaction, job)
        await regions_of(self.bot).images(job_id, place_of(interaction))
        outcome = await regions_of(self.bot).mark_text(
            actor_of(interaction), job_id, lattice, like=like, dislike=dislike, clear=clear
        )
        await interaction.response.send_message(
            _("Marked. Job #{job_id} now: {outcome}").format(job_id=job_id, outcome=describe_scores(outcome)),
            ephemeral=True,
        )
        post = await regions_of(self.bot).latest_lattice(str(interaction.channel_id))
        channel = interaction.channel
        if post.job_id == job_id and isinstance(channel, discord.abc.Messageable):
            await refresh_lattice(self.bot, channel.get_partial_message(int(post.message_id)), job_id, lattice)  # type: ignore[attr-defined]

    @regions.command(name="heatmap", description="Show the group's heatmap over a result")
    async def heatmap(self, interaction: discord.Interaction, job: int | None = None) -> None:
        job_id, lattice = await self._job_and_lattice(interaction, job)
        await regions_of(self.bot).images(job_id, place_of(interaction))
        png = await regions_of(self.bot).heatmap_png(job_id, lattice)
        await interaction.response.send_message(
            _("🗺️ What the group likes (green) and dislikes (red) in job #{job_id}").format(job_id=job_id),
            file=discord.File(io.BytesIO(png), filename=f"salon-heatmap-{job_id}.png"),
        )

    async def _round_number(self, job: Job) -> int | None:
        """Return the party round a job's grid is, for naming it as members saw it."""
        if job.spec.party is None:
            return None
        round_row = await self.bot.services.parties.get_round(job.spec.party.round_id)
        return round_row.number if round_row is not None else None

    @open.autocomplete("job")
    @mark.autocomplete("job")
    @heatmap.autocomplete("job")
    async def _job_ids(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[int]]:
        jobs = await self.bot.services.jobs.recent_in(str(interaction.channel_id))
        named = [
            (job.id, f"{grid_name(job.id, await self._round_number(job))}: {job.spec.user_prompt}") for job in jobs
        ]
        return id_choices(named, current)

    @regions.command(name="edit", description="Edit the marked parts of an image")
    @app_commands.describe(
        action="regenerate disliked, add or remove an element, embolden liked, soft (heatmap-driven), combine",
        image="Which image of the grid (1 for a single image)",
        cells="Cells to edit (add, remove) or to take (combine: 2:A1-D2 3:C3-D4)",
        prompt="regenerate: a new prompt for the part; add: the element; remove: what should be there instead",
        remove="remove: the element to take out",
        words="embolden: comma-separated words of the prompt that are good",
    )
    @app_commands.choices(action=[app_commands.Choice(name=a, value=a) for a in EDIT_ACTIONS])
    async def edit(
        self,
        interaction: discord.Interaction,
        action: str,
        image: app_commands.Range[int, 1, 9] = 1,
        cells: str = "",
        prompt: str = "",
        remove: str = "",
        words: str = "",
        job: int | None = None,
    ) -> None:
        job_id, lattice = await self._job_and_lattice(interaction, job)
        service = regions_of(self.bot)
        actor, place = actor_of(interaction), place_of(interaction)
        _unused, images = await service.images(job_id, place)
        if action == "regenerate":
            prepared = await service.regenerate_disliked(actor, place, job_id, image, lattice, prompt or None)
        elif action == "soft":
            prepared = await service.soft_regenerate(actor, place, job_id, image, lattice)
        elif action == "embolden":
            prepared = await service.embolden(actor, place, job_id, image, lattice, words.split(","))
        elif action == "combine":
            prepared = await service.combine(actor, place, job_id, lattice.parse(cells, images=len(images)), lattice)
        elif action in ("add", "remove"):
            chosen = lattice.parse(cells, images=len(images), default_image=image) if cells.strip() else []
            chosen = [cell for cell in chosen if cell.image == image]
            if action == "add":
                prepared = await service.add_element(actor, place, job_id, image, chosen, lattice, prompt)
            else:
                prepared = await service.remove_element(actor, place, job_id, image, chosen, lattice, remove, prompt)
        else:
            raise UserInputError(_("Choose an action: {edit_actions}.").format(edit_actions=", ".join(EDIT_ACTIONS)))
        await start_generation(interaction, prepared)

    @edit.autocomplete("job")
    async def _edit_job_ids(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[int]]:
        return await self._job_ids(interaction, current)

    @edit.autocomplete("image")
    async def _image_numbers(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[int]]:
        """Offer the images of the grid being edited (the job chosen, else the lattice opened last), by position."""
        service = regions_of(self.bot)
        try:
            chosen = getattr(interaction.namespace, "job", None)
            job_id = (
                int(chosen)
                if chosen is not None
                else (await service.latest_lattice(str(interaction.channel_id))).job_id
            )
            job, images = await service.images(job_id, place_of(interaction))
        except (UserInputError, ValueError):
            return []  # no grid to offer yet: the command itself says why when it is sent
        number = await self._round_number(job)
        named = ((n, f"{image_name(n, job.id, number)}: {job.spec.user_prompt}") for n in range(1, len(images) + 1))
        return id_choices(named, current)

    @regions.command(name="plan", description="Generate an image whose parts follow different prompts")
    @app_commands.describe(
        prompt="What the whole picture shows",
        plan="Cells and their prompts: A1-D2: a stormy sky; A3-D4: a calm sea",
        rows="Lattice rows (default 4)",
        cols="Lattice columns (default 4)",
    )
    async def plan(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, 1000],
        plan: app_commands.Range[str, 1, 1000],
        rows: app_commands.Range[int, 1, MAX_SIZE] = DEFAULT_SIZE,
        cols: app_commands.Range[int, 1, MAX_SIZE] = DEFAULT_SIZE,
    ) -> None:
        prepared = await regions_of(self.bot).plan(
            actor_of(interaction), place_of(interaction), ImagineOptions(prompt), plan, Lattice(rows, cols)
        )
        await start_generation(interaction, prepared)


async def mark_by_reaction(bot: SalonBot, payload: discord.RawReactionActionEvent, *, added: bool) -> bool:
    """Mark a lattice cell from a regional-indicator reaction; return whether the message was a lattice.

    A raw reaction routed by `cogs.reactions`: on a lattice it belongs to regions, and nowhere else.
    """
    service = regions_of(bot)
    post = await service.lattice_of_message(str(payload.message_id))
    if post is None:
        return False
    lattice = Lattice(post.rows, post.cols)
    cell = cell_for_indicator(str(payload.emoji), lattice)
    if cell is None:
        return True
    actor = Actor(str(payload.user_id), payload.member.display_name if payload.member else "")
    mode = "clear" if not added else await service.mode_of(actor, post.job_id)
    try:
        await service.mark(actor, post.job_id, [cell], mode, lattice)  # type: ignore[arg-type]
    except SalonError as exc:
        log.info("reaction mark refused: %s", exc)
        return True
    channel = bot.get_channel(payload.channel_id)
    if isinstance(channel, discord.abc.Messageable):
        await refresh_lattice(bot, channel.get_partial_message(payload.message_id), post.job_id, lattice)  # type: ignore[attr-defined]
    return True


async def setup(bot: SalonBot) -> None:
    """Load the cog and register its menus and buttons that survive restarts."""
    bot.add_persistent_items(CellSelect, ModeButton, RegionsButton)
    await bot.add_cog(RegionsCog(bot))
