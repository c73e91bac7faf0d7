"""Who runs next: a fair queue that takes turns across sessions and requesters, and forms batches.

Order of service: higher `priority` first (party rounds); within a priority, sessions (one party,
one channel) take turns; within a session, requesters take turns; each requester's own jobs run in
the order they were asked for. So one person queueing fifty prompts delays everyone else by at
most one batch, and one busy channel cannot starve a party.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, Protocol, TypeVar

from gpu_worker.requests import GenerationRequest


class Queued(Protocol):
    """What the queue needs of a job."""

    job_id: str
    request: GenerationRequest


def batch_key(request: GenerationRequest) -> Hashable:
    """Return what jobs must share to run in one batch (model, kind, size, steps, scheduler, guidance).

    Image-to-image and inpainting carry per-job images, so each of them forms its own batch.
    """
    if request.kind != "txt2img":
        return (request.kind, id(request))
    return (
        request.model,
        request.kind,
        request.width,
        request.height,
        request.steps,
        request.scheduler,
        request.guidance,
        request.regions,
    )


T = TypeVar("T", bound=Queued)


class FairQueue(Generic[T]):
    """Return jobs in fair order: priorities, then the least recently served session, then requester.

    "Least recently served" outlives an empty line: someone whose job just ran waits behind
    someone who has not been served yet, even if the first had nothing else queued at the time.
    """

    def __init__(self) -> None:
        # priority -> session -> requester -> jobs (dicts keep arrival order for ties)
        self._tiers: dict[int, dict[str, dict[str, deque[T]]]] = {}
        self._served_session: dict[str, int] = {}
        self._served_requester: dict[str, int] = {}
        self._tick = 0
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def push(self, job: T, *, front: bool = False) -> None:
        """Queue a job; `front` puts it first in its requester's line (a retry keeps its place)."""
        request = job.request
        sessions = self._tiers.setdefault(request.priority, {})
        requesters = sessions.setdefault(request.session, {})
        line = requesters.setdefault(request.requester, deque())
        (line.appendleft if front else line.append)(job)
        self._count += 1

    def order(self) -> list[T]:
        """Return every waiting job in the order they would be served (nothing is removed)."""
        return list(self._simulate())

    def position(self, job_id: str) -> int | None:
        """Return how many waiting jobs would be served before this one, or None if it is not waiting."""
        for index, job in enumerate(self._simulate()):
            if job.job_id == job_id:
                return index
        return None

    def pop_batch(self, max_images: int, key: Callable[[GenerationRequest], Hashable] = batch_key) -> list[T]:
        """Return the next job and as many compatible jobs, in fair order, as fit in `max_images`."""
        first = self._pop_next()
        if first is None:
            return []
        batch = [first]
        images = len(first.request.seeds)
        wanted = key(first.request)
        for job in self.order():
            if images >= max_images:
                break
            if key(job.request) == wanted and images + len(job.request.seeds) <= max_images:
                self._take(job, served=True)
                batch.append(job)
                images += len(job.request.seeds)
        return batch

    def remove(self, job_id: str) -> T | None:
        """Return and remove a waiting job, or None."""
        for job in self._all():
            if job.job_id == job_id:
                self._take(job, served=False)
                return job
        return None

    def drain(self) -> list[T]:
        """Return and remove every waiting job."""
        jobs = self.order()
        self._tiers.clear()
        self._count = 0
        return jobs

    def _all(self) -> Iterator[T]:
        for sessions in self._tiers.values():
            for requesters in sessions.values():
                for line in requesters.values():
                    yield from line

    def _pop_next(self) -> T | None:
        if not self._tiers:
            return None
        sessions = self._tiers[max(self._tiers)]
        session = min(sessions, key=lambda name: self._served_session.get(name, -1))
        requesters = sessions[session]
        requester = min(requesters, key=lambda name: self._served_requester.get(name, -1))
        job = requesters[requester][0]
        self._take(job, served=True)
        return job

    def _take(self, job: T, *, served: bool) -> None:
        """Remove `job`; when it is being `served`, its session and requester go to the back of the turns."""
        request = job.request
        sessions = self._tiers[request.priority]
        requesters = sessions[request.session]
        line = requesters[request.requester]
        line.remove(job)
        self._count -= 1
        if served:
            self._tick += 1
            self._served_session[request.session] = self._tick
            self._served_requester[request.requester] = self._tick
        if not line:
            del requesters[request.requester]
        if not requesters:
            del sessions[request.session]
        if not sessions:
            del self._tiers[request.priority]

    def _simulate(self) -> Iterator[T]:
        """Yield jobs in service order by replaying the turn-taking on a copy."""
        clone: FairQueue[T] = FairQueue()
        clone._tiers = {
            priority: {
                session: {requester: deque(line) for requester, line in requesters.items()}
                for session, requesters in sessions.items()
            }
            for priority, sessions in self._tiers.items()
        }
        clone._served_session = dict(self._served_session)
        clone._served_requester = dict(self._served_requester)
        clone._tick = self._tick
        clone._count = self._count
        while (job := clone._pop_next()) is not None:
            yield job
