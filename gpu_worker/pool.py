"""The generation pool: an asyncio API in front of one worker process per device.

`GenerationPool` is the interface the bot uses. `ProcessPool` implements it with local processes;
a Ray-backed pool (actors per GPU across machines) can implement the same interface when the work
outgrows one machine, without the bot noticing.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import threading
from collections import deque
from collections.abc import AsyncIterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Literal, Protocol

from gpu_worker.requests import (
    GenerationError,
    GenerationRequest,
    GenerationResult,
    JobCancelledError,
    ModelLoadError,
    PoolClosedError,
    Progress,
    WorkerCrashedError,
)

log = logging.getLogger(__name__)

JobState = Literal["queued", "running", "done", "failed", "cancelled"]


class GenerationPool(Protocol):
    """What the bot needs from any pool: submit, watch, cancel, close."""

    async def start(self) -> None:
        """Load models and get ready; raise `ModelLoadError` if a model cannot load."""

    async def submit(self, job_id: str, request: GenerationRequest) -> JobHandle:
        """Queue a job and return its handle; raise `ValueError` for a bad request."""

    def position(self, job_id: str) -> int | None:
        """Return how many queued jobs are ahead of this one, or None if it is not queued."""

    def queue_length(self) -> int:
        """Return how many jobs are waiting (not running)."""

    async def close(self) -> None:
        """Stop the workers; unfinished jobs end with `PoolClosedError`."""


class JobHandle:
    """A submitted job: its state, its progress stream, its result, and a way to cancel it."""

    def __init__(self, job_id: str, request: GenerationRequest, pool: ProcessPool) -> None:
        self.job_id = job_id
        self.request = request
        self.state: JobState = "queued"
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
        """Yield progress updates until the job ends."""
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

    def _publish(self, update: Progress) -> None:
        self.last_progress = update
        for listener in self._listeners:
            listener.put_nowait(update)

    def _finish(self, state: JobState, result: GenerationResult | None = None, error: Exception | None = None) -> None:
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


class JobQueue:
    """The waiting jobs, first in first out. The fair scheduler replaces this ordering."""

    def __init__(self) -> None:
        self._jobs: deque[JobHandle] = deque()

    def __len__(self) -> int:
        return len(self._jobs)

    def push(self, handle: JobHandle) -> None:
        """Add a job at the back."""
        self._jobs.append(handle)

    def pop(self) -> JobHandle | None:
        """Return and remove the next job to run, or None."""
        return self._jobs.popleft() if self._jobs else None

    def remove(self, job_id: str) -> JobHandle | None:
        """Return and remove a waiting job, or None if it is not waiting."""
        for handle in self._jobs:
            if handle.job_id == job_id:
                self._jobs.remove(handle)
                return handle
        return None

    def position(self, job_id: str) -> int | None:
        """Return how many jobs are ahead of this one, or None."""
        for index, handle in enumerate(self._jobs):
            if handle.job_id == job_id:
                return index
        return None

    def drain(self) -> list[JobHandle]:
        """Return and remove every waiting job."""
        jobs = list(self._jobs)
        self._jobs.clear()
        return jobs


class WorkerProcess:
    """The parent's side of one worker process: spawn it, talk to it, notice when it dies."""

    def __init__(self, pool: ProcessPool, device: str) -> None:
        self.pool = pool
        self.device = device
        self.current: JobHandle | None = None
        self.ready = False
        self.process: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None
        self._started: asyncio.Future[dict[str, Any]] | None = None
        self._send_lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        """Return the worker's OS process id."""
        return self.process.pid if self.process else None

    @property
    def idle(self) -> bool:
        """Return whether the worker is loaded and has no job."""
        return self.ready and self.current is None

    async def start(self) -> dict[str, Any]:
        """Spawn the process and return its ready message; raise `ModelLoadError` if loading failed."""
        loop = asyncio.get_running_loop()
        context = multiprocessing.get_context("spawn")  # fork would copy the parent's threads and CUDA state
        parent_conn, child_conn = context.Pipe(duplex=True)
        from gpu_worker.worker_process import serve

        self.process = context.Process(
            target=serve,
            args=(
                child_conn,
                self.pool.model_source,
                self.device,
                str(self.pool.cache_dir),
                self.pool.preview_every,
                logging.getLevelName(logging.getLogger().getEffectiveLevel()),
            ),
            name=f"salon-worker-{self.device}",
            daemon=True,
        )
        self.process.start()
        child_conn.close()
        self._conn = parent_conn
        self._started = loop.create_future()
        threading.Thread(
            target=self._read, args=(loop, parent_conn), name=f"salon-reader-{self.device}", daemon=True
        ).start()
        info = await self._started
        self.ready = True
        log.info("worker %s (pid %s) ready: %s", self.device, self.pid, info)
        return info

    def _read(self, loop: asyncio.AbstractEventLoop, conn: Connection) -> None:
        """Forward every message from the child to the event loop; report EOF as the child's death."""
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                message = ("died",)
            except Exception as exc:  # an unpicklable message: report, keep reading
                log.exception("unreadable message from worker %s", self.device)
                message = ("failed", self.current.job_id if self.current else "", f"unreadable result: {exc}")
            try:
                loop.call_soon_threadsafe(self._on_message, message)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                return
            if message[0] == "died":
                return

    def _on_message(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if self._started is not None and not self._started.done():
            if kind == "ready":
                self._started.set_result(message[1])
            elif kind == "load_failed":
                self._started.set_exception(ModelLoadError(message[1]))
            elif kind == "died":
                code = self.process.exitcode if self.process else None
                self._started.set_exception(
                    ModelLoadError(f"the worker on {self.device} exited while loading the model (exit code {code})")
                )
            return
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
        self.ready = False
        self.send(("stop",))
        if self.process is not None:
            await asyncio.to_thread(self.process.join, grace_seconds)
            if self.process.is_alive():
                log.warning("worker %s did not stop in %.0f s; killing it", self.device, grace_seconds)
                self.process.kill()
                await asyncio.to_thread(self.process.join, 5)
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class ProcessPool:
    """A `GenerationPool` of one local worker process per device."""

    def __init__(
        self,
        model_source: str,
        devices: list[str],
        cache_dir: Path,
        *,
        preview_every: int = 5,
    ) -> None:
        if not devices:
            raise ValueError("a pool needs at least one device")
        self.model_source = model_source
        self.devices = list(devices)
        self.cache_dir = cache_dir
        self.preview_every = preview_every
        self.workers: list[WorkerProcess] = []
        self._queue = JobQueue()
        self._handles: dict[str, JobHandle] = {}
        self._closed = False
        self._restarts: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Start a worker per device and wait until each has loaded the model."""
        self.workers = [WorkerProcess(self, device) for device in self.devices]
        try:
            await asyncio.gather(*(worker.start() for worker in self.workers))
        except BaseException:
            await asyncio.gather(*(worker.stop(grace_seconds=2) for worker in self.workers), return_exceptions=True)
            raise

    async def submit(self, job_id: str, request: GenerationRequest) -> JobHandle:
        """Queue a job and return its handle; raise `ValueError` for a bad request."""
        if self._closed:
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
        """Return how many queued jobs are ahead of this one, or None if it is not queued."""
        return self._queue.position(job_id)

    def queue_length(self) -> int:
        """Return how many jobs are waiting."""
        return len(self._queue)

    def cancel(self, job_id: str) -> None:
        """Cancel a job: drop it from the queue, or tell its worker to stop it within a step."""
        handle = self._queue.remove(job_id)
        if handle is not None:
            self._end(handle, "cancelled", error=JobCancelledError(f"job {job_id} was cancelled"))
            return
        for worker in self.workers:
            if worker.current is not None and worker.current.job_id == job_id:
                worker.send(("cancel", job_id))

    def _dispatch(self) -> None:
        for worker in self.workers:
            if not worker.idle:
                continue
            handle = self._queue.pop()
            if handle is None:
                return
            handle.state = "running"
            worker.current = handle
            worker.send(("run", handle.job_id, handle.request))

    def _on_worker_message(self, worker: WorkerProcess, message: tuple[Any, ...]) -> None:
        kind = message[0]
        handle = worker.current
        if kind == "progress":
            job_id, step, total, preview = message[1:]
            if handle is not None and handle.job_id == job_id:
                handle._publish(Progress(job_id, step, total, preview))
            return
        if kind == "died":
            code = worker.process.exitcode if worker.process else None
            worker.ready = False
            worker.current = None
            if handle is not None:
                self._end(
                    handle,
                    "failed",
                    error=WorkerCrashedError(
                        f"the worker on {worker.device} died while running job {handle.job_id} (exit code {code})"
                    ),
                )
            if not self._closed:
                log.error("worker %s died (exit code %s); starting a fresh one", worker.device, code)
                task = asyncio.get_running_loop().create_task(self._restart(worker))
                self._restarts.add(task)
                task.add_done_callback(self._restarts.discard)
            return
        job_id = message[1]
        if handle is None or handle.job_id != job_id:
            return  # a late message about a job that already ended (e.g. closed pool)
        worker.current = None
        if kind == "result":
            self._end(handle, "done", result=message[2])
        elif kind == "cancelled":
            self._end(handle, "cancelled", error=JobCancelledError(f"job {job_id} was cancelled"))
        else:
            self._end(handle, "failed", error=GenerationError(message[2]))
        self._dispatch()

    async def _restart(self, old: WorkerProcess) -> None:
        await old.stop(grace_seconds=1)
        fresh = WorkerProcess(self, old.device)
        self.workers[self.workers.index(old)] = fresh
        try:
            await fresh.start()
        except ModelLoadError:
            log.exception("could not restart the worker on %s", old.device)
            return
        self._dispatch()

    def _end(
        self, handle: JobHandle, state: JobState, result: GenerationResult | None = None, error: Exception | None = None
    ) -> None:
        self._handles.pop(handle.job_id, None)
        handle._finish(state, result, error)

    async def close(self) -> None:
        """Stop the workers; queued and running jobs end with `PoolClosedError`."""
        if self._closed:
            return
        self._closed = True
        for handle in self._queue.drain():
            self._end(handle, "cancelled", error=PoolClosedError("the generation pool closed before the job ran"))
        for worker in self.workers:
            if worker.current is not None:
                worker.send(("cancel", worker.current.job_id))
                self._end(worker.current, "cancelled", error=PoolClosedError("the generation pool closed mid-job"))
        for task in list(self._restarts):
            task.cancel()
        await asyncio.gather(*(worker.stop() for worker in self.workers), return_exceptions=True)
