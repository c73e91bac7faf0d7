"""The in-memory pool behaves like the process pool from the caller's side, and tests can steer it.

No worker process and no clock: every wait is on a job, an event or the pool's own `wait_idle`,
and a job advances one step per turn of the event loop.
"""

from __future__ import annotations

import asyncio
import inspect
import io
from collections.abc import AsyncIterator
from contextlib import aclosing

import pytest
from PIL import Image

from gpu_worker import (
    FairQueue,
    GenerationError,
    GenerationPool,
    GenerationRequest,
    JobCancelledError,
    JobHandle,
    ModelLoadError,
    PoolClosedError,
    PoolEvent,
    ProcessPool,
    Progress,
    WorkerCrashedError,
)
from gpu_worker.memory_pool import MemoryPool


def request(seeds: tuple[int, ...] = (1,), steps: int = 4, **changes: object) -> GenerationRequest:
    values: dict[str, object] = {
        "kind": "txt2img",
        "prompt": "a lighthouse at dusk",
        "seeds": seeds,
        "width": 64,
        "height": 64,
        "steps": steps,
    }
    values.update(changes)
    return GenerationRequest(**values)  # type: ignore[arg-type]


def png_of(colour: tuple[int, int, int], size: tuple[int, int] = (64, 64), mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, colour if mode == "RGB" else colour[0]).save(buffer, format="PNG")
    return buffer.getvalue()


async def started_pool(**options: object) -> MemoryPool:
    pool = MemoryPool(**options)  # type: ignore[arg-type]
    await pool.start()
    return pool


async def collect(handle: JobHandle) -> list[Progress]:
    return [update async for update in handle.progress()]


async def run_to_step(pool: MemoryPool, handle: JobHandle, step: int) -> None:
    """Let `handle` run until it has reported `step`, then freeze running jobs (and starts) there.

    The hold comes before the job's next step: a step is published, then its slot yields to the loop.
    """
    async with aclosing(handle.progress()) as updates:
        async for update in updates:
            if update.step == step:
                pool.hold(running=True)
                break
    assert handle.last_progress is not None and handle.last_progress.step == step and not handle.done


@pytest.fixture
async def pool() -> AsyncIterator[MemoryPool]:
    started = await started_pool(preview_every=2)
    yield started
    await started.close()


def protocol_methods() -> list[str]:
    return [name for name, value in vars(GenerationPool).items() if inspect.isfunction(value) and name[0] != "_"]


def test_memory_pool_has_every_protocol_method_with_the_same_signature() -> None:
    names = protocol_methods()
    assert {"start", "submit", "position", "queue_length", "eta", "health", "close"} <= set(names)
    for name in [*names, "cancel"]:
        reference = getattr(GenerationPool, name) if name != "cancel" else ProcessPool.cancel
        ours = getattr(MemoryPool, name, None)
        assert ours is not None, f"MemoryPool has no {name}"
        assert inspect.signature(ours) == inspect.signature(reference), name
        assert inspect.iscoroutinefunction(ours) == inspect.iscoroutinefunction(reference), name


async def test_equal_requests_give_identical_pngs_of_the_asked_size(pool: MemoryPool) -> None:
    asked = request(seeds=(1, 2, 3), width=96, height=64)
    first = await (await pool.submit("a", asked)).result()
    second = await (await pool.submit("b", request(seeds=(1, 2, 3), width=96, height=64))).result()
    assert first.images == second.images and first.seeds == (1, 2, 3)
    for png in first.images:
        with Image.open(io.BytesIO(png)) as image:
            assert image.format == "PNG" and image.size == (96, 64)
    assert len(set(first.images)) == 3, "each seed gives its own image"
    other_prompt = await (await pool.submit("c", request(seeds=(1,), width=96, height=64, prompt="a fox"))).result()
    assert other_prompt.images[0] != first.images[0]
    assert first.device == "memory" and first.dropped_text == "" and first.journey_gifs == ()
    assert first.timings["generate"] == 0.0 and first.timings["per_step"] > 0


