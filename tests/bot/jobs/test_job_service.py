"""The job service: persisted before queued, files before rows, every step an event (on the in-memory pool)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from bot.errors import GenerationFailedError, QueueFullError, ServiceStoppingError, UserInputError
from bot.jobs.spec import ImagineOptions, Place
from bot.render.png_metadata import png_size
from bot.services import Services
from bot.store import Actor, list_events
from bot.store.jobs import JobState, get_job
from gpu_worker.memory_pool import MemoryPool
from tests.bot.service_kit import make_settings, open_services

ALICE = Actor("101", "alice")
BOB = Actor("102", "bob")
PLACE = Place(guild_id="1", channel_id="10")


@pytest.fixture
async def service(tmp_path: Path, memory_pool: MemoryPool) -> AsyncIterator[Services]:
    settings = make_settings(tmp_path, steps=3, images_per_prompt=4, max_jobs_per_user=2, max_queued_jobs=3)
    built, db = await open_services(settings, memory_pool)
    yield built
    await built.jobs.shutdown()
    await db.close()


async def test_imagine_stores_job_images_files_and_events(service: Services) -> None:
    options = ImagineOptions("a lighthouse at dusk", negative_prompt="fog", seed=40)
    queued = await service.jobs.submit(ALICE, PLACE, await service.imagine.prepare(ALICE, PLACE, options))
    stored = await get_job(service.jobs.db, queued.job_id)
    assert stored is not None and stored.state in (JobState.QUEUED, JobState.RUNNING)
    finished = await service.jobs.wait(queued)
    assert finished.job.state is JobState.GENERATED
    assert finished.job.spec.render.seeds == (40, 41, 42, 43)
    assert [image.seed for image in finished.images] == [40, 41, 42, 43]
    for image in finished.images:
        assert png_size(service.jobs.files.read(image.sha256)) == (64, 64)
    grid = Image.open(io.BytesIO(await service.jobs.grid_png(finished.job, finished.images)))
    assert grid.size == (128, 128)
    kinds = [event.kind for event in await list_events(service.jobs.db, session_id=queued.session_id)]
    assert kinds == ["session.opened", "job.queued", "job.started", *["image.created"] * 4, "job.generated"]
    [queued_event] = await list_events(service.jobs.db, kinds=("job.queued",))
    assert queued_event.actor_id == ALICE.id and queued_event.payload["prompt"] == "a lighthouse at dusk"
    assert queued_event.payload["negative_prompt"] == "fog"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (ImagineOptions("   "), "The prompt is empty"),
        (ImagineOptions("\u200b\u200d\u2060\ufeff\u00ad"), "The prompt is empty"),
        (ImagineOptions("x" * 1001), "the limit is 1000"),
        (ImagineOptions("cat", count=12), "choose 1 to 9"),
        (ImagineOptions("cat", count=0), "The number of images is 0; choose 1 to 9"),
        (ImagineOptions("cat", aspect=""), "The aspect ratio '' is not offered; choose one of 1:1"),
        (ImagineOptions("cat", seed=-1), "The seed is -1; choose 0 to 4294967295"),
        (ImagineOptions("cat", width=100), "choose a multiple of 8 from 64 to 2048"),
        (ImagineOptions("cat", width=0), "The width is 0; choose a multiple of 8"),
        (ImagineOptions("cat", steps=0), "The number of steps is 0; choose 1 to 150"),
        (ImagineOptions("cat", steps=1.5), "1.5, not a whole number; choose 1 to 150"),  # type: ignore[arg-type]
        (ImagineOptions("cat", guidance=float("nan")), "The guidance must be a number; choose 0 to 30"),
        (ImagineOptions("cat", strength=0.0), "The strength is 0; choose 0.05 to 1"),
        (ImagineOptions("cat", steps=500), "choose 1 to 150"),
        (ImagineOptions("cat", guidance=99), "choose 0 to 30"),
    ],
)
async def test_bad_options_name_the_limit(service: Services, options: ImagineOptions, message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        await service.imagine.prepare(ALICE, PLACE, options)


async def test_queue_caps_refuse_and_lose_nothing(service: Services, memory_pool: MemoryPool) -> None:
    memory_pool.hold()  # every job stays queued, so each counts against the caps
    request = await service.imagine.prepare(ALICE, PLACE, ImagineOptions("a cat", count=1))
    first = await service.jobs.submit(ALICE, PLACE, request)
    second = await service.jobs.submit(ALICE, PLACE, request)
    with pytest.raises(QueueFullError, match="You already have 2 generations"):
        await service.jobs.submit(ALICE, PLACE, request)
    third = await service.jobs.submit(BOB, PLACE, request)
    with pytest.raises(QueueFullError, match=r"Salon's queue is full \(3 generations"):
        await service.jobs.submit(BOB, PLACE, request)
    memory_pool.release()
    done = await asyncio.gather(*(service.jobs.wait(job) for job in (first, second, third)))
    assert [f.job.state for f in done] == [JobState.GENERATED] * 3
    assert len(await list_events(service.jobs.db, kinds=("job.queued",))) == 3


async def test_images_waiting_per_member_are_capped_across_requests(tmp_path: Path, memory_pool: MemoryPool) -> None:
    built, db = await open_services(make_settings(tmp_path, max_queued_images_per_user=12), memory_pool)
    try:
        memory_pool.hold()
        nine = await built.imagine.prepare(ALICE, PLACE, ImagineOptions("a cat", count=9))
        four = await built.imagine.prepare(ALICE, PLACE, ImagineOptions("a cat", count=4))
        three = await built.imagine.prepare(ALICE, PLACE, ImagineOptions("a cat", count=3))
        first = await built.jobs.submit(ALICE, PLACE, nine)
        with pytest.raises(QueueFullError, match="You have 9 images waiting or running and asked for 4 more"):
            await built.jobs.submit(ALICE, PLACE, four)
        second = await built.jobs.submit(ALICE, PLACE, three)  # 12: exactly the limit
        other = await built.jobs.submit(BOB, PLACE, nine)  # another member's count is their own
        memory_pool.release()
        done = await asyncio.gather(*(built.jobs.wait(job) for job in (first, second, other)))
        assert [len(f.images) for f in done] == [9, 3, 9]
        await built.jobs.submit(ALICE, PLACE, four)  # finished images no longer count
    finally:
        await built.jobs.shutdown()
        await db.close()


async def test_jobs_per_minute_count_every_job_a_member_starts_and_say_when_to_go_on(
    tmp_path: Path, memory_pool: MemoryPool
) -> None:
    settings = make_settings(tmp_path, max_jobs_per_minute=2)
    limited, db = await open_services(settings, memory_pool)
    request = await limited.imagine.prepare(ALICE, PLACE, ImagineOptions("a cat", count=1))
    first = await limited.jobs.submit(ALICE, PLACE, request)
    await limited.jobs.wait(first)
    reroll = await limited.imagine.reroll(ALICE, PLACE, first.job_id)  # a reroll is a job like any other
    second = await limited.jobs.submit(ALICE, PLACE, reroll)
    await limited.jobs.wait(second)
    with pytest.raises(QueueFullError, match=r"You started 2 generations in the last minute.*go on in \d+ s"):
        await limited.jobs.submit(ALICE, PLACE, request)
    await limited.jobs.wait(await limited.jobs.submit(BOB, PLACE, request))  # the limit is per member
    assert len(await list_events(db, kinds=("job.queued",))) == 3  # nothing was queued by the refusal
    await db.close()


async def test_failed_generation_is_recorded(service: Services) -> None:
    request = await service.imagine.prepare(ALICE, PLACE, ImagineOptions("a cat", count=1))
    queued = await service.jobs.submit(ALICE, PLACE, request)
    await queued.handle.cancel()
    with pytest.raises(GenerationFailedError, match="did not finish"):
        await service.jobs.wait(queued)
    job = await get_job(service.jobs.db, queued.job_id)
    assert job is not None and job.state in (JobState.CANCELLED, JobState.FAILED) and job.error
    assert [e.kind for e in await list_events(service.jobs.db, subject=("job", queued.job_id))][
        -1
    ] == f"job.{job.state}"


async def test_shutdown_requeues_running_job(service: Services, memory_pool: MemoryPool) -> None:
    memory_pool.hold(running=True)  # the job stops before its second step: it is running at shutdown
    slow = await service.imagine.prepare(ALICE, PLACE, ImagineOptions("a slow cat", count=1))
    memory_pool.release()
    queued = await service.jobs.submit(ALICE, PLACE, slow)
    waiting = asyncio.create_task(service.jobs.wait(queued))
    async for update in queued.handle.progress():
        if update.step == 1:
            memory_pool.hold(running=True)
            break
    await service.jobs.shutdown()
    with pytest.raises(ServiceStoppingError, match=f"job #{queued.job_id} is kept"):
        await waiting
    job = await get_job(service.jobs.db, queued.job_id)
    assert job is not None and job.state is JobState.QUEUED
    assert (await list_events(service.jobs.db, subject=("job", queued.job_id)))[-1].kind == "job.suspended"
    with pytest.raises(ServiceStoppingError):
        await service.jobs.submit(ALICE, PLACE, slow)


async def test_a_failing_pool_fails_only_the_chosen_job_and_says_why(
    service: Services, memory_pool: MemoryPool
) -> None:
    memory_pool.fail_jobs(RuntimeError("CUDA out of memory"), prompt_contains="huge")
    huge = await service.jobs.submit(
        ALICE, PLACE, await service.imagine.prepare(ALICE, PLACE, ImagineOptions("a huge cat"))
    )
    small = await service.jobs.submit(
        BOB, PLACE, await service.imagine.prepare(BOB, PLACE, ImagineOptions("a small cat"))
    )
    with pytest.raises(GenerationFailedError, match="CUDA out of memory"):
        await service.jobs.wait(huge)
    assert (await service.jobs.wait(small)).job.state is JobState.GENERATED
    failed = await get_job(service.jobs.db, huge.job_id)
    assert failed is not None and failed.state is JobState.FAILED and "CUDA out of memory" in (failed.error or "")


@pytest.mark.worker
@pytest.mark.asyncio(loop_scope="module")  # the real pool is shared by the module, on its loop
async def test_the_real_worker_gives_the_same_pixels_for_the_same_seed(real_services: Services) -> None:
    jobs, imagine = real_services.jobs, real_services.imagine
    options = ImagineOptions("a lighthouse", seed=7, count=1)
    first = await jobs.wait(await jobs.submit(ALICE, PLACE, await imagine.prepare(ALICE, PLACE, options)))
    again = await jobs.wait(await jobs.submit(BOB, PLACE, await imagine.prepare(BOB, PLACE, options)))
    # The files differ (each carries its own job id); their pixels do not.
    pixels = [Image.open(io.BytesIO(jobs.files.read(done.images[0].sha256))).tobytes() for done in (first, again)]
    assert pixels[0] == pixels[1]
    assert png_size(jobs.files.read(first.images[0].sha256)) == (64, 64)


async def test_only_wildcard_lists_expand_and_info_names_them(service: Services) -> None:
    prepared = await service.imagine.prepare(ALICE, PLACE, ImagineOptions("a __dunder__ cat by __artists__", seed=3))
    spec = prepared.spec
    assert spec.wildcards == ("artists",)
    assert "__dunder__" in spec.render.prompt and "__artists__" not in spec.render.prompt
    assert any("`__dunder__` is not a wildcard list, so it was kept as text" in note for note in spec.notes)
