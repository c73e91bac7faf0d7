"""What the pool is asked to do, what it gives back, and what it says about its own health.

Requests, results and progress cross the process boundary; health and events stay in the parent.
"""

from __future__ import annotations

import math
import signal
from dataclasses import dataclass, field
from typing import Literal

JobKind = Literal["txt2img", "img2img", "inpaint"]
JOB_KINDS: tuple[str, ...] = ("txt2img", "img2img", "inpaint")
MAX_SIDE = 2048
MAX_STEPS = 150
MAX_IMAGES = 16
MAX_REGIONS = 8


@dataclass(frozen=True)
class GenerationRequest:
    """One generation: a prompt and its parameters, one image per seed."""

    kind: JobKind
    prompt: str
    seeds: tuple[int, ...]
    width: int = 512
    height: int = 512
    steps: int = 25
    guidance: float = 7.0
    scheduler: str = "euler"
    # A registry alias; "" is the registry's default model.
    model: str = ""
    negative_prompt: str = ""
    strength: float = 0.75
    init_image: bytes | None = field(default=None, repr=False)
    mask_image: bytes | None = field(default=None, repr=False)
    # Who asked and in which session: the scheduler shares the GPU fairly between them.
    requester: str = ""
    session: str = ""
    # Higher runs first: party rounds outrank everyday channel generations.
    priority: int = 0
    # Keep a frame per step and return each image's denoising journey as an animated GIF.
    journey: bool = False
    # Regional prompts: (left, top, right, bottom as fractions of the image, prompt), text-to-image only.
    regions: tuple[tuple[float, float, float, float, str], ...] = ()

    def validate(self) -> None:
        """Raise `ValueError` with a concise reason if the request cannot be run."""
        if self.kind not in JOB_KINDS:
            raise ValueError(f"kind must be one of {', '.join(JOB_KINDS)}, not {self.kind!r}")
        if not self.seeds:
            raise ValueError("at least one seed is needed (one image per seed)")
        if len(self.seeds) > MAX_IMAGES:
            raise ValueError(f"at most {MAX_IMAGES} images per request, got {len(self.seeds)}")
        if any(not 0 <= seed < 2**64 for seed in self.seeds):
            raise ValueError("seeds must be between 0 and 2**64 - 1")
        for name, side in (("width", self.width), ("height", self.height)):
            if not 64 <= side <= MAX_SIDE or side % 8:
                raise ValueError(f"{name} must be a multiple of 8 from 64 to {MAX_SIDE}, got {side}")
        if not 1 <= self.steps <= MAX_STEPS:
            raise ValueError(f"steps must be from 1 to {MAX_STEPS}, got {self.steps}")
        if not 0.0 <= self.guidance <= 30.0:
            raise ValueError(f"guidance must be from 0 to 30, got {self.guidance}")
        if not 0.0 < self.strength <= 1.0:
            raise ValueError(f"strength must be above 0 and at most 1, got {self.strength}")
        if self.regions and self.kind != "txt2img":
            raise ValueError("regional prompts are for text-to-image")
        if len(self.regions) > MAX_REGIONS:
            raise ValueError(f"at most {MAX_REGIONS} regional prompts, got {len(self.regions)}")
        for left, top, right, bottom, text in self.regions:
            if not (0 <= left < right <= 1 and 0 <= top < bottom <= 1):
                raise ValueError(
                    f"a region is a box inside the image (fractions 0 to 1), not {(left, top, right, bottom)}"
                )
            if not text.strip():
                raise ValueError("every region needs a prompt")
        if self.kind in ("img2img", "inpaint") and int(self.steps * self.strength) < 1:
            # diffusers runs int(steps × strength) steps from the init image: zero would be no image at all.
            needed = math.ceil(1 / self.strength)
            raise ValueError(f"with strength {self.strength}, use at least {needed} steps (got {self.steps})")
        if self.kind in ("img2img", "inpaint") and self.init_image is None:
            raise ValueError(f"{self.kind} needs an init image")
        if self.kind == "inpaint" and self.mask_image is None:
            raise ValueError("inpaint needs a mask image")


@dataclass(frozen=True)
class GenerationResult:
    """The images of a finished request (PNG bytes, in seed order) and where the time went."""

    images: list[bytes]
    seeds: tuple[int, ...]
    timings: dict[str, float] = field(default_factory=dict)
    device: str = ""
    # With `journey`: one animated GIF per image (in seed order), each of its own denoising.
    journey_gifs: tuple[bytes, ...] = field(default=(), repr=False)
    # The end of the prompt that did not fit the text encoder's windows ("" when all of it fit).
    dropped_text: str = ""


@dataclass(frozen=True)
class Progress:
    """A step of a running job; `preview` is a cheap PNG of the latents every few steps."""

    job_id: str
    step: int
    total: int
    preview: bytes | None = None
    # Set while the worker loads the job's model first: its alias, and about how long (None: unknown).
    loading_model: str | None = None
    loading_seconds: float | None = None


class GenerationError(Exception):
    """A job failed inside the worker; the message says why."""


class ModelLoadError(GenerationError):
    """A model source could not be loaded; the message names the source and the cause."""


class WorkerCrashedError(GenerationError):
    """The worker process running the job died (killed, out of memory, a crash in native code)."""


class JobCancelledError(GenerationError):
    """The job was cancelled before it finished."""


class PoolClosedError(GenerationError):
    """The pool was closed before the job finished; the job was not run to the end."""


@dataclass(frozen=True)
class PoolHealth:
    """Whether the pool can generate now, and if not, why and since when."""

    ready_workers: int
    total_workers: int
    # Some worker is down and being restarted.
    restarting: bool = False
    # The restart attempt of the worker that has been down longest; 0 when none is down.
    attempt: int = 0
    # Why the last worker died or failed to load, in words; it stays after a recovery.
    last_error: str | None = None
    # time.monotonic() when generation stopped being possible; None while some worker is ready.
    down_since: float | None = None
    # The pool is loading its first models: no worker has been ready yet and none has failed.
    starting: bool = False

    @property
    def paused(self) -> bool:
        """Return whether no worker can generate (jobs wait in the queue, none is lost)."""
        return self.ready_workers == 0


PoolEventKind = Literal[
    "worker_crashed", "worker_restarting", "worker_ready", "worker_load_failed", "job_retried", "job_started"
]


@dataclass(frozen=True)
class PoolEvent:
    """Something that happened to the workers, for the bot's event log."""

    kind: PoolEventKind
    device: str
    attempt: int = 0
    error: str | None = None
    # As the OS gave it: -9 for a worker killed by SIGKILL.
    exit_code: int | None = None
    job_ids: tuple[str, ...] = ()


def describe_exit(code: int | None) -> str:
    """Return how a process ended, in words: `killed by signal 9 (SIGKILL)`, `exit code 1`."""
    if code is None:
        return "an unknown exit status"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "unknown signal"
        return f"killed by signal {-code} ({name})"
    return f"exit code {code}"
