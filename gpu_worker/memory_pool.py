"""An in-memory `GenerationPool` for tests: the real pool's behaviour without a worker process or torch.

Service tests and most end-to-end tests of the bot need a pool that queues, schedules, reports
progress, cancels, fails and recovers exactly as `ProcessPool` does from the caller's side, but
that starts in no time and never depends on the clock. `MemoryPool` is that pool:

- It keeps the real `JobHandle`s and the real `FairQueue`, fed the same way (priority, then
  sessions, then requesters take turns; compatible jobs share a batch up to `batch_size` images),
  so order, positions and handle states are the production ones.
- Each of its `slots` plays one worker process. A batch advances one step per event-loop turn
  (`asyncio.sleep(0)`): no real sleeps, so a test is as fast as the loop and never flaky.
- Images are drawn from a hash of what defines them, so equal requests give byte-identical PNGs.
- Tests steer it: `hold`/`release` stop and resume starts (and, if asked, steps), `fail_jobs` makes
  chosen jobs fail, and `crash`/`fail_restart`/`recover` play a worker outage with the same health
  figures and `PoolEvent`s as the real pool's self-healing.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import io
import logging
import time
from collections.abc import Hashable
from dataclasses import dataclass, field

from PIL import Image, ImageDraw

from gpu_worker.grid import make_grid
from gpu_worker.pool import HandleState, JobHandle, PoolListener, estimate_eta
from gpu_worker.previews import fit_journey_frame, journey_gif
from gpu_worker.requests import (
    GenerationError,
    GenerationRequest,
    GenerationResult,
    JobCancelledError,
    PoolClosedError,
    PoolEvent,
    PoolHealth,
    Progress,
    WorkerCrashedError,
    describe_exit,
)
from gpu_worker.scheduling import FairQueue, batch_key

log = logging.getLogger(__name__)

# The grey a journey starts from: a fixed colour, not noise, so journeys are deterministic too.
_START_GREY = (128, 128, 128)
# Latents are an eighth of the image a side; previews and journey frames start from that size, as in the worker.
_LATENT_SCALE = 8


@dataclass
class _Slot:
    """One pretend worker: its device name, whether it is up, and the batch it runs."""

    device: str
    ready: bool = False
    batch: list[JobHandle] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


@dataclass
class _Outage:
    """A slot that is down: since when, and which restart attempt is under way (as `ProcessPool` counts)."""

    since: float
    attempt: int = 1


@dataclass
class _Failure:
    """A failure asked for by a test: which jobs it hits, how many more, and after how many steps."""

    error: Exception
    remaining: int | None
    prompt_contains: str | None
    after_steps: int

    def matches(self, request: GenerationRequest) -> bool:
        return self.prompt_contains is None or self.prompt_contains in request.prompt


@dataclass
class _Render:
    """A job's final images, drawn once when it starts; previews and journeys fade in towards them."""

    finals: list[Image.Image]
    journeys: list[list[Image.Image]] = field(default_factory=list)