async def test_img2img_and_inpaint_start_from_the_init_image(pool: MemoryPool) -> None:
    red, blue = png_of((255, 0, 0)), png_of((0, 0, 255))
    plain = (await (await pool.submit("t2i", request())).result()).images[0]
    from_red = (await (await pool.submit("red", request(kind="img2img", init_image=red))).result()).images[0]
    from_blue = (await (await pool.submit("blue", request(kind="img2img", init_image=blue))).result()).images[0]
    assert len({plain, from_red, from_blue}) == 3
    with Image.open(io.BytesIO(from_red)) as image:
        # A blend with a pure red init keeps at least half of its red everywhere.
        assert image.convert("RGB").getextrema()[0][0] >= 127
    # Inpainting with a black mask (change nothing) gives back the init image itself.
    kept = await (
        await pool.submit("keep", request(kind="inpaint", init_image=red, mask_image=png_of((0, 0, 0), mode="L")))
    ).result()
    with Image.open(io.BytesIO(kept.images[0])) as image:
        assert image.convert("RGB").getextrema() == ((255, 255), (0, 0), (0, 0))
    painted = await (
        await pool.submit("paint", request(kind="inpaint", init_image=red, mask_image=png_of((255, 0, 0), mode="L")))
    ).result()
    assert painted.images[0] != kept.images[0] and painted.images[0] != from_red


async def test_a_broken_init_image_fails_as_the_worker_would(pool: MemoryPool) -> None:
    handle = await pool.submit("broken", request(kind="img2img", init_image=b"not a png"))
    with pytest.raises(GenerationError, match="UnidentifiedImageError"):
        await handle.result()
    assert handle.state == "failed"


async def test_progress_comes_step_by_step_with_previews_at_the_workers_cadence(pool: MemoryPool) -> None:
    handle = await pool.submit("p", request(seeds=(1, 2), steps=6))
    updates = await collect(handle)
    await handle.result()
    assert [(u.job_id, u.step, u.total) for u in updates] == [("p", step, 6) for step in range(1, 7)]
    # Every second step but the last (the result itself shows it), as ProcessPool(preview_every=2).
    assert [u.step for u in updates if u.preview is not None] == [2, 4]
    preview = updates[1].preview
    assert preview is not None
    with Image.open(io.BytesIO(preview)) as image:
        assert image.format == "PNG" and max(image.size) <= 256
    assert handle.state == "done" and handle.attempts == 1 and handle.started.is_set()


async def test_img2img_reports_the_steps_diffusers_runs_from_an_init_image(pool: MemoryPool) -> None:
    handle = await pool.submit("i2i", request(kind="img2img", init_image=png_of((0, 255, 0)), steps=8, strength=0.5))
    updates = await collect(handle)
    assert [(u.step, u.total) for u in updates] == [(step, 4) for step in range(1, 5)]


async def test_journey_gives_one_animated_gif_per_image(pool: MemoryPool) -> None:
    result = await (await pool.submit("j", request(seeds=(5, 6), steps=3, journey=True))).result()
    assert len(result.journey_gifs) == 2 and result.journey_gifs[0] != result.journey_gifs[1]
    with Image.open(io.BytesIO(result.journey_gifs[0])) as gif:
        assert gif.format == "GIF" and gif.n_frames == 4  # one frame per step and the final image


async def test_a_queued_job_is_cancelled_at_once(pool: MemoryPool) -> None:
    pool.hold()
    first = await pool.submit("first", request())
    second = await pool.submit("second", request())
    await second.cancel()
    assert second.done and second.state == "cancelled"
    with pytest.raises(JobCancelledError):
        await second.result()
    assert pool.queue_length() == 1 and pool.position("second") is None
    pool.release()
    assert (await first.result()).images


