"""Delivery: from a worker's result to the grid shown, and from a restart to every pending result shown.

Both run the whole bot (discord.py against the loopback Discord, the tiny pipeline in a worker
process, the store on disk), so the figures include every step a user waits for:

1. `latency`: a lone `/imagine` of one image; the clock starts when the worker's result reaches
   the bot (the job handle resolves) and stops when the loopback Discord holds the edited reply
   with the grid. Storing the PNGs, the events, the grid and the upload are all inside.
2. `restart`: 20 results are generated while Discord answers 500 to every post and edit, so
   none is shown; the bot stops; Discord recovers; a new bot starts. The clock runs from
   `start()` to the last of the 20 results shown (and, apart, to the gateway's READY).

Run: `.venv/bin/python -m bench.delivery [--runs 10] [--pending 20]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

from bench._common import report
from bot.client import SalonBot, point_discord_at
from bot.settings import Settings, load_settings
from bot.store import list_events
from bot.store.jobs import JobState, jobs_in_states
from gpu_worker.tiny import build_tiny_pipeline_folder
from loopback import LoopbackDiscord
from loopback.faults import skip_discord_py_backoff

TOKEN = "bench-bot-token.salon"


def shows_grid(message: object) -> bool:
    return any(a.filename.startswith("salon-") for a in getattr(message, "attachments", None) or [])


async def start_bot(settings: Settings) -> tuple[SalonBot, asyncio.Task[None]]:
    point_discord_at(settings)
    bot = SalonBot(settings)
    runner = asyncio.create_task(bot.start(TOKEN))
    ready = asyncio.create_task(bot.wait_until_ready())
    done, _ = await asyncio.wait({runner, ready}, timeout=300, return_when=asyncio.FIRST_COMPLETED)
    if runner in done:
        runner.result()
    return bot, runner


async def stop_bot(bot: SalonBot, runner: asyncio.Task[None]) -> None:
    await bot.close()
    await asyncio.wait({runner}, timeout=60)


async def latency(server: LoopbackDiscord, settings: Settings, channel_id: int, user_id: int, runs: int) -> list[float]:
    bot, runner = await start_bot(settings)
    results_at: dict[str, float] = {}
    assert bot.pool is not None
    submit = bot.pool.submit

    async def timed_submit(job_id: str, request):  # type: ignore[no-untyped-def]
        handle = await submit(job_id, request)
        handle.add_done_callback(lambda h: results_at.setdefault(h.job_id, time.perf_counter()))
        return handle

    bot.pool.submit = timed_submit  # type: ignore[method-assign]
    waits = []
    try:
        driver = server.driver(user_id)
        for run in range(runs + 1):  # the first run warms the worker up and is not counted
            interaction = await driver.slash(channel_id, "imagine", {"prompt": f"lone job {run}", "count": 1})
            await server.wait_for(lambda i=interaction: shows_grid(i.original), timeout=120)
            shown = time.perf_counter()
            await bot.services.jobs.wait_until_settled()
            [job] = [
                j for j in await jobs_in_states(bot.db, (JobState.DELIVERED,)) if f"lone job {run}" in j.spec.prompt
            ]
            if run:
                waits.append(shown - results_at[str(job.id)])
    finally:
        await stop_bot(bot, runner)
    return waits


async def restart(server: LoopbackDiscord, settings: Settings, channel_id: int, user_id: int, pending: int) -> dict:
    bot, runner = await start_bot(settings)
    driver = server.driver(user_id)
    with skip_discord_py_backoff():
        server.faults.add("POST", r"^/channels/\d+/messages$", status=500)
        server.faults.add("PATCH", r"^/webhooks/\d+/[^/]+/messages/", status=500)
        asked = [
            await driver.slash(channel_id, "imagine", {"prompt": f"pending {n}", "count": 1}) for n in range(pending)
        ]
        await server.wait_for(lambda: all(i.acknowledged for i in asked), timeout=60)
        # Each job is stored right after its deferral; wake on the service's changes (or every
        # half second, as a bench may) until every result is generated and its delivery given up.
        while len(stuck := await jobs_in_states(bot.db, (JobState.GENERATED,))) < pending:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(bot.services.jobs.wait_for_change(), 0.5)
        await asyncio.wait_for(bot.services.jobs.wait_until_settled(), 600)
        assert len(stuck) == pending, f"{len(stuck)} of {pending} results were held back"
        await stop_bot(bot, runner)
    server.faults.clear()

    began = time.perf_counter()
    bot, runner = await start_bot(settings)
    try:
        ready = time.perf_counter() - began
        await asyncio.wait_for(bot.services.jobs.wait_until_settled(), 600)
        delivered = time.perf_counter() - began
        shown = await jobs_in_states(bot.db, (JobState.DELIVERED,))
        assert len(shown) == pending
        # How long the 20 deliveries themselves took, from the first to the last `job.delivered`.
        moments = [datetime.fromisoformat(e.occurred_at) for e in await list_events(bot.db, kinds=("job.delivered",))]
        span = (max(moments) - min(moments)).total_seconds()
    finally:
        await stop_bot(bot, runner)
    return {
        "pending": pending,
        "start_to_ready_s": round(ready, 3),
        "start_to_all_delivered_s": round(delivered, 3),
        "first_to_last_delivery_s": round(span, 3),
    }


async def main(runs: int, pending: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        build_tiny_pipeline_folder(root / "models")
        server = LoopbackDiscord()
        await server.start()
        try:
            server.create_application(name="Salon", token=TOKEN)
            guild = server.create_guild("bench")
            channel = server.create_text_channel(guild.id, "imagine")
            user = server.create_user("bencher")
            server.add_member(guild.id, user.id)
            lat: list[float] = []
            restarts = []
            # Rounds interleave the two measurements, each on a fresh data folder.
            for n in range(rounds):
                common = {
                    "discord_token": TOKEN,
                    "discord_api_base": server.api_base,
                    "discord_gateway_url": server.gateway_url,
                    "model_source": "tiny",
                    "model_cache_dir": root / "models",
                    "image_width": 64,
                    "image_height": 64,
                    "steps": 2,
                    "log_level": "WARNING",
                    "delivery_retry_seconds": 0.01,
                    "delivery_retry_cap_seconds": 0.01,
                    "delivery_give_up_seconds": 0.05,
                    "max_jobs_per_user": max(10, pending),
                }
                lat += await latency(
                    server, load_settings(data_dir=root / f"lat{n}", **common), channel.id, user.id, runs
                )
                restarts.append(
                    await restart(
                        server, load_settings(data_dir=root / f"restart{n}", **common), channel.id, user.id, pending
                    )
                )
        finally:
            await server.stop()
    report(
        "delivery.latency",
        {
            "runs": len(lat),
            "result_to_grid_median_s": round(statistics.median(lat), 4),
            "result_to_grid_min_s": round(min(lat), 4),
            "result_to_grid_max_s": round(max(lat), 4),
        },
    )
    report(
        "delivery.restart",
        {
            "rounds": len(restarts),
            "pending": pending,
            "start_to_ready_median_s": statistics.median(r["start_to_ready_s"] for r in restarts),
            "start_to_all_delivered_median_s": statistics.median(r["start_to_all_delivered_s"] for r in restarts),
            "start_to_all_delivered_each_s": [r["start_to_all_delivered_s"] for r in restarts],
            "first_to_last_delivery_median_s": statistics.median(r["first_to_last_delivery_s"] for r in restarts),
        },
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="lone jobs timed per round")
    parser.add_argument("--pending", type=int, default=20, help="results waiting when the bot restarts")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of both measurements")
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.pending, args.rounds))
