"""kill -9 of the bot at each step of a job's life, then a restart: every result is shown exactly once.

The bot runs as its own process (`python -m bot`) against the loopback Discord of the test, and
is killed with SIGKILL together with its GPU worker (its process group, as a service manager or
the OOM killer would): mid-batch while a party round waits, between generation and delivery
while Discord answers 500, and while the round's vote is open. Nothing is lost or shown twice,
and no message is left frozen with a progress bar and a dead Cancel button.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from itertools import count
from pathlib import Path

import pytest

from bot.demo import vote_message_after
from loopback import Message
from tests.e2e.conftest import BOT_TOKEN, World, shows_grid

REPO = Path(__file__).resolve().parents[2]


class BotProcess:
    """`python -m bot` in its own process group, its log in a file (no pipe left undrained)."""

    def __init__(self, world: World, data_dir: Path, models_dir: Path) -> None:
        self.world = world
        self.data_dir = data_dir
        self.log_path = data_dir.parent / "bot-process.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SALON_", "DISCORD_"))}
        env.update(
            DISCORD_TOKEN=BOT_TOKEN,
            DISCORD_API_BASE=world.server.api_base,
            DISCORD_GATEWAY_URL=world.server.gateway_url,
            SALON_DATA_DIR=str(data_dir),
            SALON_MODEL_CACHE_DIR=str(models_dir),
            SALON_IMAGE_WIDTH="64",
            SALON_IMAGE_HEIGHT="64",
            SALON_STEPS="2",
            SALON_GUILD_READY_TIMEOUT_SECONDS="0.1",
            SALON_DELIVERY_RETRY_SECONDS="0.05",
            SALON_DELIVERY_RETRY_CAP_SECONDS="0.2",
            PYTHONPATH=str(REPO),
        )
        self.env = env
        self.starts = 0
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        """Start the bot and return once the gateway has sent it READY."""
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                cwd=self.data_dir.parent,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self.starts += 1
        await self.world.server.wait_for_ready_sent(timeout=180, count=self.starts)

    async def kill(self) -> None:
        """SIGKILL the bot and its worker, and wait for the bot to be gone."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        await asyncio.wait_for(self.process.wait(), 30)
        assert self.process.returncode == -signal.SIGKILL

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 60)
            except TimeoutError:
                os.killpg(self.process.pid, signal.SIGKILL)
                await self.process.wait()

    def jobs(self) -> list[tuple[int, str, str | None]]:
        """Return (id, state, delivered_at) of every job, read from the database file."""
        with sqlite3.connect(f"file:{self.data_dir / 'salon.db'}?mode=ro", uri=True) as conn:
            return conn.execute("SELECT id, state, delivered_at FROM jobs ORDER BY id").fetchall()

    def events(self, kind: str) -> list[str | None]:
        with sqlite3.connect(f"file:{self.data_dir / 'salon.db'}?mode=ro", uri=True) as conn:
            return [row[0] for row in conn.execute("SELECT subject_id FROM events WHERE kind = ?", (kind,))]


def grids(world: World, channel_id: int, job_id: int) -> list[Message]:
    name = f"salon-{job_id}.png"
    return [m for m in world.server.channel_messages(channel_id) if any(a.filename == name for a in m.attachments)]


def frozen(world: World, *channel_ids: int) -> list[Message]:
    """Return the bot's messages still showing a running job (a Cancel button)."""
    return [
        m
        for channel_id in channel_ids
        for m in world.server.channel_messages(channel_id)
        if any(c.startswith("salon:cancel:") for c in m.custom_ids())
    ]


def job_of(message: Message, prefix: str) -> int:
    return int(message.custom_id(prefix).split(":")[2])