async def test_a_running_job_is_cancelled_and_its_slot_moves_on(pool: MemoryPool) -> None:
    running = await pool.submit("running", request(steps=6))
    after = await pool.submit("after", request())
    await run_to_step(pool, running, 2)
    assert running.state == "running" and after.state == "queued"
    await running.cancel()
    # The handle ends at once, as in ProcessPool; the slot stops at its next step.
    assert running.state == "cancelled"
    with pytest.raises(JobCancelledError):
        await running.result()
    pool.release()
    await after.result()
    assert running.last_progress is not None and running.last_progress.step == 2
    assert after.state == "done"


async def test_held_jobs_keep_their_places_until_release(pool: MemoryPool) -> None:
    pool.hold()
    handles = [await pool.submit(name, request()) for name in ("a", "b", "c")]
    await pool.wait_idle()
    assert [pool.position(h.job_id) for h in handles] == [0, 1, 2]
    assert pool.queue_length() == 3
    assert all(h.state == "queued" and not h.started.is_set() for h in handles)
    pool.release()
    await pool.wait_idle()
    assert all(h.state == "done" for h in handles) and pool.queue_length() == 0
    assert [pool.position(h.job_id) for h in handles] == [None, None, None]


async def test_the_next_jobs_fail_as_asked(pool: MemoryPool) -> None:
    pool.fail_jobs(GenerationError("CUDA error: an illegal memory access"), count=2)
    handles = [await pool.submit(name, request()) for name in ("one", "two", "three")]
    for handle in handles[:2]:
        with pytest.raises(GenerationError, match="illegal memory access"):
            await handle.result()
        assert handle.state == "failed" and handle.last_progress is None
    assert (await handles[2].result()).images and handles[2].state == "done"


async def test_failures_pick_jobs_by_prompt_and_keep_their_error_type(pool: MemoryPool) -> None:
    pool.fail_jobs(WorkerCrashedError("the worker died"), count=None, prompt_contains="doomed", after_steps=2)
    doomed = [await pool.submit(f"d{n}", request(prompt=f"a doomed ship {n}")) for n in range(2)]
    spared = await pool.submit("spared", request(prompt="a happy ship"))
    for handle in doomed:
        updates = await collect(handle)
        with pytest.raises(WorkerCrashedError, match="the worker died"):
            await handle.result()
        assert [u.step for u in updates] == [1, 2] and handle.state == "failed"
    assert (await spared.result()).images
    pool.clear_failures()
    assert (await (await pool.submit("d2", request(prompt="a doomed ship 2"))).result()).images


async def test_a_cancelled_error_ends_a_job_as_cancelled(pool: MemoryPool) -> None:
    pool.fail_jobs(JobCancelledError("stopped by a moderator"))
    handle = await pool.submit("stopped", request())
    with pytest.raises(JobCancelledError):
        await handle.result()
    assert handle.state == "cancelled"


async def test_an_outage_pauses_the_pool_and_recovery_resumes_it(pool: MemoryPool) -> None:
    events: list[PoolEvent] = []
    pool.add_listener(events.append)
    handle = await pool.submit("victim", request(steps=4))
    await run_to_step(pool, handle, 1)
    pool.release()
    pool.crash()
    health = pool.health()
    assert health.paused and health.restarting and health.attempt == 1 and health.total_workers == 1
    assert health.last_error == "the worker on memory died: killed by signal 9 (SIGKILL)"
    assert health.down_since is not None
    assert [(e.kind, e.job_ids, e.attempt) for e in events] == [
        ("job_started", ("victim",), 0),
        ("worker_crashed", ("victim",), 0),
        ("job_retried", ("victim",), 0),
        ("worker_restarting", (), 1),
    ]
    assert events[1].exit_code == -9
    # The job waits at the front of the queue; nothing runs, so there is no ETA.
    assert handle.state == "queued" and handle.last_progress is None and pool.position("victim") == 0
    assert pool.eta("victim") is None
    await pool.wait_idle()
    assert handle.state == "queued"
    pool.fail_restart("could not load model 'tiny': out of memory")
    assert [(e.kind, e.attempt) for e in events[-2:]] == [("worker_load_failed", 1), ("worker_restarting", 2)]
    assert pool.health().attempt == 2 and pool.health().last_error == "could not load model 'tiny': out of memory"
    pool.recover()
    assert events[-2].kind == "worker_ready" and events[-2].attempt == 2
    assert events[-1].kind == "job_started" and events[-1].job_ids == ("victim",)
    health = pool.health()
    assert not health.paused and not health.restarting and health.down_since is None and health.attempt == 0
    assert health.last_error == "could not load model 'tiny': out of memory"  # it stays, to say what happened
    assert (await handle.result()).images and handle.attempts == 2


