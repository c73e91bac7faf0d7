"""How a job's message reads while it waits and runs, and how often it may be edited."""

from __future__ import annotations

from bot.jobs.progress import EditThrottle, health_line, paused_text, progress_bar, progress_text
from gpu_worker import PoolHealth


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_edits_are_at_least_one_and_a_half_seconds_apart() -> None:
    clock = FakeClock()
    throttle = EditThrottle(clock=clock)
    assert throttle.ready()
    throttle.mark()
    clock.now += 1.0
    assert not throttle.ready() and abs(throttle.wait_time() - 0.5) < 1e-9
    clock.now += 0.5
    assert throttle.ready()


def test_bar_and_text() -> None:
    assert progress_bar(5, 10, width=10) == "▰▰▰▰▰▱▱▱▱▱ 50%"
    assert (
        progress_text(7, position=3, eta=42.0, step=None, total=None)
        == "⏳ Job #7 is queued, 3 ahead of it · about 42 s left"
    )
    assert progress_text(7, position=None, eta=None, step=10, total=20).startswith("🎨 Job #7: step 10/20 ")


def test_a_job_a_worker_has_taken_says_running_before_its_first_step_as_queue_does() -> None:
    assert progress_text(7, position=None, eta=None, step=None, total=None, started=True).startswith(
        "🎨 Job #7 is running"
    )
    # Back in the queue after its worker died: queued again, with its place.
    assert "queued, 2 ahead" in progress_text(7, position=2, eta=None, step=None, total=None, started=True)


def test_a_model_loading_for_the_job_is_named_with_how_long_it_took_before() -> None:
    loading = {"position": None, "eta": None, "step": 0, "total": 0, "started": True, "loading_model": "sdxl"}
    text = progress_text(7, **loading, loading_seconds=42)  # type: ignore[arg-type]
    assert text == "📦 Job #7: loading model sdxl, about 42 s; its steps start after that"
    first = progress_text(7, **loading)  # type: ignore[arg-type]
    assert first == "📦 Job #7: loading model sdxl; its steps start after that"


def test_a_pool_still_loading_its_first_model_is_not_called_restarting() -> None:
    starting = PoolHealth(ready_workers=0, total_workers=1, starting=True)
    assert paused_text(7, starting).startswith("⏳ Salon has just started and is loading its model. Job #7 is kept")
    assert health_line(starting).startswith("⏳ Salon has just started and is loading its model")
    restarting = PoolHealth(ready_workers=0, total_workers=1, restarting=True, attempt=2)
    assert "restarting (attempt 2" in paused_text(7, restarting)
