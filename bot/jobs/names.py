"""How members call a grid and its images, the same way in every message, menu and summary.

An image is named by its place in the grid members saw ("image 3"), never by a store id; a party
round's grid is its round ("round 2, image 3"), any other grid its job ("image 3 of job #17").
"""

from __future__ import annotations

from bot.catalogue import N_, _
from bot.store.jobs import JobState


def grid_name(job_id: int, round_number: int | None = None) -> str:
    """Return what members call a grid: "round 2" for a party round's, "job #17" for any other."""
    if round_number is not None:
        return _("round {number}").format(number=round_number)
    return _("job #{job_id}").format(job_id=job_id)


def image_name(position: int, job_id: int, round_number: int | None = None) -> str:
    """Return what members call image `position` (1-based) of a grid: "round 2, image 3" or "image 3 of job #17"."""
    if round_number is not None:
        return _("round {number}, image {n}").format(number=round_number, n=position)
    return _("image {n} of job #{job_id}").format(n=position, job_id=job_id)


STATE_NAMES = {
    JobState.QUEUED: N_("queued"),
    JobState.RUNNING: N_("running"),
    JobState.GENERATED: N_("generated"),
    JobState.DELIVERED: N_("delivered"),
    JobState.FAILED: N_("failed"),
    JobState.CANCELLED: N_("cancelled"),
}


def state_name(state: JobState) -> str:
    """Return a job's state as members read it."""
    return _(STATE_NAMES[state])
