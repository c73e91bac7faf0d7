"""A pool that heals itself: dead workers come back, jobs wait for them, and the pool says what happened.

Real worker processes with the tiny pipeline, killed with SIGKILL at chosen moments. Every wait is
on a pool event or a job, never on the clock; the restart backoff is made tiny so tests stay fast.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from gpu_worker import (
    JobHandle,
    PoolClosedError,
    PoolEvent,
    PoolEventKind,
    PoolHealth,
    ProcessPool,
    WorkerCrashedError,
    describe_exit,
)
from gpu_worker.registry import single_model_registry
from tests.gpu_worker.test_process_pool import request

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pool(models_dir: Path):
    started = ProcessPool("tiny", ["cpu"], models_dir, preview_every=0, batch_size=4, restart_backoff_seconds=0.05)
    await started.start()
    yield started
    await started.close()


@pytest.fixture
def events(pool: ProcessPool) -> Iterator[list[PoolEvent]]:
    """Return every event the pool emits during one test."""
    heard: list[PoolEvent] = []
    pool.add_listener(heard.append)
    yield heard
    pool.remove_listener(heard.append)


def next_event(pool: ProcessPool, kind: PoolEventKind, attempt: int | None = None) -> asyncio.Future[PoolEvent]:
    """Return a future for the next event of `kind` (and `attempt`, if given) from now on."""
    future: asyncio.Future[PoolEvent] = asyncio.get_running_loop().create_future()

    def listen(event: PoolEvent) -> None:
        if event.kind == kind and attempt in (None, event.attempt) and not future.done():
            future.set_result(event)
            pool.remove_listener(listen)

    pool.add_listener(listen)
    return future


def kill_worker(pool: ProcessPool) -> None:
    pid = pool.workers[0].pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)


async def kill_worker_whenever_it_runs(pool: ProcessPool, handle: JobHandle) -> None:
    """Kill the worker at the first step of every run of `handle`, until the job ends."""
    async for update in handle.progress():
        if update.step == 1:
            kill_worker(pool)


async def test_exit_codes_are_told_in_words() -> None:
    assert describe_exit(-9) == "killed by signal 9 (SIGKILL)"
    assert describe_exit(-15) == "killed by signal 15 (SIGTERM)"
    assert describe_exit(1) == "exit code 1"


async def test_worker_killed_mid_batch_is_replaced_and_the_job_finishes(
    pool: ProcessPool, events: list[PoolEvent], caplog: pytest.LogCaptureFixture
) -> None:
    assert pool.health() == PoolHealth(ready_workers=1, total_workers=1)

    def broken_listener(event: PoolEvent) -> None:
        raise RuntimeError("a listener with a bug")

    pool.add_listener(broken_listener)
    try:
        handle = await pool.submit("mid-1", request(steps=8))
        first_pid = pool.workers[0].pid
        await handle.started.wait()
        async for update in handle.progress():
            if update.step == 1:
                kill_worker(pool)
                break
        result = await handle.result()
    finally:
        pool.remove_listener(broken_listener)

    assert len(result.images) == 2 and handle.attempts == 2 and handle.crashes == 1
    assert pool.workers[0].pid != first_pid
    kinds = [event.kind for event in events]
    assert kinds == [
        "job_started",
        "worker_crashed",
        "job_retried",
        "worker_restarting",
        "worker_ready",
        "job_started",
    ]
    crashed = events[1]
    assert crashed.exit_code == -9 and crashed.job_ids == ("mid-1",)
    assert crashed.error is not None and "killed by signal 9 (SIGKILL)" in crashed.error
    assert events[2].job_ids == ("mid-1",) and events[3].attempt == events[4].attempt == 1
    health = pool.health()
    assert health.ready_workers == 1 and not health.restarting and not health.paused
    assert health.attempt == 0 and health.down_since is None and "SIGKILL" in (health.last_error or "")
    assert "a pool listener failed on worker_crashed" in caplog.text


async def test_worker_killed_while_loading_is_restarted_and_the_waiting_job_runs(
    pool: ProcessPool, events: list[PoolEvent]
) -> None:
    await (await pool.submit("load-warm", request())).result()
    assert pool.seconds_per_step is not None, "an ETA would be known if a worker were up"
    seen_while_down: list[tuple[PoolHealth, float | None]] = []

    def kill_the_first_fresh_worker(event: PoolEvent) -> None:
        if event.kind == "worker_restarting" and event.attempt == 1:
            kill_worker(pool)  # the fresh process exists but is still loading the model
        elif event.kind == "worker_load_failed":
            seen_while_down.append((pool.health(), pool.eta("load-1")))

    pool.add_listener(kill_the_first_fresh_worker)
    try:
        crashed = next_event(pool, "worker_crashed")
        back = next_event(pool, "worker_ready")
        kill_worker(pool)
        await crashed
        handle = await pool.submit("load-1", request())
        down = pool.health()
        assert down.paused and down.restarting and down.down_since is not None
        assert pool.eta("load-1") is None and pool.position("load-1") == 0
        assert (await back).attempt == 2
        result = await handle.result()
    finally:
        pool.remove_listener(kill_the_first_fresh_worker)

    assert len(result.images) == 2 and handle.attempts == 1 and handle.crashes == 0
    failed = [event for event in events if event.kind == "worker_load_failed"]
    assert len(failed) == 1 and failed[0].attempt == 1 and failed[0].exit_code == -9
    assert "exited while loading the model (killed by signal 9 (SIGKILL))" in (failed[0].error or "")
    [(health, eta)] = seen_while_down
    assert health.paused and health.restarting and health.attempt >= 1 and eta is None
    assert "SIGKILL" in (health.last_error or "")
    assert [event.attempt for event in events if event.kind == "worker_restarting"] == [1, 2]
    assert pool.health().ready_workers == 1 and pool.health().down_since is None


async def test_restart_that_cannot_load_keeps_the_queued_job_until_a_worker_loads(
    pool: ProcessPool, events: list[PoolEvent], tmp_path: Path
) -> None:
    seen_at_failure: list[tuple[str, PoolHealth]] = []

    def restore_the_source(event: PoolEvent) -> None:
        if event.kind == "worker_load_failed":
            seen_at_failure.append((handle.state, pool.health()))
            pool.registry = single_model_registry("tiny")

    pool.registry = single_model_registry(str(tmp_path / "missing-model"))
    pool.add_listener(restore_the_source)
    try:
        crashed = next_event(pool, "worker_crashed")
        kill_worker(pool)
        await crashed
        handle = await pool.submit("noload-1", request())
        result = await handle.result()
    finally:
        pool.remove_listener(restore_the_source)
        pool.registry = single_model_registry("tiny")

    assert len(result.images) == 2 and handle.crashes == 0
    [(state, health)] = seen_at_failure
    assert state == "queued", "a failed restart must not fail the jobs waiting for it"
    assert health.paused and health.restarting and health.attempt == 1
    assert "missing-model" in (health.last_error or "")
    restarts = [(event.kind, event.attempt) for event in events if event.kind.startswith("worker_")]
    assert restarts == [
        ("worker_crashed", 0),
        ("worker_restarting", 1),
        ("worker_load_failed", 1),
        ("worker_restarting", 2),
        ("worker_ready", 2),
    ]


async def test_poison_job_fails_alone_and_its_batch_companion_completes(
    pool: ProcessPool, events: list[PoolEvent]
) -> None:
    blocker = await pool.submit("poison-block", request(steps=6))
    poison = await pool.submit("poison-1", request(seeds=(1,), steps=30, requester="mallory"))
    innocent = await pool.submit("poison-innocent", request(seeds=(2,), steps=30, requester="alice"))
    killer = asyncio.create_task(kill_worker_whenever_it_runs(pool, poison))
    await blocker.result()

    assert len((await innocent.result()).images) == 1
    with pytest.raises(WorkerCrashedError) as failure:
        await poison.result()
    await killer

    message = str(failure.value)
    assert "died while running job poison-1 (killed by signal 9 (SIGKILL))" in message and "None" not in message
    assert "in 2 crashed batches" in message
    assert poison.crashes == 2 and innocent.crashes == 1 and innocent.state == "done"
    batches = [set(event.job_ids) for event in events if event.kind == "job_started"]
    assert batches[:2] == [{"poison-block"}, {"poison-1", "poison-innocent"}], "the two shared the batch that crashed"
    assert all(len(batch) == 1 for batch in batches[2:]), "after a crash, each runs alone"
    crashes = [event for event in events if event.kind == "worker_crashed"]
    assert len(crashes) == 2 and all(event.exit_code == -9 for event in crashes)
    after = await pool.submit("poison-after", request())
    assert len((await after.result()).images) == 2


# Closes the shared pool, so it stays the last test of this module (the fixture's close() is then a no-op).
async def test_close_while_a_worker_restarts_ends_jobs_and_stops_the_loading_worker(
    pool: ProcessPool, caplog: pytest.LogCaptureFixture
) -> None:
    restarting = next_event(pool, "worker_restarting")
    kill_worker(pool)
    await restarting
    loading = pool.workers[0]
    assert not loading.ready and loading.process is not None and loading.process.is_alive()
    waiting = await pool.submit("closing-1", request())
    with caplog.at_level(logging.WARNING, logger="gpu_worker.pool"):
        await pool.close()
    with pytest.raises(PoolClosedError):
        await waiting.result()
    assert not loading.process.is_alive()
    assert not pool.health().restarting
    assert "did not stop" not in caplog.text, "a loading worker is killed at once, not waited for"
