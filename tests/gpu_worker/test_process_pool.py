"""The process pool: real worker processes generating with the tiny pipeline."""

from __future__ import annotations

import io
import os
import signal
from pathlib import Path

import pytest
import pytest_asyncio
from PIL import Image

from gpu_worker import (
    GenerationError,
    GenerationRequest,
    JobCancelledError,
    ModelLoadError,
    PoolClosedError,
    ProcessPool,
    WorkerCrashedError,
)

# Every test here runs the real worker process.
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.worker]


def request(seeds: tuple[int, ...] = (1, 2), steps: int = 4, **changes: object) -> GenerationRequest:
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


def png_of(colour: tuple[int, int, int], mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (64, 64), colour if mode == "RGB" else colour[0]).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pool(models_dir: Path):
    started = ProcessPool("tiny", ["cpu"], models_dir, preview_every=2, batch_size=4, restart_backoff_seconds=0.05)
    await started.start()
    yield started
    await started.close()


async def test_generates_images_with_progress_and_previews(pool: ProcessPool) -> None:
    handle = await pool.submit("progress-1", request(seeds=(1, 2, 3, 4), steps=4))
    updates = [update async for update in handle.progress()]
    result = await handle.result()
    assert [u.step for u in updates] == [1, 2, 3, 4]
    assert all(u.total == 4 for u in updates)
    assert updates[1].preview is not None and updates[0].preview is None
    assert Image.open(io.BytesIO(updates[1].preview)).size[0] >= 64
    assert len(result.images) == 4 and result.seeds == (1, 2, 3, 4)
    assert {Image.open(io.BytesIO(png)).size for png in result.images} == {(64, 64)}
    assert handle.state == "done" and result.timings["total"] > 0


async def test_same_seed_is_reproducible_across_jobs(pool: ProcessPool) -> None:
    first = await (await pool.submit("repro-1", request(seeds=(42,)))).result()
    second = await (await pool.submit("repro-2", request(seeds=(42,)))).result()
    assert first.images == second.images


async def test_queue_position_and_cancel_queued(pool: ProcessPool) -> None:
    running = await pool.submit("pos-run", request(steps=12))
    waiting = await pool.submit("pos-wait", request())
    last = await pool.submit("pos-last", request())
    assert pool.position("pos-last") == 1 and pool.queue_length() == 2
    await waiting.cancel()
    with pytest.raises(JobCancelledError):
        await waiting.result()
    assert pool.position("pos-last") == 0
    await running.result()
    await last.result()


async def test_cancel_running_job_frees_worker(pool: ProcessPool) -> None:
    slow = await pool.submit("cancel-run", request(steps=150))
    async for update in slow.progress():
        if update.step == 1:
            await slow.cancel()
    with pytest.raises(JobCancelledError):
        await slow.result()
    assert slow.last_progress is not None and slow.last_progress.step < 150
    after = await pool.submit("cancel-after", request())
    assert len((await after.result()).images) == 2


async def kill_worker_at_first_step(pool: ProcessPool, handle) -> None:
    async for update in handle.progress():
        if update.step == 1:
            os.kill(pool.workers[0].pid, signal.SIGKILL)
            return


async def test_killed_worker_job_is_retried_once_on_a_fresh_worker(pool: ProcessPool) -> None:
    retried = await pool.submit("crash-1", request(steps=8))
    first_pid = pool.workers[0].pid
    await kill_worker_at_first_step(pool, retried)
    result = await retried.result()
    assert len(result.images) == 2 and retried.attempts == 2 and retried.crashes == 1
    assert pool.workers[0].pid != first_pid


async def test_job_that_kills_its_worker_twice_fails_clearly(pool: ProcessPool) -> None:
    doomed = await pool.submit("crash-2", request(steps=150))
    await kill_worker_at_first_step(pool, doomed)
    await kill_worker_at_first_step(pool, doomed)
    with pytest.raises(
        WorkerCrashedError,
        match=r"died while running job crash-2 \(killed by signal 9 \(SIGKILL\)\); "
        r"the job was in 2 crashed batches, so it was not retried again",
    ):
        await doomed.result()
    survivor = await pool.submit("crash-3", request())
    assert len((await survivor.result()).images) == 2