async def test_a_job_in_too_many_crashed_batches_fails(pool: MemoryPool) -> None:
    handle = await pool.submit("cursed", request(steps=4))
    for _ in range(2):
        await run_to_step(pool, handle, 1)
        pool.release()
        pool.crash(exit_code=-11)
        pool.recover()
    with pytest.raises(WorkerCrashedError, match=r"signal 11 \(SIGSEGV\).*in 2 crashed batches"):
        await handle.result()
    assert handle.state == "failed" and handle.attempts == 2


async def test_one_slot_down_leaves_the_other_to_work() -> None:
    pool = await started_pool(slots=2)
    try:
        assert pool.devices == ["memory:0", "memory:1"] and pool.health().ready_workers == 2
        pool.crash("memory:0")
        health = pool.health()
        assert health.ready_workers == 1 and health.restarting and health.down_since is None
        result = await (await pool.submit("j", request())).result()
        assert result.device == "memory:1"
    finally:
        await pool.close()


async def test_close_ends_queued_and_running_jobs_with_pool_closed(pool: MemoryPool) -> None:
    running = await pool.submit("running", request(steps=5))
    queued = await pool.submit("queued", request())
    await run_to_step(pool, running, 1)
    await pool.close()
    for handle in (running, queued):
        with pytest.raises(PoolClosedError):
            await handle.result()
        assert handle.state == "cancelled"
    with pytest.raises(PoolClosedError):
        await pool.submit("late", request())
    assert pool.health().ready_workers == 0


async def test_close_with_drain_lets_submitted_jobs_finish(pool: MemoryPool) -> None:
    pool.hold()
    handles = [await pool.submit(name, request()) for name in ("a", "b")]
    closing = asyncio.create_task(pool.close(drain=True))
    await asyncio.sleep(0)  # let close() begin: it now waits for the held jobs
    await pool.wait_idle()
    assert not closing.done()
    with pytest.raises(PoolClosedError):
        await pool.submit("late", request())
    pool.release()
    await closing
    assert [h.state for h in handles] == ["done", "done"]
    for handle in handles:
        assert (await handle.result()).images


async def test_jobs_start_in_fair_queue_order_like_the_process_pool() -> None:
    pool = await started_pool()
    started: list[str] = []
    pool.add_listener(lambda event: started.extend(event.job_ids) if event.kind == "job_started" else None)
    pool.hold()
    jobs = [
        ("a0", "alice", "channel:1", 0),
        ("a1", "alice", "channel:1", 0),
        ("a2", "alice", "channel:1", 0),
        ("b0", "bob", "channel:1", 0),
        ("c0", "carol", "channel:2", 0),
        ("p0", "dave", "party:1", 5),
        ("p1", "erin", "party:1", 5),
    ]
    reference: FairQueue[JobHandle] = FairQueue()
    for job_id, requester, session, priority in jobs:
        handle = await pool.submit(
            job_id, request(prompt=job_id, requester=requester, session=session, priority=priority)
        )
        reference.push(handle)
    expected = [handle.job_id for handle in reference.order()]
    # Party rounds first, then sessions take turns, then requesters within a session.
    assert expected == ["p0", "p1", "a0", "c0", "b0", "a1", "a2"]
    assert [pool.position(job_id) for job_id in expected] == list(range(len(jobs)))
    pool.release()
    await pool.wait_idle()
    assert started == expected
    await pool.close()