@pytest.mark.worker  # `python -m bot` in a subprocess, on its real worker
async def test_bot_killed_mid_batch_between_generation_and_delivery_and_mid_vote(
    world: World, tmp_path: Path, models_dir: Path
) -> None:
    server = world.server
    bot = BotProcess(world, tmp_path / "data", models_dir)
    alice, bob, carol = (server.driver(world.users[name]) for name in ("alice", "bob", "carol"))
    try:
        await bot.start()
        await server.wait_for(lambda: server.commands.get(0), timeout=60)
        started = await alice.slash(world.channel_id, "party start", {"topic": "tides", "vote_minutes": 60.0})
        await started.wait_for_original(lambda m: m.content and not m.loading, timeout=60)
        thread = await server.wait_for(lambda: next((c for c in server.channels.values() if c.is_thread), None))
        for member in (bob, carol):
            await (await member.slash(thread.id, "party join")).wait_for_original(lambda m: not m.loading)
        await (await alice.slash(thread.id, "party next")).wait_for_original(lambda m: not m.loading)

        # 1. Mid-batch: a long /imagine runs and a party round waits behind it.
        slow = await alice.slash(world.channel_id, "imagine", {"prompt": "a slow tide", "count": 1, "steps": 150})
        await server.wait_for(lambda: slow.original and "step" in slow.original.content, timeout=120)
        round_started = await alice.slash(thread.id, "party round")
        # The round's message is Salon's own in the thread; it shows the job's place in the queue.
        await server.wait_for(lambda: any("Job #" in m.content for m in server.channel_messages(thread.id)), 60)
        await bot.kill()
        assert {state for _, state, _ in bot.jobs()} <= {"queued", "running"}

        await bot.start()
        slow_grid = await server.wait_for(lambda: slow.original if shows_grid(slow.original) else None, 180)
        ballot = await server.wait_for(lambda: vote_message_after(server, round_started), timeout=180)
        round_id = int(ballot.custom_id("salon:pvote:").split(":")[2])
        assert "Voting closes" in ballot.content, "the resumed round opened its vote with a deadline"
        await (await bob.click(ballot, f"salon:pvote:{round_id}:0")).wait_for_original(lambda m: m.content)

        # 2. Between generation and delivery: Discord fails every post and edit for as long as it lasts.
        edits = server.faults.add("PATCH", r"^/webhooks/\d+/[^/]+/messages/", status=500)
        server.faults.add("POST", r"^/channels/\d+/messages$", status=500)
        between = await alice.slash(world.channel_id, "imagine", {"prompt": "between tides", "count": 1})
        between_id = None
        for hits in count(1):
            await server.faults.wait_for_hits(edits, hits, timeout=120)
            generated = [job_id for job_id, state, _ in bot.jobs() if state == "generated"]
            if generated:
                [between_id] = generated
                break
        # 3. ...and bob's vote on the round is open at the same moment: mid-vote.
        await bot.kill()
        server.faults.clear()

        await bot.start()
        between_grid = await server.wait_for(lambda: between.original if shows_grid(between.original) else None, 180)
        await (await carol.click(ballot, f"salon:pvote:{round_id}:0")).wait_for_original(lambda m: m.content)
        await (await alice.click(ballot, ballot.custom_id("salon:pclose:"))).wait_for_original(lambda m: m.content)
        result = await server.wait_for(
            lambda: next((m for m in server.channel_messages(thread.id) if "🏆 Round 1" in m.content), None), 60
        )
        assert "image 1 has the most votes (2)" in result.content, "bob's vote before the kill counts"

        # Every result exactly once, in the message that asked for it; none frozen; nothing lost.
        assert grids(world, world.channel_id, job_of(slow_grid, "salon:info:")) == [slow_grid]
        assert grids(world, world.channel_id, between_id) == [between_grid]
        assert len(grids(world, thread.id, ballot_job(bot))) == 1
        assert frozen(world, world.channel_id, thread.id) == []
        jobs = bot.jobs()
        assert len(jobs) == 3 and {state for _, state, _ in jobs} == {"delivered"}
        assert {str(job_id) for job_id, _, _ in jobs} <= set(bot.events("job.delivered"))
        assert len(bot.events("job.delivered")) == 3
        assert bot.events("job.resumed"), "the jobs of the killed process were resumed"
    finally:
        await bot.stop()


def ballot_job(bot: BotProcess) -> int:
    """Return the job id of the party round (the only party_round job)."""
    with sqlite3.connect(f"file:{bot.data_dir / 'salon.db'}?mode=ro", uri=True) as conn:
        [(job_id,)] = conn.execute("SELECT id FROM jobs WHERE feature = 'party_round'").fetchall()
    return job_id