class MemoryPool:
    """A `GenerationPool` that runs jobs in the event loop, `slots` batches at a time, with drawn images.

    `slots` is how many pretend workers run side by side (like devices of a `ProcessPool`), and
    `batch_size` how many images of compatible jobs each one takes at once, as in the real pool;
    the default of one image per batch makes every job a batch of its own. `step_seconds` is the
    pretend time of a step: results report it as their per-step timing, which is what `eta` learns from.
    """

    def __init__(
        self,
        slots: int = 1,
        *,
        batch_size: int = 1,
        preview_every: int = 5,
        max_attempts: int = 2,
        step_seconds: float = 0.1,
        start_error: Exception | None = None,
        start_gate: asyncio.Event | None = None,
    ) -> None:
        if slots < 1:
            raise ValueError("a pool needs at least one slot")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if preview_every < 0:
            raise ValueError("preview_every must be 0 (no previews) or more")
        if step_seconds <= 0:
            raise ValueError("step_seconds must be above 0")
        # One slot is plainly "memory", the device every result names; several are told apart like cuda:0, cuda:1.
        self.devices = ["memory"] if slots == 1 else [f"memory:{index}" for index in range(slots)]
        self.batch_size = batch_size
        self.preview_every = preview_every
        self.max_attempts = max_attempts
        self.step_seconds = step_seconds
        # Raised (a fresh copy) by every start() while set: a model that does not load.
        self.start_error = start_error
        # While set and not yet released, start() waits on it: a model that takes a while to load.
        self.start_gate = start_gate
        # Every request accepted by submit(), in order, so tests can assert what the bot asked for.
        self.submitted: list[GenerationRequest] = []
        # Every handle ever accepted, by job id, so a test can watch a job the bot submitted.
        self.jobs: dict[str, JobHandle] = {}
        # As in ProcessPool: smoothed seconds per step, None until the first job has finished.
        self.seconds_per_step: float | None = None
        self._slots = [_Slot(device) for device in self.devices]
        self._queue: FairQueue[JobHandle] = FairQueue()
        self._handles: dict[str, JobHandle] = {}
        self._started = False
        self._closed = False
        self._draining = False
        self._settled: asyncio.Future[None] | None = None
        self._outages: dict[int, _Outage] = {}
        self._listeners: list[PoolListener] = []
        self._last_error: str | None = None
        self._down_since: float | None = None
        self._failures: list[_Failure] = []
        # The failure each running job drew when it started: (steps it completes first, the error).
        self._failing: dict[str, tuple[int, Exception]] = {}
        self._held = False
        self._freeze_after: int | None = None  # see freeze_after
        # Cleared by hold(running=True): running batches wait before their next step.
        self._steps_open = asyncio.Event()
        self._steps_open.set()
        self._idle_waiters: list[asyncio.Future[None]] = []

    # The GenerationPool protocol.

    async def start(self) -> None:
        """Bring every slot up and start queued jobs; raise a copy of `start_error` if one is set."""
        if self.start_gate is not None:
            await self.start_gate.wait()
        if self.start_error is not None:
            # As ProcessPool: a failed start says why in health() and leaves every worker down.
            self._last_error = str(self.start_error)
            raise copy.copy(self.start_error)
        if self._started or self._closed:
            return
        self._started = True
        for slot in self._slots:
            slot.ready = True
            self._emit(PoolEvent("worker_ready", slot.device))
        self._dispatch()

    async def submit(self, job_id: str, request: GenerationRequest) -> JobHandle:
        """Queue a job and return its handle; raise `ValueError` for a bad request.

        Jobs are accepted before start() and during an outage: they wait in the queue.
        """
        if self._closed or self._draining:
            raise PoolClosedError("the generation pool is closed")
        request.validate()
        if job_id in self._handles:
            raise ValueError(f"job {job_id} is already in the pool")
        handle = JobHandle(job_id, request, self)
        self._handles[job_id] = handle
        self.jobs[job_id] = handle
        self.submitted.append(request)
        self._queue.push(handle)
        self._dispatch()
        return handle

    def position(self, job_id: str) -> int | None:
        """Return how many queued jobs will be served before this one, or None if it is not queued."""
        return self._queue.position(job_id)

    def queue_length(self) -> int:
        """Return how many jobs are waiting."""
        return len(self._queue)

    def eta(self, job_id: str) -> float | None:
        """Return the estimated seconds until a job finishes, by the same sum as `ProcessPool.eta`.

        None exactly where the real pool gives none: before the first job has finished (no measured
        step time yet), for a job not in the pool, and while no slot is ready.
        """
        handle = self._handles.get(job_id)
        workers = sum(1 for slot in self._slots if slot.ready)
        running = [slot.batch for slot in self._slots if slot.batch]
        return estimate_eta(handle, self._queue.order(), running, self.seconds_per_step, workers)

    def health(self) -> PoolHealth:
        """Return whether slots are ready, restarting, and why the last one went down."""
        ready = sum(1 for slot in self._slots if slot.ready)
        longest = min(self._outages.values(), key=lambda outage: outage.since, default=None)
        return PoolHealth(
            ready_workers=ready,
            total_workers=len(self._slots),
            restarting=bool(self._outages),
            attempt=longest.attempt if longest else 0,
            last_error=self._last_error,
            down_since=None if ready else self._down_since,
            starting=not self._started and self._last_error is None and not self._closed,
        )

    def add_listener(self, listener: PoolListener) -> None:
        """Call `listener(event)` on the event loop for every `PoolEvent`; one that raises is logged."""
        self._listeners.append(listener)

    def remove_listener(self, listener: PoolListener) -> None:
        """Stop calling a listener added with `add_listener`."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    async def close(self, drain: bool = False) -> None:
        """Stop the slots; queued and running jobs end with `PoolClosedError`, as in `ProcessPool.close`.

        With `drain`, new jobs are refused at once but every submitted job runs to its end first;
        that waits for a `recover()` during an outage and for a `release()` while held.
        """
        if self._closed:
            return
        if drain and self._handles:
            self._draining = True
            if self._settled is None or self._settled.done():
                self._settled = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._settled)
            if self._closed:  # another close() finished while this one waited
                return
        self._closed = True
        for handle in self._queue.drain():
            self._end(handle, "cancelled", error=PoolClosedError("the generation pool closed before the job ran"))
        tasks: list[asyncio.Task[None]] = []
        for slot in self._slots:
            for handle in slot.batch:
                self._end(handle, "cancelled", error=PoolClosedError("the generation pool closed mid-job"))
            tasks.extend(self._stop_slot(slot))
            slot.ready = False  # as ProcessPool's stopped workers: a closed pool reports none ready
        self._outages.clear()
        self._steps_open.set()  # a frozen step must not keep a cancelled runner waiting
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._check_idle()

    # What JobHandle.cancel() calls.

    def cancel(self, job_id: str) -> None:
        """Cancel a job: a queued one ends at once; a running one too, and its slot stops at its next step."""
        handle = self._queue.remove(job_id)
        if handle is not None:
            self._end(handle, "cancelled", error=JobCancelledError(f"job {job_id} was cancelled"))
            self._check_idle()
            return
        for slot in self._slots:
            for running in slot.batch:
                if running.job_id == job_id and not running.done:
                    # As in ProcessPool: batch companions go on; this job ends now and its images are dropped.
                    self._end(running, "cancelled", error=JobCancelledError(f"job {job_id} was cancelled"))

    # Test controls.

    def hold(self, *, running: bool = False) -> None:
        """Start no job until `release()`, so queue positions stay put; with `running`, freeze running jobs too.

        A frozen job waits before its next step: a test can look at it mid-run, or cancel it there.
        """
        self._held = True
        if running:
            self._steps_open.clear()
        self._check_idle()

    def freeze_after(self, steps: int) -> None:
        """Let jobs start and take `steps` steps each, then wait before the next one until `release()`.

        A test sees a job running with its progress shown, and acts on it there (cancel, shutdown,
        `/queue`) without racing its end.
        """
        if steps < 0:
            raise ValueError("steps must be 0 or more")
        self._freeze_after = steps
        self._steps_open.clear()

    def release(self) -> None:
        """Undo `hold` and `freeze_after`: running jobs step on and queued jobs start."""
        self._held = False
        self._freeze_after = None
        self._steps_open.set()
        self._dispatch()

    def fail_jobs(
        self,
        error: Exception,
        *,
        count: int | None = 1,
        prompt_contains: str | None = None,
        after_steps: int = 0,
    ) -> None:
        """Make the next `count` jobs to start (None: all of them) fail with a copy of `error`.

        `prompt_contains` limits it to jobs whose prompt holds that text; `after_steps` lets a job
        report that many steps first. A job ends "cancelled" for `JobCancelledError` and
        `PoolClosedError`, "failed" for anything else. Only the matching job fails, not its batch
        companions; `crash()` plays the whole story of a dying worker instead.
        """
        if count is not None and count < 1:
            raise ValueError("count must be at least 1, or None for every job")
        if after_steps < 0:
            raise ValueError("after_steps must be 0 or more")
        self._failures.append(_Failure(error, count, prompt_contains, after_steps))

    def clear_failures(self) -> None:
        """Forget every failure asked for by `fail_jobs` that has not hit a job yet."""
        self._failures.clear()

    def crash(self, device: str | None = None, *, exit_code: int | None = -9, error: str | None = None) -> None:
        """Kill a ready slot (or every one), as a worker process dying: `ProcessPool`'s events and retries.

        Emits `worker_crashed` with the jobs it was running; each of them goes back to the front of
        its line (`job_retried`) or, once in `max_attempts` crashed batches, fails with
        `WorkerCrashedError`. The slot then stays down, restart attempt 1 under way
        (`worker_restarting`), until `recover()`; `fail_restart()` fails that attempt.
        """
        if self._closed:
            return
        for index in self._slot_indexes(device):
            slot = self._slots[index]
            if not slot.ready:
                continue
            slot.ready = False
            how = describe_exit(exit_code)
            message = error or f"the worker on {slot.device} died: {how}"
            self._last_error = message
            if self._down_since is None and not any(other.ready for other in self._slots):
                self._down_since = time.monotonic()
            batch = [handle for handle in slot.batch if not handle.done]
            for task in self._stop_slot(slot):
                task.cancel()
            self._emit(
                PoolEvent(
                    "worker_crashed",
                    slot.device,
                    error=message,
                    exit_code=exit_code,
                    job_ids=tuple(handle.job_id for handle in batch),
                )
            )
            self._retry_or_fail(slot, batch, message, exit_code, how)
            self._outages[index] = _Outage(since=time.monotonic())
            self._emit(PoolEvent("worker_restarting", slot.device, attempt=1, error=self._last_error))
        self._dispatch()  # another slot may take the retried jobs at once

    def fail_restart(self, error: str, device: str | None = None, *, exit_code: int | None = None) -> None:
        """Fail the restart attempt under way on a down slot (or every one): the next attempt begins.

        Emits `worker_load_failed` for this attempt, then `worker_restarting` for the next, as
        `ProcessPool` does when a fresh worker cannot load its model.
        """
        for index in self._slot_indexes(device):
            outage = self._outages.get(index)
            if outage is None:
                continue
            device_name = self._slots[index].device
            self._last_error = error
            self._emit(
                PoolEvent("worker_load_failed", device_name, attempt=outage.attempt, error=error, exit_code=exit_code)
            )
            outage.attempt += 1
            self._emit(PoolEvent("worker_restarting", device_name, attempt=outage.attempt, error=self._last_error))

    def recover(self, device: str | None = None) -> None:
        """End the outage of a down slot (or every one): `worker_ready`, and waiting jobs start."""
        if self._closed:
            return
        for index in self._slot_indexes(device):
            outage = self._outages.pop(index, None)
            if outage is None:
                continue
            slot = self._slots[index]
            slot.ready = True
            # As ProcessPool: last_error stays, to say what happened; generation is possible again.
            self._down_since = None
            self._emit(PoolEvent("worker_ready", slot.device, attempt=outage.attempt))
        self._dispatch()

    async def wait_idle(self) -> None:
        """Return once nothing more happens without a call from the test.

        That is: no job is stepping (a frozen one does not count) and no queued job can start
        (the queue is empty, or held, closed, not started, or every slot is down).
        """
        while not self._is_idle():
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._idle_waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._idle_waiters:
                    self._idle_waiters.remove(waiter)

    # Scheduling, as ProcessPool does it.

    def _dispatch(self) -> None:
        if self._closed or not self._started or self._held:
            self._check_idle()
            return
        # As ProcessPool: a job that was in a crashed batch runs alone from then on.
        alone = {id(handle.request) for handle in self._handles.values() if handle.crashes}

        def key(request: GenerationRequest) -> Hashable:
            return object() if id(request) in alone else batch_key(request)

        loop = asyncio.get_running_loop()
        for slot in self._slots:
            if not slot.ready or slot.batch:
                continue
            batch = self._queue.pop_batch(self.batch_size, key=key)
            if not batch:
                break
            for handle in batch:
                handle.state = "running"
                handle.attempts += 1
                handle.started.set()
                self._draw_failure(handle)
            slot.batch = batch
            slot.task = loop.create_task(self._run(slot, batch), name=f"memory-pool-{slot.device}")
            self._emit(PoolEvent("job_started", slot.device, job_ids=tuple(handle.job_id for handle in batch)))
        self._check_idle()

    def _draw_failure(self, handle: JobHandle) -> None:
        """Give a starting job the first failure asked for that matches it, if any (it uses one up)."""
        self._failing.pop(handle.job_id, None)
        for failure in self._failures:
            if failure.matches(handle.request):
                self._failing[handle.job_id] = (failure.after_steps, copy.copy(failure.error))
                if failure.remaining is not None:
                    failure.remaining -= 1
                    if failure.remaining == 0:
                        self._failures.remove(failure)
                return

    async def _run(self, slot: _Slot, batch: list[JobHandle]) -> None:
        """Step a batch to its end: progress and previews per step, then each live job's result."""
        total = _step_count(batch[0].request)
        renders: dict[str, _Render] = {}
        try:
            for step in range(1, total + 1):
                await asyncio.sleep(0)  # one step per turn of the loop: callers see every state in between
                if self._freeze_after is None or step > self._freeze_after:
                    await self._steps_open.wait()
                live = [handle for handle in batch if not handle.done]
                if not live:
                    return  # every job was cancelled: the slot stops, as a worker does at its next step
                for handle in live:
                    if self._fails_before(handle, step):
                        continue
                    render = renders.get(handle.job_id) or self._render(handle)
                    if render is None:
                        continue
                    renders[handle.job_id] = render
                    self._step(handle, render, step, total)
            for handle in batch:
                if handle.done or handle.job_id not in renders or self._fails_before(handle, total + 1):
                    continue
                result = self._result(slot, handle, renders[handle.job_id], total, batch)
                self._record_speed(result)
                self._end(handle, "done", result=result)
        except Exception as exc:
            # A bug in drawing must not leave jobs hanging: the worker fails a batch that raised, so does this.
            log.exception("a memory pool batch failed")
            for handle in batch:
                if not handle.done:
                    self._end(handle, "failed", error=GenerationError(f"{type(exc).__name__}: {exc}"))
        finally:
            # After a crash or close the slot is no longer this batch's, and they have said how it ended.
            if slot.batch is batch:
                slot.batch, slot.task = [], None
                self._dispatch()

    def _fails_before(self, handle: JobHandle, step: int) -> bool:
        """End `handle` with its drawn failure if it has done all the steps it was to do; say if it did."""
        failing = self._failing.get(handle.job_id)
        if failing is None or step <= failing[0]:
            return False
        error = failing[1]
        state: HandleState = "cancelled" if isinstance(error, JobCancelledError | PoolClosedError) else "failed"
        self._end(handle, state, error=error)
        return True

    def _render(self, handle: JobHandle) -> _Render | None:
        """Draw a job's images; a request the worker could not run either (a bad init image) fails as it would."""
        try:
            return _Render([draw_image(handle.request, seed) for seed in handle.request.seeds])
        except Exception as exc:
            # The worker reports a batch that raised as "failed" with the exception's type and message.
            self._end(handle, "failed", error=GenerationError(f"{type(exc).__name__}: {exc}"))
            return None

    def _step(self, handle: JobHandle, render: _Render, step: int, total: int) -> None:
        """Publish one step, with a preview at the worker's cadence and a journey frame when asked for."""
        preview: bytes | None = None
        frames: list[Image.Image] = []
        wants_preview = bool(self.preview_every) and step % self.preview_every == 0 and step < total
        if wants_preview or handle.request.journey:
            frames = [_faded(final, step / total) for final in render.finals]
        if wants_preview:
            # As the worker: one preview per job, a grid of its images at latent size, scaled up.
            preview = _png(fit_journey_frame(make_grid(frames, numbered=False)))
        if handle.request.journey:
            render.journeys.append([fit_journey_frame(frame) for frame in frames])
        handle._publish(Progress(handle.job_id, step, total, preview))

    def _result(
        self, slot: _Slot, handle: JobHandle, render: _Render, total: int, batch: list[JobHandle]
    ) -> GenerationResult:
        gifs: tuple[bytes, ...] = ()
        if handle.request.journey:
            gifs = tuple(
                journey_gif([*(step[index] for step in render.journeys), fit_journey_frame(final)])
                for index, final in enumerate(render.finals)
            )
        return GenerationResult(
            images=[_png(final) for final in render.finals],
            seeds=tuple(handle.request.seeds),
            # Pretend seconds, not measured ones: a result is the same however busy the machine is.
            timings={
                "generate": 0.0,
                "per_step": self.step_seconds,
                "total": total * self.step_seconds,
                "batch_images": float(sum(len(member.request.seeds) for member in batch)),
            },
            device=slot.device,
            journey_gifs=gifs,
            dropped_text="",
        )

    def _record_speed(self, result: GenerationResult) -> None:
        per_step = result.timings.get("per_step")
        if per_step:
            previous = self.seconds_per_step
            self.seconds_per_step = per_step if previous is None else 0.7 * previous + 0.3 * per_step

    def _retry_or_fail(self, slot: _Slot, batch: list[JobHandle], error: str, exit_code: int | None, how: str) -> None:
        """Requeue a crashed batch's jobs at the front of their lines, or fail those that crashed too often."""
        retried: list[JobHandle] = []
        for handle in batch:
            handle.crashes += 1
            if handle.crashes < self.max_attempts:
                retried.append(handle)
                continue
            self._end(
                handle,
                "failed",
                error=WorkerCrashedError(
                    f"the worker on {slot.device} died while running job {handle.job_id} ({how}); "
                    f"the job was in {handle.crashes} crashed batches, so it was not retried again"
                ),
            )
        for handle in reversed(retried):
            handle.state = "queued"
            handle.last_progress = None
            self._queue.push(handle, front=True)
        if retried:
            self._emit(
                PoolEvent(
                    "job_retried",
                    slot.device,
                    error=error,
                    exit_code=exit_code,
                    job_ids=tuple(handle.job_id for handle in retried),
                )
            )

    def _stop_slot(self, slot: _Slot) -> list[asyncio.Task[None]]:
        """Take a slot's batch away and return its runner task (to be cancelled); the caller ends the jobs."""
        task = slot.task
        slot.batch, slot.task = [], None
        return [task] if task is not None and not task.done() else []

    def _slot_indexes(self, device: str | None) -> list[int]:
        if device is None:
            return list(range(len(self._slots)))
        if device not in self.devices:
            raise ValueError(f"no slot {device!r}; the slots are {', '.join(self.devices)}")
        return [self.devices.index(device)]

    def _emit(self, event: PoolEvent) -> None:
        for listener in tuple(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("a pool listener failed on %s", event.kind)

    def _end(
        self,
        handle: JobHandle,
        state: HandleState,
        result: GenerationResult | None = None,
        error: Exception | None = None,
    ) -> None:
        self._handles.pop(handle.job_id, None)
        # Dropped here, not when a runner ends: a crashed runner ends after its retried jobs drew again.
        self._failing.pop(handle.job_id, None)
        handle._finish(state, result, error)
        if not self._handles and self._settled is not None and not self._settled.done():
            self._settled.set_result(None)

    def _is_idle(self) -> bool:
        stepping = self._steps_open.is_set() and any(slot.batch for slot in self._slots)
        startable = (
            len(self._queue) > 0
            and self._started
            and not self._closed
            and not self._held
            and any(slot.ready and not slot.batch for slot in self._slots)
        )
        return not stepping and not startable

    def _check_idle(self) -> None:
        if self._idle_waiters and self._is_idle():
            for waiter in self._idle_waiters:
                if not waiter.done():
                    waiter.set_result(None)


def _step_count(request: GenerationRequest) -> int:
    """Return the steps a request reports: from an init image diffusers runs int(steps × strength)."""
    if request.kind == "txt2img":
        return request.steps
    return max(1, int(request.steps * request.strength))


def draw_image(request: GenerationRequest, seed: int) -> Image.Image:
    """Return the image for one seed: a pattern whose colours and shape come from a hash of the request.

    It depends only on kind, prompt, seed, init image and mask (and the size), so equal requests give
    equal images and any change to those gives another. From an init image it is a blend with that
    image (img2img) or the pattern pasted where the mask is white (inpaint), as the real pipelines do.
    """
    digest = _digest(request, seed)
    size = (request.width, request.height)
    background, foreground, accent = digest[0:3], digest[3:6], digest[6:9]
    # A diagonal-ish gradient between two colours, with an ellipse placed by the hash: enough
    # structure for grids, crops and upscales to show something, cheap for any size.
    gradient = Image.linear_gradient("L").rotate(digest[9] % 4 * 90).resize(size)
    image = Image.composite(
        Image.new("RGB", size, tuple(foreground)), Image.new("RGB", size, tuple(background)), gradient
    )
    width, height = size
    left, top = digest[10] * width // 512, digest[11] * height // 512
    right, bottom = left + max(8, digest[12] * width // 512), top + max(8, digest[13] * height // 512)
    ImageDraw.Draw(image).ellipse((left, top, right, bottom), fill=tuple(accent))
    if request.init_image is None:
        return image
    init = Image.open(io.BytesIO(request.init_image)).convert("RGB").resize(size)
    if request.kind == "inpaint" and request.mask_image is not None:
        mask = Image.open(io.BytesIO(request.mask_image)).convert("L").resize(size)
        return Image.composite(image, init, mask)
    return Image.blend(init, image, 0.5)


def _digest(request: GenerationRequest, seed: int) -> bytes:
    """Return a hash of what an image depends on; each part is length-prefixed so no two requests collide."""
    digest = hashlib.sha256()
    parts: tuple[bytes | None, ...] = (
        request.kind.encode(),
        request.prompt.encode(),
        str(seed).encode(),
        request.init_image,
        request.mask_image,
    )
    for part in parts:
        # None (no image) and b"" (an empty one) must differ: None gets a length no bytes can have.
        digest.update((2**63 if part is None else len(part)).to_bytes(8, "big"))
        digest.update(part or b"")
    return digest.digest()


def _faded(final: Image.Image, fraction: float) -> Image.Image:
    """Return `final` at latent size, faded in from grey by `fraction`: a frame of its pretend denoising."""
    small = final.resize(
        (max(1, final.width // _LATENT_SCALE), max(1, final.height // _LATENT_SCALE)), Image.Resampling.BILINEAR
    )
    return Image.blend(Image.new("RGB", small.size, _START_GREY), small, fraction)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