async def test_compatible_jobs_share_a_batch_as_in_the_process_pool() -> None:
    pool = await started_pool(batch_size=4, preview_every=0)
    events: list[PoolEvent] = []
    pool.add_listener(events.append)
    pool.hold()
    same = [await pool.submit(f"s{n}", request(seeds=(n,), requester=f"r{n}")) for n in range(3)]
    odd = await pool.submit("odd", request(steps=6))
    pool.release()
    await pool.wait_idle()
    assert [e.job_ids for e in events if e.kind == "job_started"] == [("s0", "s1", "s2"), ("odd",)]
    assert all(h.state == "done" for h in [*same, odd])
    assert (await same[0].result()).timings["batch_images"] == 3.0
    await pool.close()


async def test_eta_is_none_where_the_process_pool_gives_none_and_plausible_otherwise() -> None:
    pool = await started_pool(step_seconds=0.5)
    try:
        pool.hold()
        waiting = await pool.submit("waiting", request(steps=4))
        assert pool.eta("waiting") is None, "no measured step time before the first job has finished"
        pool.release()
        await waiting.result()
        assert pool.seconds_per_step == 0.5 and pool.eta("waiting") is None  # done jobs are not in the pool
        pool.hold()
        first = await pool.submit("first", request(steps=4))
        second = await pool.submit("second", request(steps=6))
        assert pool.eta("first") == pytest.approx(2.0) and pool.eta("second") == pytest.approx(5.0)
        assert pool.eta("nobody") is None
        pool.crash()
        assert pool.eta("first") is None
        pool.recover()
        pool.release()
        await second.result()
        assert first.state == "done"
    finally:
        await pool.close()


async def test_bad_requests_are_refused_and_good_ones_recorded(pool: MemoryPool) -> None:
    with pytest.raises(ValueError, match="multiple of 8"):
        await pool.submit("bad", request(width=100))
    with pytest.raises(ValueError, match="needs an init image"):
        await pool.submit("bad", request(kind="img2img"))
    pool.hold()
    asked = request(prompt="a duplicate")
    await pool.submit("dup", asked)
    with pytest.raises(ValueError, match="already in the pool"):
        await pool.submit("dup", request())
    assert pool.submitted == [asked] and pool.jobs["dup"].request is asked


async def test_a_model_that_does_not_load_fails_start() -> None:
    pool = MemoryPool(start_error=ModelLoadError("could not load model 'nowhere': not found"))
    with pytest.raises(ModelLoadError, match="nowhere"):
        await pool.start()
    health = pool.health()
    assert health.paused and not health.restarting and health.last_error is not None and "nowhere" in health.last_error
    await pool.close()


async def test_jobs_submitted_before_start_wait_for_it() -> None:
    pool = MemoryPool()
    events: list[PoolEvent] = []
    pool.add_listener(events.append)
    handle = await pool.submit("early", request())
    await pool.wait_idle()
    assert handle.state == "queued" and pool.health().ready_workers == 0
    await pool.start()
    assert [e.kind for e in events] == ["worker_ready", "job_started"]
    await handle.result()
    await pool.close()


async def test_frozen_jobs_start_take_their_steps_and_wait_for_release(pool: MemoryPool) -> None:
    pool.freeze_after(2)
    handle = await pool.submit("frozen", request(steps=6))
    seen = []
    async with aclosing(handle.progress()) as updates:
        async for update in updates:
            seen.append(update.step)
            if update.step == 2:
                break
    for _ in range(20):  # many turns of the loop: a frozen job takes no further step
        await asyncio.sleep(0)
    assert handle.state == "running" and not handle.done and seen == [1, 2]
    pool.release()
    assert (await handle.result()).images
