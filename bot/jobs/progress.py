"""How a running job is shown: a progress bar, queue position and ETA, edited at a bounded rate."""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.catalogue import _
from gpu_worker import PoolHealth

MIN_EDIT_INTERVAL = 1.5  # seconds between edits of one message: Discord rate-limits message edits


class EditThrottle:
    """Say when a message may be edited again: at most once every `interval` seconds."""

    def __init__(self, interval: float = MIN_EDIT_INTERVAL, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._last: float | None = None

    def wait_time(self) -> float:
        """Return how many seconds remain before the next edit is allowed (0 when it is allowed now)."""
        if self._last is None:
            return 0.0
        return max(0.0, self._last + self.interval - self._clock())

    def ready(self) -> bool:
        """Return whether an edit is allowed now."""
        return self.wait_time() == 0.0

    def mark(self) -> None:
        """Record that the message was just edited."""
        self._last = self._clock()


def progress_bar(step: int, total: int, width: int = 20) -> str:
    """Return a text bar such as `▰▰▰▰▱▱▱▱ 50%` for step `step` of `total`."""
    total = max(1, total)
    step = min(max(0, step), total)
    filled = round(width * step / total)
    return "▰" * filled + "▱" * (width - filled) + f" {round(100 * step / total)}%"


def describe_eta(seconds: float | None) -> str:
    """Return a short human ETA: `about 12 s`, `about 3 min`, or '' when unknown."""
    if seconds is None:
        return ""
    if seconds < 90:
        return _("about {seconds} s").format(seconds=max(1, round(seconds)))
    return _("about {seconds} min").format(seconds=round(seconds / 60))


def progress_text(
    job_id: int,
    *,
    position: int | None,
    eta: float | None,
    step: int | None,
    total: int | None,
    started: bool = False,
    loading_model: str | None = None,
    loading_seconds: float | None = None,
) -> str:
    """Return the text of a job's message while it waits or runs (`started`: a worker has taken it).

    `loading_model` is the alias a worker is loading for this job (never a path); `loading_seconds`
    how long that load took last time, when known.
    """
    if loading_model:
        took = describe_eta(loading_seconds)
        about = _(", {took}").format(took=took) if took else ""
        return _("📦 Job #{job_id}: loading model {model}{about}; its steps start after that").format(
            job_id=job_id, model=loading_model, about=about
        )
    eta_text = describe_eta(eta)
    suffix = _(" · {eta} left").format(eta=eta_text) if eta_text else ""
    if (step is None or total is None) and started and not position:
        return _("🎨 Job #{job_id} is running: its first step is on the way{suffix}").format(
            job_id=job_id, suffix=suffix
        )
    if step is None or total is None:
        ahead = _(", {position} ahead of it").format(position=position) if position else ""
        return _("⏳ Job #{job_id} is queued{ahead}{suffix}").format(job_id=job_id, ahead=ahead, suffix=suffix)
    return _("🎨 Job #{job_id}: step {step}/{total} {step2}{suffix}").format(
        job_id=job_id, step=step, total=total, step2=progress_bar(step, total), suffix=suffix
    )


def paused_text(job_id: int, health: PoolHealth) -> str:
    """Return the text of a waiting job's message while no worker can generate (no ETA: nothing runs)."""
    if health.starting:
        return _(
            "⏳ Salon has just started and is loading its model. Job #{job_id} is kept and runs as soon as "
            "the model is ready."
        ).format(job_id=job_id)
    attempt = _("attempt {number}").format(number=health.attempt) if health.attempt else _("starting")
    error = _("; last error: {last_error}").format(last_error=health.last_error[:200]) if health.last_error else ""
    return _(
        "⏸️ Generation is paused: the GPU worker is restarting ({attempt}{error}). Job "
        "#{job_id} is kept and will run as soon as it is back."
    ).format(attempt=attempt, error=error, job_id=job_id)


def health_line(health: PoolHealth) -> str:
    """Return one line on whether Salon can generate now, for `/queue`."""
    if health.starting:
        return _("⏳ Salon has just started and is loading its model; jobs are kept and run when it is ready.")
    if health.paused:
        attempt = _(", attempt {number}").format(number=health.attempt) if health.attempt else ""
        error = _(" Last error: {last_error}").format(last_error=health.last_error[:200]) if health.last_error else ""
        return _(
            "⏸️ Generation is paused: the GPU worker is restarting{attempt}. Jobs are kept "
            "and run when it is back.{error}"
        ).format(attempt=attempt, error=error)
    if health.restarting:
        return _("🟡 {ready_workers} of {total_workers} GPU workers are up; the others are restarting.").format(
            ready_workers=health.ready_workers, total_workers=health.total_workers
        )
    return _("🟢 Generating: {ready_workers} GPU worker{value} up.").format(
        ready_workers=health.ready_workers, value="s" if health.ready_workers != 1 else ""
    )
