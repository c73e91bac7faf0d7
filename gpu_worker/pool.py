"""The generation pool: an asyncio API in front of one worker process per device.

`GenerationPool` is the interface the bot uses. `ProcessPool` implements it with local processes;
a Ray-backed pool (actors per GPU across machines) can implement the same interface when the work
outgrows one machine, without the bot noticing.

The pool heals itself: a worker that dies is restarted with exponential backoff until the pool
closes, while submitted jobs wait in the queue. `health()` says whether generation is possible
now, and listeners added with `add_listener` hear every crash, restart and retry.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing
import threading
import time
from collections.abc import AsyncIterator, Callable, Hashable, Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Literal, Protocol

from gpu_worker.registry import ModelRegistry, single_model_registry
from gpu_worker.requests import (
    GenerationError,
    GenerationRequest,
    GenerationResult,
    JobCancelledError,
    ModelLoadError,
    PoolClosedError,
    PoolEvent,
    PoolHealth,
    Progress,
    WorkerCrashedError,
    describe_exit,
)
from gpu_worker.scheduling import FairQueue, batch_key

log = logging.getLogger(__name__)

# Where a handle is in the pool (not the stored job's state, `bot.store.jobs.JobState`, which goes on to delivery).
HandleState = Literal["queued", "running", "done", "failed", "cancelled"]
PoolListener = Callable[[PoolEvent], None]


class GenerationPool(Protocol):
    """What the bot needs from any pool: submit, watch, cancel, close, and know whether it is healthy."""

    async def start(self) -> None:
        """Load models and get ready; raise `ModelLoadError` if a model cannot load."""

    async def submit(self, job_id: str, request: GenerationRequest) -> JobHandle:
        """Queue a job and return its handle; raise `ValueError` for a bad request.

        Jobs are accepted while workers are restarting: they wait in the queue.
        """

    def position(self, job_id: str) -> int | None:
        """Return how many queued jobs are ahead of this one, or None if it is not queued."""

    def queue_length(self) -> int:
        """Return how many jobs are waiting (not running)."""

    def eta(self, job_id: str) -> float | None:
        """Return the estimated seconds until a job finishes, or None when there is no estimate.

        None while no worker is ready: nothing runs, so no count of seconds would be true.
        """

    def health(self) -> PoolHealth:
        """Return whether workers are ready, restarting, and why the last one went down."""

    def add_listener(self, listener: PoolListener) -> None:
        """Call `listener(event)` on the event loop for every `PoolEvent`; one that raises is logged."""

    def remove_listener(self, listener: PoolListener) -> None:
        """Stop calling a listener added with `add_listener`."""

    async def close(self, drain: bool = False) -> None:
        """Stop the workers; with `drain`, first let every submitted job finish.

        Jobs still unfinished when the workers stop end with `PoolClosedError`.
        """


class Canceller(Protocol):
    """What a `JobHandle` needs of its pool: a way to cancel the job (any pool, not only `ProcessPool`)."""

    def cancel(self, job_id: str) -> None:
        """Cancel a job: drop it from the queue, or stop it within a step."""


class JobHandle:
    """A submitted job: its state, its progress stream, its result, and a way to cancel it."""

    def __init__(self, job_id: str, request: GenerationRequest, pool: Canceller) -> None:
        self.job_id = job_id
        self.request = request
        self.state: HandleState = "queued"
        # How many times the job was handed to a worker.
        self.attempts = 0
        # How many batches holding this job ended with their worker dead; the job fails at `max_attempts`.
        self.crashes = 0
        # Set when the job is first handed to a worker; it stays set through retries.
        self.started = asyncio.Event()
        self.last_progress: Progress | None = None
        self._pool = pool
        self._result: asyncio.Future[GenerationResult] = asyncio.get_running_loop().create_future()
        self._listeners: list[asyncio.Queue[Progress | None]] = []

    @property
    def done(self) -> bool:
        """Return whether the job has ended, one way or another."""
        return self._result.done()

    async def result(self) -> GenerationResult:
        """Return the result once the job is done; raise why it is not (cancelled, failed, crashed)."""
        return await asyncio.shield(self._result)

    async def progress(self) -> AsyncIterator[Progress]:
        """Yield progress updates until the job ends (a retried job starts again from step 1)."""
        listener: asyncio.Queue[Progress | None] = asyncio.Queue()
        if self.done:
            return
        self._listeners.append(listener)
        try:
            while (update := await listener.get()) is not None:
                yield update
        finally:
            self._listeners.remove(listener)

    async def cancel(self) -> None:
        """Ask for the job to stop: a queued job ends at once, a running one within a step."""
        self._pool.cancel(self.job_id)

    def add_done_callback(self, callback: Callable[[JobHandle], None]) -> None:
        """Call `callback(handle)` once the job has ended, one way or another."""
        self._result.add_done_callback(lambda _: callback(self))

    def _publish(self, update: Progress) -> None:
        self.last_progress = update
        for listener in self._listeners:
            listener.put_nowait(update)

    def _finish(
        self, state: HandleState, result: GenerationResult | None = None, error: Exception | None = None
    ) -> None:
        if self._result.done():
            return
        self.state = state
        if error is not None:
            self._result.set_exception(error)
            # Nobody may await a job whose caller went away; don't warn about it at exit.
            self._result.add_done_callback(lambda future: future.exception())
        else:
            assert result is not None
            self._result.set_result(result)
        for listener in self._listeners:
            listener.put_nowait(None)


class WorkerProcess:
    """The parent's side of one worker process: spawn it, talk to it, notice when it dies."""

    def __init__(self, pool: ProcessPool, device: str) -> None:
        self.pool = pool
        self.device = device
        self.batch: list[JobHandle] = []
        self.batch_id: str | None = None
        # True from its ready message until it dies or is stopped; only a ready worker reports to the pool.
        self.ready = False
        self.process: multiprocessing.process.BaseProcess | None = None
        # The process's exit code as the OS gave it, once it has died and been reaped.
        self.exit_code: int | None = None
        self._conn: Connection | None = None
        self._started: asyncio.Future[dict[str, Any]] | None = None
        self._send_lock = threading.Lock()
        # The reader thread and stop() both wait for the process. Were both to reap it at once, the
        # loser would see no exit code and take a dead process for a live one.
        self._reap_lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        """Return the worker's OS process id."""
        return self.process.pid if self.process else None

    @property
    def idle(self) -> bool:
        """Return whether the worker is loaded and has no batch."""
        return self.ready and self.batch_id is None

    async def start(self) -> dict[str, Any]:
        """Spawn the process and return its ready message; raise `ModelLoadError` if loading failed."""
        self.spawn()
        return await self.wait_ready()

    def spawn(self) -> None:
        """Start the process, which begins loading the model; `wait_ready` tells how that went."""
        loop = asyncio.get_running_loop()
        context = multiprocessing.get_context("spawn")  # fork would copy the parent's threads and CUDA state
        parent_conn, child_conn = context.Pipe(duplex=True)
        from gpu_worker.worker_process import serve

        self.process = context.Process(
            target=serve,
            args=(
                child_conn,
                self.pool.registry.model_dump_json(),
                self.device,
                str(self.pool.cache_dir),
                self.pool.preview_every,
                logging.getLevelName(logging.getLogger().getEffectiveLevel()),
                self.pool.preview_decoder,
                self.pool.memory_budget_bytes,
            ),
            name=f"salon-worker-{self.device}",
            daemon=True,
        )
        self.process.start()
        child_conn.close()
        self._conn = parent_conn
        self._started = loop.create_future()
        threading.Thread(
            target=self._read, args=(loop, parent_conn, self.process), name=f"salon-reader-{self.device}", daemon=True
        ).start()

    async def wait_ready(self) -> dict[str, Any]:
        """Return the spawned process's ready message; raise `ModelLoadError` if loading failed."""
        assert self._started is not None, "spawn() first"
        info = await self._started
        log.info("worker %s (pid %s) ready: %s", self.device, self.pid, info)
        return info

    def _read(
        self, loop: asyncio.AbstractEventLoop, conn: Connection, process: multiprocessing.process.BaseProcess
    ) -> None:
        """Forward every message from the child to the event loop; report EOF as the child's death."""
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                # EOF comes before the OS reaps the child; wait for it so the exit code says how it ended.
                message = ("died", self._join(process, 5))
            except Exception as exc:  # an unpicklable message: report, keep reading
                log.exception("unreadable message from worker %s", self.device)
                message = ("failed", self.batch_id or "", f"unreadable result: {exc}")
            try:
                loop.call_soon_threadsafe(self._on_message, message)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                return
            if message[0] == "died":
                return

    def _join(self, process: multiprocessing.process.BaseProcess, timeout: float) -> int | None:
        """Return the process's exit code once it has ended, waiting up to `timeout`; None while it runs."""
        with self._reap_lock:
            process.join(timeout)
            return process.exitcode

    def _on_message(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "died":
            self.exit_code = message[1]
        if self._started is not None and not self._started.done():
            if kind == "ready":
                # Ready at once, not when start() resumes: a death in between must reach the pool.
                self.ready = True
                self._started.set_result(message[1])
            elif kind == "load_failed":
                self._started.set_exception(ModelLoadError(message[1]))
            elif kind == "died":
                self._started.set_exception(
                    ModelLoadError(
                        f"the worker on {self.device} exited while loading the model ({describe_exit(message[1])})"
                    )
                )
            return
        if not self.ready:
            return  # stopped on purpose, or it never came up: whoever started it has been told
        self.pool._on_worker_message(self, message)

    def send(self, message: tuple[Any, ...]) -> None:
        """Send a message to the child; a dead child is noticed by the reader, not here."""
        if self._conn is None:
            return
        try:
            with self._send_lock:
                self._conn.send(message)
        except (OSError, ValueError):
            log.warning("could not send %s to worker %s", message[0], self.device)

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Ask the child to exit, wait for it, kill it if it does not."""
        loaded = self.ready
        self.ready = False
        process = self.process
        if process is not None:
            # A child still loading reads no messages until it is done: killing it loses nothing.
            if loaded:
                self.send(("stop",))
            ended = await asyncio.to_thread(self._join, process, grace_seconds if loaded else 0)
            if ended is None:
                if loaded:
                    log.warning("worker %s did not stop in %.0f s; killing it", self.device, grace_seconds)
                process.kill()
                await asyncio.to_thread(self._join, process, 5)
        if self._conn is not None:
            self._conn.close()
            self._conn = None


@dataclass
class _Outage:
    """A worker slot that is down, and the task restarting it."""

    since: float
    task: asyncio.Task[None] | None = None
    attempt: int = 0


def estimate_eta(
    handle: JobHandle | None,
    queued: Iterable[JobHandle],
    running: Iterable[list[JobHandle]],
    seconds_per_step: float | None,
    workers: int,
) -> float | None:
    """Return the seconds until `handle` finishes: its own steps if it runs, else the steps ahead of it.

    None when unknown: before the first batch (no measured step time), for a job not in the pool,
    and while no worker is ready. Shared by every pool, so their ETAs mean the same.
    """
    if seconds_per_step is None or handle is None or not workers:
        return None

    def left(job: JobHandle) -> int:
        return job.request.steps - (job.last_progress.step if job.last_progress else 0)

    if handle.state == "running":
        return max(0.0, left(handle) * seconds_per_step)
    ahead = 0.0
    for waiting in queued:
        # Conservatively one batch per job; compatible jobs may share a batch and finish sooner.
        ahead += waiting.request.steps * seconds_per_step
        if waiting is handle:
            break
    busy = sum(left(batch[0]) * seconds_per_step for batch in running)
    return (ahead + busy) / workers


class ProcessPool:
    """A `GenerationPool` of one local worker process per device, fed batches by a `FairQueue`."""

    def __init__(
        self,
        model_source: str | ModelRegistry,
        devices: list[str],
        cache_dir: Path,
        *,
        memory_budget_bytes: int = 0,
        batch_size: int = 8,
        preview_every: int = 5,
        job_timeout: float = 600.0,
        max_attempts: int = 2,
        preview_decoder: str | None = None,
        restart_backoff_seconds: float = 1.0,
        restart_backoff_cap_seconds: float = 60.0,
    ) -> None:
        if not devices:
            raise ValueError("a pool needs at least one device")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if restart_backoff_seconds <= 0 or restart_backoff_cap_seconds < restart_backoff_seconds:
            raise ValueError("restart backoff must be above 0 and its cap at least the backoff")
        # A bare source is a registry of one model (its alias made from its name).
        self.registry = model_source if isinstance(model_source, ModelRegistry) else single_model_registry(model_source)
        self.memory_budget_bytes = memory_budget_bytes
        self.devices = list(devices)
        self.cache_dir = cache_dir
        self.batch_size = batch_size
        self.preview_every = preview_every
        self.job_timeout = job_timeout
        # How many crashed batches a job may be in before it fails with `WorkerCrashedError`.
        self.max_attempts = max_attempts
        self.preview_decoder = preview_decoder
        self.restart_backoff_seconds = restart_backoff_seconds
        self.restart_backoff_cap_seconds = restart_backoff_cap_seconds
        self.workers: list[WorkerProcess] = []
        self._queue: FairQueue[JobHandle] = FairQueue()
        self._handles: dict[str, JobHandle] = {}
        self._closed = False
        # Set by close(drain=True): no new jobs, and `_settled` resolves once every job has ended.
        self._draining = False
        self._settled: asyncio.Future[None] | None = None
        # Worker slots (indexes into `workers`) that are down and being restarted.
        self._outages: dict[int, _Outage] = {}
        self._listeners: list[PoolListener] = []
        self._last_error: str | None = None
        self._down_since: float | None = None
        self._ever_ready = False  # some worker has loaded its model since the pool was made
        self._batches = itertools.count(1)
        self._timers: dict[str, asyncio.TimerHandle] = {}
        # Measured seconds per denoising step of a full batch, smoothed; None until the first batch.
        self.seconds_per_step: float | None = None

    async def start(self) -> None:
        """Start a worker per device and wait until each has loaded the model.

        Raise `ModelLoadError` if any cannot load: a bad configuration is for an admin to see at
        start-up, not for the pool to retry forever.
        """
        self.workers = [WorkerProcess(self, device) for device in self.devices]
        try:
            await asyncio.gather(*(worker.start() for worker in self.workers))
        except BaseException as exc:
            self._last_error = str(exc)
            await asyncio.gather(*(worker.stop(grace_seconds=2) for worker in self.workers), return_exceptions=True)
            raise
        self._ever_ready = True
        for worker in self.workers:
            self._emit(PoolEvent("worker_ready", worker.device))
        self._dispatch()

    async def submit(self, job_id: str, request: GenerationRequest) -> JobHandle:
        """Queue a job and return its handle; raise `ValueError` for a bad request.

        Jobs are accepted while workers are restarting: they wait in the queue.
        """
        if self._closed or self._draining:
            raise PoolClosedError("the generation pool is closed")
        request.validate()
        if job_id in self._handles:
            raise ValueError(f"job {job_id} is already in the pool")
        handle = JobHandle(job_id, request, self)
        self._handles[job_id] = handle
        self._queue.push(handle)
        self._dispatch()
        return handle

    def position(self, job_id: str) -> int | None:
        """Return how many queued jobs will be served before this one, or None if it is not queued."""
        return self._queue.position(job_id)

    def queue_length(self) -> int:
        """Return how many jobs are waiting."""
        return len(self._queue)

    def health(self) -> PoolHealth:
        """Return whether workers are ready, restarting, and why the last one went down."""
        ready = sum(1 for worker in self.workers if worker.ready)
        longest = min(self._outages.values(), key=lambda outage: outage.since, default=None)
        return PoolHealth(
            ready_workers=ready,
            total_workers=len(self.devices),
            restarting=bool(self._outages),
            attempt=longest.attempt if longest else 0,
            last_error=self._last_error,
            down_since=None if ready else self._down_since,
            starting=not self._ever_ready and self._last_error is None and not self._closed,
        )

    def add_listener(self, listener: PoolListener) -> None:
        """Call `listener(event)` on the event loop for every `PoolEvent`; one that raises is logged."""
        self._listeners.append(listener)

    def remove_listener(self, listener: PoolListener) -> None:
        """Stop calling a listener added with `add_listener`."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def eta(self, job_id: str) -> float | None:
        """Return the estimated seconds until a job finishes, from measured step times.

        None when unknown: before the first batch, for a job not in the pool, and while no worker is ready.
        """
        handle = self._handles.get(job_id)
        workers = sum(1 for worker in self.workers if worker.ready)
        running = [worker.batch for worker in self.workers if worker.batch]
        return estimate_eta(handle, self._queue.order(), running, self.seconds_per_step, workers)

    def cancel(self, job_id: str) -> None:
        """Cancel a job: drop it from the queue, or stop it in its worker within a step."""
        handle = self._queue.remove(job_id)
        if handle is not None:
            self._end(handle, "cancelled", error=JobCancelledError(f"job {job_id} was cancelled"))
            return
        for worker in self.workers:
            for running in worker.batch:
                if running.job_id == job_id and not running.done:
                    worker.send(("cancel", job_id))
                    # Its batch companions go on; this job ends now and its images are dropped.
                    self._end(running, "cancelled", error=JobCancelledError(f"job {job_id} was cancelled"))

    def _emit(self, event: PoolEvent) -> None:
        for listener in tuple(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("a pool listener failed on %s", event.kind)

    def _dispatch(self) -> None:
        if self._closed:
            return
        # A job that was in a crashed batch runs alone from then on, so a job that kills its worker
        # takes no innocent companion down with it again. A fresh object as its key matches no other.
        alone = {id(handle.request) for handle in self._handles.values() if handle.crashes}

        def key(request: GenerationRequest) -> Hashable:
            return object() if id(request) in alone else batch_key(request)

        for worker in self.workers:
            if not worker.idle:
                continue
            batch = self._queue.pop_batch(self.batch_size, key=key)
            if not batch:
                return
            batch_id = f"b{next(self._batches)}"
            for handle in batch:
                handle.state = "running"
                handle.attempts += 1
                handle.started.set()
            worker.batch, worker.batch_id = batch, batch_id
            worker.send(("run", batch_id, [(h.job_id, h.request) for h in batch], self.batch_size))
            loop = asyncio.get_running_loop()
            self._timers[batch_id] = loop.call_later(self.job_timeout, self._time_out, worker, batch_id)
            self._emit(PoolEvent("job_started", worker.device, job_ids=tuple(h.job_id for h in batch)))

    def _time_out(self, worker: WorkerProcess, batch_id: str) -> None:
        """End a batch that ran past the timeout; kill its worker if it does not stop within a grace period."""
        if worker.batch_id != batch_id:
            return
        for handle in worker.batch:
            worker.send(("cancel", handle.job_id))
            self._end(
                handle, "failed", error=GenerationError(f"job {handle.job_id} timed out after {self.job_timeout:.0f} s")
            )
        loop = asyncio.get_running_loop()
        loop.call_later(10.0, self._kill_if_stuck, worker, batch_id)

    def _kill_if_stuck(self, worker: WorkerProcess, batch_id: str) -> None:
        if worker.batch_id == batch_id and worker.process is not None and worker.process.is_alive():
            log.error("worker %s ignored a timeout; killing it", worker.device)
            worker.process.kill()

    def _on_worker_message(self, worker: WorkerProcess, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "died":
            self._on_worker_died(worker, message[1])
            return
        batch_id = message[1]
        if batch_id != worker.batch_id:
            return  # a late message about a batch that already ended
        if kind == "loading":
            alias, seconds = message[2:]
            for handle in worker.batch:
                if not handle.done:
                    handle._publish(Progress(handle.job_id, 0, 0, loading_model=alias, loading_seconds=seconds))
            return
        if kind == "progress":
            step, total, previews = message[2:]
            for handle in worker.batch:
                if not handle.done:
                    handle._publish(Progress(handle.job_id, step, total, previews.get(handle.job_id)))
            return
        batch = worker.batch
        self._finish_batch(worker)
        if kind == "result":
            results: dict[str, GenerationResult] = message[2]
            for handle in batch:
                if handle.job_id in results:
                    self._record_speed(results[handle.job_id])
                    self._end(handle, "done", result=results[handle.job_id])
        elif kind == "cancelled":
            for handle in batch:
                self._end(handle, "cancelled", error=JobCancelledError(f"job {handle.job_id} was cancelled"))
        else:
            for handle in batch:
                self._end(handle, "failed", error=GenerationError(message[2]))
        self._dispatch()

    def _finish_batch(self, worker: WorkerProcess) -> None:
        timer = self._timers.pop(worker.batch_id or "", None)
        if timer is not None:
            timer.cancel()
        worker.batch, worker.batch_id = [], None

    def _record_speed(self, result: GenerationResult) -> None:
        per_step = result.timings.get("per_step")
        if per_step:
            previous = self.seconds_per_step
            self.seconds_per_step = per_step if previous is None else 0.7 * previous + 0.3 * per_step

    def _on_worker_died(self, worker: WorkerProcess, exit_code: int | None) -> None:
        if self._closed or worker not in self.workers:
            return
        worker.ready = False
        how = describe_exit(exit_code)
        error = f"the worker on {worker.device} (pid {worker.pid}) died: {how}"
        self._last_error = error
        if self._down_since is None and not any(other.ready for other in self.workers):
            self._down_since = time.monotonic()
        batch = [handle for handle in worker.batch if not handle.done]
        self._finish_batch(worker)
        log.error("%s; starting a fresh one", error)
        self._emit(
            PoolEvent(
                "worker_crashed",
                worker.device,
                error=error,
                exit_code=exit_code,
                job_ids=tuple(handle.job_id for handle in batch),
            )
        )
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
                    f"the worker on {worker.device} died while running job {handle.job_id} ({how}); "
                    f"the job was in {handle.crashes} crashed batches, so it was not retried again"
                ),
            )
        # Front of their lines, in their old order: a retry keeps its place.
        for handle in reversed(retried):
            handle.state = "queued"
            handle.last_progress = None
            self._queue.push(handle, front=True)
        if retried:
            log.warning("retrying %s, each in a batch of its own", ", ".join(handle.job_id for handle in retried))
            self._emit(
                PoolEvent(
                    "job_retried",
                    worker.device,
                    error=error,
                    exit_code=exit_code,
                    job_ids=tuple(handle.job_id for handle in retried),
                )
            )
        self._revive(self.workers.index(worker))
        self._dispatch()  # another device may take the retried jobs at once

    def _revive(self, slot: int) -> None:
        """Start restarting the worker in `slot`, unless that is already under way."""
        if slot in self._outages:
            return  # the restart loop sees the fresh worker is not ready and tries again
        outage = _Outage(since=time.monotonic())
        self._outages[slot] = outage
        outage.task = asyncio.get_running_loop().create_task(self._restart(slot, outage))

    def _backoff(self, attempt: int) -> float:
        """Return how long to wait before restart `attempt` (1, 2, ...): doubling, up to the cap."""
        return min(self.restart_backoff_cap_seconds, self.restart_backoff_seconds * 2 ** min(attempt - 1, 32))

    async def _restart(self, slot: int, outage: _Outage) -> None:
        """Restart the worker in `slot` until one is ready or the pool closes; jobs wait meanwhile."""
        device = self.devices[slot]
        try:
            await self.workers[slot].stop(grace_seconds=1)
            while not self._closed:
                outage.attempt += 1
                delay = self._backoff(outage.attempt)
                log.warning(
                    "restarting the worker on %s: attempt %d in %.2f s (%s)",
                    device,
                    outage.attempt,
                    delay,
                    self._last_error,
                )
                await asyncio.sleep(delay)
                fresh = WorkerProcess(self, device)
                # In the list before it spawns, so close() stops it whenever it comes.
                self.workers[slot] = fresh
                try:
                    fresh.spawn()
                    self._emit(PoolEvent("worker_restarting", device, attempt=outage.attempt, error=self._last_error))
                    await fresh.wait_ready()
                except Exception as exc:
                    self._last_error = str(exc)
                    log.warning("restart attempt %d of the worker on %s failed: %s", outage.attempt, device, exc)
                    self._emit(
                        PoolEvent(
                            "worker_load_failed",
                            device,
                            attempt=outage.attempt,
                            error=str(exc),
                            exit_code=fresh.exit_code,
                        )
                    )
                    await fresh.stop(grace_seconds=1)
                    continue
                if not fresh.ready:  # it died between its ready message and now; the pool has logged why
                    await fresh.stop(grace_seconds=1)
                    continue
                log.info("the worker on %s is back after %d attempts", device, outage.attempt)
                self._down_since = None
                del self._outages[slot]
                self._emit(PoolEvent("worker_ready", device, attempt=outage.attempt))
                self._dispatch()
                return
        finally:
            if self._outages.get(slot) is outage:
                del self._outages[slot]

    def _end(
        self,
        handle: JobHandle,
        state: HandleState,
        result: GenerationResult | None = None,
        error: Exception | None = None,
    ) -> None:
        self._handles.pop(handle.job_id, None)
        handle._finish(state, result, error)
        if not self._handles and self._settled is not None and not self._settled.done():
            self._settled.set_result(None)

    async def close(self, drain: bool = False) -> None:
        """Stop the workers and any restarts; queued and running jobs end with `PoolClosedError`.

        With `drain`, new jobs are refused at once but every job already submitted runs to its end
        (done, failed or cancelled) before the workers stop; while no worker is up, that waits for
        one. The default stops promptly: the bot keeps unfinished jobs in its store and resubmits
        them after a restart.
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
        for worker in self.workers:
            for handle in worker.batch:
                worker.send(("cancel", handle.job_id))
                self._end(handle, "cancelled", error=PoolClosedError("the generation pool closed mid-job"))
            self._finish_batch(worker)
        restarts = [outage.task for outage in self._outages.values() if outage.task is not None]
        for task in restarts:
            task.cancel()
        await asyncio.gather(*restarts, return_exceptions=True)
        await asyncio.gather(*(worker.stop() for worker in self.workers), return_exceptions=True)