async def test_img2img_and_inpaint_share_the_weights(pool: ProcessPool) -> None:
    init = png_of((180, 40, 40))
    img2img = await pool.submit("i2i", request(kind="img2img", init_image=init, strength=0.5))
    mask = png_of((255, 255, 255), mode="L")
    inpaint = await pool.submit("inp", request(kind="inpaint", init_image=init, mask_image=mask))
    for handle in (img2img, inpaint):
        result = await handle.result()
        assert {Image.open(io.BytesIO(png)).size for png in result.images} == {(64, 64)}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"width": 100}, "width must be a multiple of 8"),
        ({"steps": 0}, "steps must be from 1 to 150"),
        ({"seeds": ()}, "at least one seed"),
        ({"kind": "img2img"}, "img2img needs an init image"),
        ({"kind": "inpaint", "init_image": b"x"}, "inpaint needs a mask image"),
        ({"kind": "upscale"}, "kind must be one of"),
        ({"kind": "img2img", "init_image": b"x", "steps": 2, "strength": 0.3}, "use at least 4 steps"),
    ],
)
async def test_bad_request_is_refused_before_queueing(pool: ProcessPool, changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        await pool.submit("bad", request(**changes))
    assert pool.position("bad") is None


async def test_unknown_scheduler_fails_job_with_reason(pool: ProcessPool) -> None:
    handle = await pool.submit("sched", request(scheduler="warp"))
    with pytest.raises(Exception, match="unknown scheduler 'warp'"):
        await handle.result()
    assert handle.state == "failed"


async def test_load_failure_is_reported_with_source(tmp_path: Path) -> None:
    broken = ProcessPool(str(tmp_path), ["cpu"], tmp_path)
    with pytest.raises(ModelLoadError, match=r"has no model_index\.json"):
        await broken.start()


async def test_close_ends_queued_jobs_with_pool_closed(models_dir: Path) -> None:
    own = ProcessPool("tiny", ["cpu"], models_dir)
    await own.start()
    running = await own.submit("close-1", request(steps=150))
    queued = await own.submit("close-2", request())
    await own.close()
    for handle in (running, queued):
        with pytest.raises(PoolClosedError):
            await handle.result()
    with pytest.raises(PoolClosedError):
        await own.submit("close-3", request())
    assert not own.workers[0].process.is_alive()


async def test_image_made_in_a_batch_is_byte_identical_to_the_job_alone(pool: ProcessPool) -> None:
    blocker = await pool.submit("bi-block", request(steps=6))
    jobs = {
        "bi-a": request(seeds=(11,), prompt="a cat", requester="alice"),
        "bi-b": request(seeds=(12, 13), prompt="a dog", negative_prompt="blur", requester="bob"),
        "bi-c": request(seeds=(14,), prompt="a tree", requester="carol"),
    }
    handles = [await pool.submit(job_id, req) for job_id, req in jobs.items()]
    await blocker.result()
    together = [await handle.result() for handle in handles]
    assert {result.timings["batch_images"] for result in together} == {4.0}, "the three jobs shared one batch"
    for (job_id, req), batched in zip(jobs.items(), together, strict=True):
        alone = await (await pool.submit(f"{job_id}-alone", req)).result()
        assert alone.timings["batch_images"] == len(req.seeds)
        assert alone.images == batched.images


async def test_flooding_user_does_not_hold_back_another_users_job(pool: ProcessPool) -> None:
    blocker = await pool.submit("fl-block", request(steps=6, requester="heavy"))
    floods = [
        await pool.submit(f"fl-{n}", request(seeds=(n, n + 1, n + 2, n + 3), requester="heavy")) for n in range(50)
    ]
    light = await pool.submit("fl-light", request(seeds=(1, 2, 3, 4), requester="light"))
    assert pool.position("fl-light") == 0
    await blocker.result()
    async for _ in light.progress():
        break
    assert [flood.state for flood in floods] == ["queued"] * 50, "the light job runs in the very next batch"
    for flood in floods:
        await flood.cancel()
    await light.result()


async def test_eta_comes_from_measured_steps(pool: ProcessPool) -> None:
    assert pool.seconds_per_step is not None and pool.seconds_per_step > 0
    running = await pool.submit("eta-run", request(steps=10))
    waiting = await pool.submit("eta-wait", request(steps=10))
    first, second = pool.eta("eta-run"), pool.eta("eta-wait")
    assert first is not None and second is not None and second > first
    await running.result()
    await waiting.result()
    assert pool.eta("eta-wait") is None


async def test_job_past_its_timeout_fails_and_frees_the_worker(pool: ProcessPool) -> None:
    pool.job_timeout = 1.0
    try:
        slow = await pool.submit("timeout-1", request(steps=150))
        with pytest.raises(GenerationError, match=r"job timeout-1 timed out after 1 s"):
            await slow.result()
    finally:
        pool.job_timeout = 600.0
    after = await pool.submit("timeout-2", request())
    assert len((await after.result()).images) == 2


# Closes the shared pool, so it stays the last test of this module (the fixture's close() is then a no-op).
async def test_close_with_drain_finishes_submitted_jobs_first(pool: ProcessPool) -> None:
    running = await pool.submit("drain-1", request(steps=6))
    queued = await pool.submit("drain-2", request(seeds=(3,), requester="other"))
    await pool.close(drain=True)
    assert running.state == "done" and queued.state == "done"
    assert len((await queued.result()).images) == 1
    with pytest.raises(PoolClosedError):
        await pool.submit("drain-3", request())
    assert not pool.workers[0].process.is_alive()
