"""What a job is, as one frozen record: the user's options, what the worker runs, where it came from.

A `JobSpec` is built once, by the prompt composer, and stored with the job row through the codec
in `bot.jobs.codec`. Everything after that (the worker's request, Info, rerolls, the gallery,
delivery) reads the typed fields; nothing reads job parameters by string key.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, Literal

JobKind = Literal["txt2img", "img2img", "inpaint"]
# (left, top, right, bottom as fractions of the image, prompt): one regional prompt.
Region = tuple[float, float, float, float, str]


class Feature(StrEnum):
    """Which feature owns a job, and so presents its result."""

    IMAGINE = "imagine"
    PARTY_ROUND = "party_round"
    REGION_EDIT = "region_edit"


class Origin(StrEnum):
    """How a job came to be: asked for fresh, or made from another job or image."""

    FRESH = "fresh"
    REROLL = "reroll"
    REMIX = "remix"
    VARIATION = "variation"
    ROUND = "round"  # a party round from the shared prompt alone
    ROUND_BASE = "round_base"  # a party round carrying the last winner forward
    INPAINT = "inpaint"  # a region edit of marked cells (regenerate, add, remove, embolden, soft)
    COMBINE = "combine"
    REGIONAL_PLAN = "regional_plan"
    INSPIRED = "inspired"  # a new prompt starting from an earlier image ("Use as inspiration")


@dataclass(frozen=True)
class ImagineOptions:
    """What a user asked for, as they gave it; None means "the default"."""

    prompt: str
    negative_prompt: str = ""
    seed: int | None = None
    count: int | None = None
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    guidance: float | None = None
    aspect: str | None = None
    style: str | None = None
    model: str | None = None
    strength: float | None = None
    # Record each image's denoising journey (an animated GIF, shown in the gallery).
    journey: bool = False

    def to_json(self) -> dict[str, Any]:
        """Return the options as JSON-safe data."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImagineOptions:
        """Return options stored by `to_json` (unknown keys from older rows are ignored)."""
        known = set(cls.__dataclass_fields__)
        return cls(**{key: value for key, value in data.items() if key in known})


@dataclass(frozen=True)
class Render:
    """What the worker runs, JSON-safe: images are named by their SHA-256, never held inline."""

    kind: JobKind
    prompt: str
    negative_prompt: str
    seeds: tuple[int, ...]
    width: int
    height: int
    steps: int
    guidance: float
    scheduler: str
    model: str
    strength: float
    init_image_sha256: str | None = None
    mask_sha256: str | None = None
    # Region edits promise that unmasked pixels stay exactly the source's (the VAE round trip drifts).
    keep_unmasked: bool = False
    journey: bool = False
    regions: tuple[Region, ...] = ()
    # Higher runs first (party rounds); the share key is whose turn it is in the fair queue.
    priority: int = 0
    share_key: str = ""


@dataclass(frozen=True)
class Lineage:
    """The job or image a generation carries further."""

    parent_job_id: int
    parent_prompt_id: int
    source_image_id: int | None = None
    # For a variation: which image of the parent (0-based) and its seed.
    source_idx: int | None = None
    source_seed: int | None = None


@dataclass(frozen=True)
class PartyRef:
    """The party round a job generates."""

    party_id: int
    round_id: int
    prompt_version: int


@dataclass(frozen=True)
class RegionEdit:
    """What a region edit did: its action, the cells it touched, the images it combined, its plan."""

    action: str  # regenerate, add-element, remove-element, embolden, soft-regenerate, combine, plan
    cells: tuple[str, ...] = ()
    combined_from: tuple[int, ...] = ()
    plan: str | None = None


@dataclass(frozen=True)
class JobSpec:
    """Everything a job is, from the request to what its result is shown with."""

    feature: Feature
    origin: Origin
    options: ImagineOptions
    user_prompt: str
    render: Render
    theme: str | None = None
    style: str | None = None
    notes: tuple[str, ...] = ()
    wildcards: tuple[str, ...] = ()
    lineage: Lineage | None = None
    party: PartyRef | None = None
    edit: RegionEdit | None = None
    # The content image a user uploaded (image-to-image), when there was one.
    content_sha256: str | None = None

    @property
    def kind(self) -> JobKind:
        """Return the pipeline kind the worker runs."""
        return self.render.kind

    @property
    def prompt(self) -> str:
        """Return the prompt the worker runs (after style, theme and wildcards)."""
        return self.render.prompt

    @property
    def action(self) -> str:
        """Return the word that says how this job was made, for people (gallery, Info)."""
        if self.edit is not None:
            return self.edit.action
        if self.origin in (Origin.ROUND, Origin.ROUND_BASE):
            return "party-round"
        return {Origin.FRESH: "imagine"}.get(self.origin, self.origin.value)

    def facts(self) -> dict[str, Any]:
        """Return the facts a file or a reader needs to know how the images were made (JSON-safe)."""
        render = self.render
        facts: dict[str, Any] = {
            "prompt": render.prompt,
            "negative_prompt": render.negative_prompt,
            "user_prompt": self.user_prompt,
            "kind": render.kind,
            "steps": render.steps,
            "scheduler": render.scheduler,
            "guidance": render.guidance,
            "width": render.width,
            "height": render.height,
            "model": render.model,
            "seeds": list(render.seeds),
            "action": self.action,
        }
        if render.kind != "txt2img":
            facts["strength"] = render.strength
        for name in ("style", "theme"):
            if getattr(self, name):
                facts[name] = getattr(self, name)
        if self.lineage is not None:
            facts["parent_job_id"] = self.lineage.parent_job_id
        if render.regions:
            facts["regions"] = [list(region) for region in render.regions]
        return facts


@dataclass(frozen=True)
class Place:
    """Where on Discord a generation was asked for: where its result is shown, and whose rules apply.

    A thread shows its own results but follows its parent channel's theme, so `rules_channel_id`
    is the parent's id there (None: the channel itself).
    """

    guild_id: str | None
    channel_id: str
    rules_channel_id: str | None = None

    @property
    def rules_channel(self) -> str:
        """Return the channel whose theme applies here."""
        return self.rules_channel_id or self.channel_id


@dataclass(frozen=True)
class PreparedGeneration:
    """A checked job spec, ready to persist and queue, and the session it belongs to."""

    spec: JobSpec
    # The session the job belongs to (a party's); None: the channel's ongoing stream.
    session_id: int | None = None

    @property
    def notes(self) -> tuple[str, ...]:
        """Return what the user should be told about this generation."""
        return self.spec.notes

    @property
    def lineage(self) -> Lineage | None:
        """Return the job or image this generation carries further, if any."""
        return self.spec.lineage

    @property
    def render(self) -> Render:
        """Return what the worker will run."""
        return self.spec.render
