"""The generation service: persisted before queued, files before rows, every step an event."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
import pytest_asyncio
from PIL import Image

from bot.errors import GenerationFailedError, QueueFullError, ServiceStoppingError, UserInputError
from bot.generation import GenerationDefaults, GenerationService, ImagineOptions, Place, QueueLimits
from bot.store import Actor, Database, ImageFiles, list_events
from bot.store.jobs import JobState, get_job
from gpu_worker import ProcessPool

pytestmark = pytest.mark.asyncio(loop_scope="module")

ALICE = Actor("101", "alice")
BOB = Actor("102", "bob")
PLACE = Place(guild_id="1", channel_id="10")
DEFAULTS = GenerationDefaults(model="tiny", width=64, height=64, steps=3, count=4)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pool(models_dir: Path):
    started = ProcessPool("tiny", ["cpu"], models_dir)
    await started.start()
    yield started
    await started.close()


@pytest_asyncio.fixture(loop_scope="module")
async def service(pool: ProcessPool, tmp_path: Path):
    db = Database(tmp_path / "salon.db")
    await db.open()
    yield GenerationService(db, ImageFiles(tmp_path / "images"), pool, defaults=DEFAULTS, limits=QueueLimits(2, 3))
    await db.close()


async def test_imagine_stores_job_images_files_and_events(service: GenerationService) -> None:
    options = ImagineOptions("a lighthouse at dusk", negative_prompt="fog", seed=40)
    queued = await service.submit(ALICE, PLACE, await service.prepare(ALICE, PLACE, options))
    stored = await get_job(service.db, queued.job_id)
    assert stored is not None and stored.state in (JobState.QUEUED, JobState.RUNNING)
    finished = await service.wait(queued)
    assert finished.job.state is JobState.GENERATED
    assert finished.job.spec.render.seeds == (40, 41, 42, 43)
    assert [image.seed for image in finished.images] == [40, 41, 42, 43]
    for image in finished.images:
        assert Image.open(service.files.path_for(image.sha256)).size == (64, 64)
    grid = Image.open(io.BytesIO(await service.grid_png(finished.job, finished.images)))
    assert grid.size == (128, 128)
    kinds = [event.kind for event in await list_events(service.db, session_id=queued.session_id)]
    assert kinds == ["session.opened", "job.queued", "job.started", *["image.created"] * 4, "job.generated"]
    [queued_event] = await list_events(service.db, kinds=("job.queued",))
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
async def test_bad_options_name_the_limit(service: GenerationService, options: ImagineOptions, message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        await service.prepare(ALICE, PLACE, options)


async def test_queue_caps_refuse_and_lose_nothing(service: GenerationService) -> None:
    request = await service.prepare(ALICE, PLACE, ImagineOptions("a cat", count=1))
    first = await service.submit(ALICE, PLACE, request)
    second = await service.submit(ALICE, PLACE, request)
    with pytest.raises(QueueFullError, match="You already have 2 generations"):
        await service.submit(ALICE, PLACE, request)
    third = await service.submit(BOB, PLACE, request)
    with pytest.raises(QueueFullError, match=r"Salon's queue is full \(3 generations"):
        await service.submit(BOB, PLACE, request)
    done = await asyncio.gather(*(service.wait(job) for job in (first, second, third)))
    assert [f.job.state for f in done] == [JobState.GENERATED] * 3
    assert len(await list_events(service.db, kinds=("job.queued",))) == 3


async def test_jobs_per_minute_count_every_job_a_member_starts_and_say_when_to_go_on(
    service: GenerationService,
) -> None:
    limited = GenerationService(
        service.db, service.files, service.pool, defaults=DEFAULTS, limits=QueueLimits(10, 10, per_minute=2)
    )
    request = await limited.prepare(ALICE, PLACE, ImagineOptions("a cat", count=1))
    first = await limited.submit(ALICE, PLACE, request)
    await limited.wait(first)
    reroll = await limited.reroll(ALICE, PLACE, first.job_id)  # a reroll is a job like any other
    second = await limited.submit(ALICE, PLACE, reroll)
    await limited.wait(second)
    with pytest.raises(QueueFullError, match=r"You started 2 generations in the last minute.*go on in \d+ s"):
        await limited.submit(ALICE, PLACE, request)
    await limited.wait(await limited.submit(BOB, PLACE, request))  # the limit is per member
    assert len(await list_events(service.db, kinds=("job.queued",))) == 3  # nothing was queued by the refusal


async def test_failed_generation_is_recorded(service: GenerationService) -> None:
    request = await service.prepare(ALICE, PLACE, ImagineOptions("a cat", count=1))
    queued = await service.submit(ALICE, PLACE, request)
    await queued.handle.cancel()
    with pytest.raises(GenerationFailedError, match="did not finish"):
        await service.wait(queued)
    job = await get_job(service.db, queued.job_id)
    assert job is not None and job.state in (JobState.CANCELLED, JobState.FAILED) and job.error
    assert [e.kind for e in await list_events(service.db, subject=("job", queued.job_id))][-1] == f"job.{job.state}"


async def test_shutdown_requeues_running_job(models_dir: Path, tmp_path: Path) -> None:
    own_pool = ProcessPool("tiny", ["cpu"], models_dir)
    await own_pool.start()
    db = Database(tmp_path / "own.db")
    await db.open()
    service = GenerationService(db, ImageFiles(tmp_path / "images"), own_pool, defaults=DEFAULTS)
    slow = await service.prepare(ALICE, PLACE, ImagineOptions("a slow cat", steps=150, count=1))
    queued = await service.submit(ALICE, PLACE, slow)
    waiting = asyncio.create_task(service.wait(queued))
    async for update in queued.handle.progress():
        if update.step == 1:
            break
    await service.shutdown()
    with pytest.raises(ServiceStoppingError, match=f"job #{queued.job_id} is kept"):
        await waiting
    job = await get_job(db, queued.job_id)
    assert job is not None and job.state is JobState.QUEUED
    assert (await list_events(db, subject=("job", queued.job_id)))[-1].kind == "job.suspended"
    with pytest.raises(ServiceStoppingError):
        await service.submit(ALICE, PLACE, slow)
    await db.close()


async def test_only_wildcard_lists_expand_and_info_names_them(service: GenerationService) -> None:
    prepared = await service.prepare(ALICE, PLACE, ImagineOptions("a __dunder__ cat by __artists__", seed=3))
    spec = prepared.spec
    assert spec.wildcards == ("artists",)
    assert "__dunder__" in spec.render.prompt and "__artists__" not in spec.render.prompt
    assert any("`__dunder__` is not a wildcard list, so it was kept as text" in note for note in spec.notes)
