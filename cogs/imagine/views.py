"""Buttons and modals under Salon's results, usable by everyone in the channel.

Every button is a `DynamicItem`: its state (job id, image number) lives in its custom_id, so it
keeps working after a restart. Callbacks parse the click, call the generation service and render
the reply; errors become ephemeral messages through `report_error`.
"""

from __future__ import annotations

import io

import discord

from bot.catalogue import N_, _
from bot.errors import UserInputError
from bot.imagine.composer import MAX_PROMPT_CHARS
from bot.store.images import ImageRecord
from bot.store.jobs import Job
from cogs.kit.components import NUMBER, POSITION, ComponentRegistry, SalonItem, guarded
from cogs.kit.delivery import start_generation
from cogs.kit.places import actor_of, may_moderate, place_of, services_of

MAX_BUTTON_IMAGES = 9


def remix_form_id(job_id: int) -> str:
    """Return the custom_id of the remix form of a job (recognised after a restart, to say it expired)."""
    return f"salon:remixform:{job_id}"


class PickButton(
    SalonItem[discord.ui.Button], key="u", parts={"job_id": NUMBER, "idx": POSITION}, where=N_("the U button")
):
    """U1..Un: post one image of the grid at full size."""

    def __init__(self, job_id: int, idx: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=f"U{idx + 1}", style=discord.ButtonStyle.secondary, custom_id=self.make_id(job_id, idx)
            )
        )
        self.job_id, self.idx = job_id, idx

    async def act(self, interaction: discord.Interaction) -> None:
        service = services_of(interaction.client).jobs
        job, image, png = await services_of(interaction.client).imagine.pick(
            actor_of(interaction), place_of(interaction), self.job_id, self.idx
        )
        file = discord.File(io.BytesIO(png), filename=f"salon-{job.id}-{self.idx + 1}.png")
        view = discord.ui.View(timeout=None)
        view.add_item(VaryButton(job.id, self.idx))
        view.add_item(JobInfoButton(job.id))
        text = _("Image {idx} of job #{id} (seed `{seed}`), picked by {mention} — {width}×{height}").format(
            idx=self.idx + 1,
            id=job.id,
            seed=image.seed,
            mention=interaction.user.mention,
            width=image.width,
            height=image.height,
        )
        await interaction.response.send_message(
            text, file=file, view=view, allowed_mentions=discord.AllowedMentions.none()
        )
        message = await interaction.original_response()
        await service.record_post(job.id, str(message.id), str(interaction.channel_id), "image", image.id)


class VaryButton(
    SalonItem[discord.ui.Button], key="v", parts={"job_id": NUMBER, "idx": POSITION}, where=N_("the V button")
):
    """V1..Vn: new seeds around the chosen image (image-to-image at low strength)."""

    def __init__(self, job_id: int, idx: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=f"V{idx + 1}", style=discord.ButtonStyle.secondary, custom_id=self.make_id(job_id, idx)
            )
        )
        self.job_id, self.idx = job_id, idx

    async def act(self, interaction: discord.Interaction) -> None:
        prepared = await services_of(interaction.client).imagine.vary(
            actor_of(interaction), place_of(interaction), self.job_id, self.idx
        )
        await start_generation(interaction, prepared)


class RerollButton(SalonItem[discord.ui.Button], key="reroll", parts={"job_id": NUMBER}, where=N_("the reroll button")):
    """🔁: the same prompt and options with new seeds."""

    def __init__(self, job_id: int) -> None:
        super().__init__(
            discord.ui.Button(emoji="🔁", style=discord.ButtonStyle.secondary, custom_id=self.make_id(job_id))
        )
        self.job_id = job_id

    async def act(self, interaction: discord.Interaction) -> None:
        prepared = await services_of(interaction.client).imagine.reroll(
            actor_of(interaction), place_of(interaction), self.job_id
        )
        await start_generation(interaction, prepared)


