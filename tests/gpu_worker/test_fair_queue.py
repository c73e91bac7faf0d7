"""The fair queue takes turns across sessions and requesters, honours priority, and forms batches."""

from __future__ import annotations

from dataclasses import dataclass

from gpu_worker.requests import GenerationRequest
from gpu_worker.scheduling import FairQueue, batch_key


@dataclass
class Job:
    job_id: str
    request: GenerationRequest


def job(job_id: str, requester: str, session: str = "channel:1", *, images: int = 1, **changes: object) -> Job:
    values: dict[str, object] = {"width": 64, "height": 64, "steps": 4, **changes}
    request = GenerationRequest(
        kind="txt2img",
        prompt=job_id,
        seeds=tuple(range(images)),
        requester=requester,
        session=session,
        **values,  # type: ignore[arg-type]
    )
    return Job(job_id, request)


def test_requesters_take_turns_within_a_session() -> None:
    queue: FairQueue[Job] = FairQueue()
    for n in range(3):
        queue.push(job(f"a{n}", "alice"))
    queue.push(job("b0", "bob"))
    queue.push(job("c0", "carol"))
    assert [j.job_id for j in queue.order()] == ["a0", "b0", "c0", "a1", "a2"]
    assert queue.position("c0") == 2 and queue.position("nope") is None


def test_sessions_take_turns_before_requesters() -> None:
    queue: FairQueue[Job] = FairQueue()
    for n in range(3):
        queue.push(job(f"s1-{n}", f"user{n}", "channel:busy"))
    queue.push(job("party", "dora", "party:7"))
    assert [j.job_id for j in queue.order()][:2] == ["s1-0", "party"]


def test_priority_goes_first() -> None:
    queue: FairQueue[Job] = FairQueue()
    queue.push(job("normal", "alice"))
    queue.push(job("round", "bob", "party:1", priority=10))
    assert [j.job_id for j in queue.order()] == ["round", "normal"]


def test_flooding_user_delays_another_by_one_batch_at_most() -> None:
    queue: FairQueue[Job] = FairQueue()
    for n in range(50):
        queue.push(job(f"flood{n}", "heavy", images=4))
    queue.push(job("light", "light", images=4))
    first = queue.pop_batch(max_images=8)
    assert [j.job_id for j in first] == ["flood0", "light"]
    assert len(queue) == 49


def test_batch_takes_only_compatible_jobs_up_to_the_limit() -> None:
    queue: FairQueue[Job] = FairQueue()
    queue.push(job("a", "alice", images=3))
    queue.push(job("big", "bob", images=3, width=128))
    queue.push(job("c", "carol", images=3))
    queue.push(job("d", "dan", images=2))
    batch = queue.pop_batch(max_images=8)
    assert [j.job_id for j in batch] == ["a", "c", "d"]
    assert [j.job_id for j in queue.order()] == ["big"]
    assert batch_key(batch[0].request) != batch_key(queue.order()[0].request)


def test_a_batch_never_mixes_models() -> None:
    queue: FairQueue[Job] = FairQueue()
    queue.push(job("a", "alice", model="sd15"))
    queue.push(job("b", "bob", model="sdxl"))
    queue.push(job("c", "carol", model="sd15"))
    assert [j.job_id for j in queue.pop_batch(max_images=8)] == ["a", "c"]
    assert [j.job_id for j in queue.pop_batch(max_images=8)] == ["b"]


def test_someone_just_served_waits_behind_someone_not_yet_served() -> None:
    queue: FairQueue[Job] = FairQueue()
    queue.push(job("h0", "heavy", images=4))
    assert [j.job_id for j in queue.pop_batch(max_images=4)] == ["h0"]
    for n in range(1, 6):
        queue.push(job(f"h{n}", "heavy", images=4))
    queue.push(job("light", "light", images=4))
    assert [j.job_id for j in queue.pop_batch(max_images=4)] == ["light"]
    assert [j.job_id for j in queue.pop_batch(max_images=4)] == ["h1"]


def test_retry_goes_to_the_front_of_its_line_and_remove_and_drain() -> None:
    queue: FairQueue[Job] = FairQueue()
    queue.push(job("a1", "alice"))
    queue.push(job("a0", "alice"), front=True)
    assert [j.job_id for j in queue.order()] == ["a0", "a1"]
    assert queue.remove("a1") is not None and queue.remove("a1") is None
    assert [j.job_id for j in queue.drain()] == ["a0"] and len(queue) == 0