class RemixModal(discord.ui.Modal):
    """Edit the prompt and negative prompt of a job, then generate with new seeds."""

    def __init__(self, job: Job, registry: ComponentRegistry, user_id: int) -> None:
        super().__init__(title=_("Remix job #{id}").format(id=job.id), timeout=15 * 60, custom_id=remix_form_id(job.id))
        self.job_id = job.id
        # The open form is remembered so its submission is not taken for a stale one; forgotten
        # when it is submitted or times out.
        self.registry, self.user_id = registry, user_id
        self.custom_id = remix_form_id(job.id)
        options = job.spec.options
        self.prompt = discord.ui.TextInput(
            label=_("Prompt"),
            style=discord.TextStyle.paragraph,
            default=options.prompt[:MAX_PROMPT_CHARS],
            max_length=MAX_PROMPT_CHARS,
        )
        self.negative = discord.ui.TextInput(
            label=_("Negative prompt"),
            style=discord.TextStyle.paragraph,
            required=False,
            default=options.negative_prompt[:MAX_PROMPT_CHARS] or None,
            max_length=MAX_PROMPT_CHARS,
        )
        self.add_item(self.prompt)
        self.add_item(self.negative)

    async def on_timeout(self) -> None:
        self.registry.form_closed(self.user_id, self.custom_id)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        self.registry.form_closed(self.user_id, self.custom_id)

        async def remix() -> None:
            prepared = await services_of(interaction.client).imagine.reroll(
                actor_of(interaction),
                place_of(interaction),
                self.job_id,
                prompt=self.prompt.value,
                negative_prompt=self.negative.value or "",
            )
            await start_generation(interaction, prepared)

        await guarded(interaction, _("the remix form"), remix)


class RemixButton(SalonItem[discord.ui.Button], key="remix", parts={"job_id": NUMBER}, where=N_("the remix button")):
    """🎛️ Remix: open a form with the prompt and negative prompt to edit before rerolling."""

    def __init__(self, job_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=_("Remix"), emoji="🎛️", style=discord.ButtonStyle.secondary, custom_id=self.make_id(job_id)
            )
        )
        self.job_id = job_id

    async def act(self, interaction: discord.Interaction) -> None:
        job = await services_of(interaction.client).jobs.job_at(self.job_id, place_of(interaction))
        await open_form(interaction, RemixModal(job, interaction.client.components, interaction.user.id))  # type: ignore[attr-defined]


async def open_form(interaction: discord.Interaction, form: RemixModal | InspirationModal) -> None:
    """Show a form, remembering it so its submission is not taken for a stale one."""
    registry: ComponentRegistry = interaction.client.components  # type: ignore[attr-defined]
    registry.form_opened(interaction.user.id, form.custom_id)
    await interaction.response.send_modal(form)


def inspiration_form_id(job_id: int) -> str:
    """Return the custom_id of the "Use as inspiration" form of a job."""
    return f"salon:inspireform:{job_id}"


class InspirationModal(discord.ui.Modal):
    """Use as inspiration: a new prompt that starts from one image of a result (image-to-image)."""

    def __init__(self, job: Job, registry: ComponentRegistry, user_id: int, idx: int | None, count: int) -> None:
        super().__init__(
            title=_("New image from job #{id}").format(id=job.id),
            timeout=15 * 60,
            custom_id=inspiration_form_id(job.id),
        )
        self.job_id, self.registry, self.user_id, self.idx, self.count = job.id, registry, user_id, idx, count
        self.prompt = discord.ui.TextInput(
            label=_("What should the new image show?"), style=discord.TextStyle.paragraph, max_length=MAX_PROMPT_CHARS
        )
        self.add_item(self.prompt)
        self.number: discord.ui.TextInput[InspirationModal] | None = None
        if idx is None and count > 1:
            self.number = discord.ui.TextInput(
                label=_("Which image of the grid (1 to {count})").format(count=count), max_length=2
            )
            self.add_item(self.number)

    async def on_timeout(self) -> None:
        self.registry.form_closed(self.user_id, self.custom_id)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        self.registry.form_closed(self.user_id, self.custom_id)

        async def inspire() -> None:
            idx = self.idx if self.idx is not None else 0
            if self.number is not None:
                typed = self.number.value.strip()
                if not typed.isdigit() or not 1 <= int(typed) <= self.count:
                    raise UserInputError(_("Choose an image from 1 to {count}, such as `2`.").format(count=self.count))
                idx = int(typed) - 1
            prepared = await services_of(interaction.client).imagine.inspired_by(
                actor_of(interaction), place_of(interaction), self.job_id, idx, self.prompt.value
            )
            await start_generation(interaction, prepared)

        await guarded(interaction, _("the inspiration form"), inspire)


async def remix_message(interaction: discord.Interaction, message: discord.Message) -> None:
    """The "Remix this" message command: the remix form of the result a message shows."""
    job, _unused = await services_of(interaction.client).jobs.job_of_message(str(message.id), place_of(interaction))
    await open_form(interaction, RemixModal(job, interaction.client.components, interaction.user.id))  # type: ignore[attr-defined]


async def inspire_from_message(interaction: discord.Interaction, message: discord.Message) -> None:
    """The "Use as inspiration" message command: a new prompt from an image the message shows."""
    jobs = services_of(interaction.client).jobs
    job, idx = await jobs.job_of_message(str(message.id), place_of(interaction))
    _unused, images = await jobs.job_with_images(job.id, place_of(interaction))
    registry: ComponentRegistry = interaction.client.components  # type: ignore[attr-defined]
    await open_form(interaction, InspirationModal(job, registry, interaction.user.id, idx, len(images)))


class JobInfoButton(SalonItem[discord.ui.Button], key="info", parts={"job_id": NUMBER}, where=N_("the info button")):
    """ℹ️ Info: every parameter, the seed of each image and a command that reproduces the grid."""

    def __init__(self, job_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=_("Info"), emoji="ℹ️", style=discord.ButtonStyle.secondary, custom_id=self.make_id(job_id)
            )
        )
        self.job_id = job_id

    async def act(self, interaction: discord.Interaction) -> None:
        from cogs.imagine.presenter import describe_info  # see start_generation: job_display imports us

        job, images = await services_of(interaction.client).jobs.job_with_images(self.job_id, place_of(interaction))
        await interaction.response.send_message(
            describe_info(job, images), ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )


class DeleteButton(SalonItem[discord.ui.Button], key="delete", parts={"job_id": NUMBER}, where=N_("the delete button")):
    """🗑️ Delete: the requester or a moderator removes the grid (its history stays in the store)."""

    def __init__(self, job_id: int) -> None:
        super().__init__(discord.ui.Button(emoji="🗑️", style=discord.ButtonStyle.danger, custom_id=self.make_id(job_id)))
        self.job_id = job_id

    async def act(self, interaction: discord.Interaction) -> None:
        service = services_of(interaction.client).jobs
        await service.delete(
            actor_of(interaction), place_of(interaction), self.job_id, may_moderate=may_moderate(interaction)
        )
        await interaction.response.send_message(_("Job #{job_id} deleted.").format(job_id=self.job_id), ephemeral=True)
        if interaction.message is not None:
            await interaction.message.delete()


class CancelButton(SalonItem[discord.ui.Button], key="cancel", parts={"job_id": NUMBER}, where=N_("the cancel button")):
    """✖️ Cancel, under a running job: the requester or a moderator stops it within a step."""

    def __init__(self, job_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=_("Cancel"), emoji="✖️", style=discord.ButtonStyle.danger, custom_id=self.make_id(job_id)
            )
        )
        self.job_id = job_id

    async def act(self, interaction: discord.Interaction) -> None:
        service = services_of(interaction.client).jobs
        stopped = await service.cancel(
            actor_of(interaction), place_of(interaction), self.job_id, may_moderate=may_moderate(interaction)
        )
        text = (
            _("Stopping job #{job_id}…").format(job_id=self.job_id)
            if stopped
            else _("Job #{job_id} has already ended.").format(job_id=self.job_id)
        )
        await interaction.response.send_message(text, ephemeral=True)


PERSISTENT_ITEMS = (PickButton, VaryButton, RerollButton, RemixButton, JobInfoButton, DeleteButton, CancelButton)


def result_view(job: Job, images: list[ImageRecord]) -> discord.ui.View:
    """Return the buttons under a grid: U and V per image (up to 9), then reroll, remix, info, delete."""
    view = discord.ui.View(timeout=None)
    shown = images[:MAX_BUTTON_IMAGES]
    # Rows of at most 5: U buttons, then V buttons, then the actions (Discord allows 5 rows).
    per_row = 5 if len(shown) > 4 else len(shown)
    row = 0
    for make in (PickButton, VaryButton):
        for start in range(0, len(shown), per_row or 1):
            for image in shown[start : start + per_row]:
                item = make(job.id, image.idx)
                item.row = row
                view.add_item(item)
            row += 1
    for item in (RerollButton(job.id), RemixButton(job.id), JobInfoButton(job.id), DeleteButton(job.id)):
        item.row = min(row, 4)
        view.add_item(item)
    # 🔲 Regions opens the result for marking; cogs.regions.commands registers the DynamicItem for this id.
    view.add_item(
        discord.ui.Button(
            label=_("Regions"),
            emoji="🔲",
            style=discord.ButtonStyle.secondary,
            custom_id=f"salon:regions:{job.id}",
            row=min(row, 4),
        )
    )
    return view


def progress_view(job_id: int) -> discord.ui.View:
    """Return the buttons under a job that is queued or running: cancel."""
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(job_id))
    return view
