"""A job's life against a hostile world, end to end through the loopback Discord.

The worker dies (mid-batch, and again while its replacement loads), a member floods `/imagine`,
buttons are forged or malformed, another program holds the database's write lock, the disk is
full, Discord answers 500 to every post, and interactions arrive before `on_ready`. In each case
every job ends delivered exactly once, or is refused privately with nothing stored.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from bot.client import SalonBot, point_discord_at
from bot.demo import vote_message_after
from bot.settings import Settings
from bot.store import list_events
from bot.store.jobs import JobState, jobs_in_states
from gpu_worker import GenerationPool, PoolEvent, ProcessPool
from gpu_worker.memory_pool import MemoryPool
from gpu_worker.registry import single_model_registry
from loopback import Message
from loopback.faults import skip_discord_py_backoff
from loopback.interactions import MESSAGE_COMPONENT
from tests.e2e.conftest import BOT_TOKEN, RunningSalon, World, shows_grid
from tests.gpu_worker.test_pool_health import kill_worker, next_event


def result_messages(world: World, channel_id: int, job_id: int) -> list[Message]:
    """Return every message in the channel that carries job `job_id`'s grid."""
    name = f"salon-{job_id}.png"
    return [
        m
        for m in world.server.channel_messages(channel_id)
        if any(attachment.filename == name for attachment in m.attachments)
    ]


async def grid_of(world: World, interaction, timeout: float = 120) -> Message:
    return await world.server.wait_for(
        lambda: interaction.original if shows_grid(interaction.original) else None, timeout=timeout
    )


async def private_text(world: World, interaction) -> str:
    """Return what the bot said to the user in answer to `interaction`, checking that only they saw it."""
    message = await world.server.wait_for(
        lambda: next((m for m in interaction.messages if m.content and not m.loading), None), timeout=30
    )
    assert message.ephemeral, f"said in public: {message.content!r}"
    return message.content


async def test_worker_killed_twice_and_a_flood_past_the_cap_lose_nothing(
    world: World, salon_settings: Callable[..., Settings], tmp_path: Path, models_dir: Path
) -> None:
    settings = salon_settings(max_jobs_per_user=3, worker_restart_seconds=0.05, steps=2, model_cache_dir=models_dir)
    running = RunningSalon(settings, worker=True)
    bot = await running.start()
    try:
        pool = bot.pool
        assert isinstance(pool, ProcessPool)
        alice, bob = (world.server.driver(world.users[name]) for name in ("alice", "bob"))
        first = await grid_of(world, await alice.slash(world.channel_id, "imagine", {"prompt": "a kite", "count": 1}))
        await running.settled()

        # Mid-batch: the worker dies under a running job, and every restart fails to load until
        # the model is back, so generation is paused for as long as the test needs.
        pool.registry = single_model_registry(str(tmp_path / "no-such-model"))
        slow = await alice.slash(world.channel_id, "imagine", {"prompt": "a slow walk", "count": 1, "steps": 150})
        await world.server.wait_for(lambda: slow.original and "step" in slow.original.content, timeout=60)
        load_failed = next_event(pool, "worker_load_failed")
        kill_worker(pool)
        await load_failed
        await world.server.wait_for(lambda: "Generation is paused" in slow.original.content, timeout=30)

        # While paused, bob floods /imagine: exactly the cap is accepted, the rest refused privately.
        flood = [await bob.slash(world.channel_id, "imagine", {"prompt": f"flood {n}", "count": 1}) for n in range(200)]
        await world.server.wait_for(lambda: all(i.acknowledged or i.refused for i in flood), timeout=120)
        assert not any(i.refused for i in flood), "every interaction is answered within 3 s"
        limit = "You already have 3 generations"

        def outcome(interaction) -> str | None:
            if any(m.ephemeral and limit in m.content for m in interaction.messages):
                return "refused"
            original = interaction.original
            return "accepted" if original and not original.ephemeral and "Job #" in original.content else None

        await world.server.wait_for(lambda: all(outcome(i) for i in flood), timeout=120)
        refused = [i for i in flood if outcome(i) == "refused"]
        assert len(refused) == 197
        bobs = [job for job in await jobs_in_states(bot.db, tuple(JobState)) if job.requester_id == str(bob.id)]
        assert len(bobs) == 3
        accepted = [i for i in flood if i not in refused]
        await world.server.wait_for(
            lambda: all("Generation is paused" in (i.original.content if i.original else "") for i in accepted),
            timeout=30,
        )
        health = await (await bob.slash(world.channel_id, "queue")).wait_for_original()
        assert "Generation is paused" in health.content and "about" not in health.content, "no ETA while paused"

        # The reroll button and the 🔁 reaction make jobs too: past the cap they are refused.
        reroll = await bob.click(first, first.custom_id("salon:reroll:"))
        assert "You already have 3 generations" in await private_text(world, reroll)
        await bob.react(first, "🔁")
        await world.server.wait_for(
            lambda: any(
                "You already have 3 generations" in m.content and f"<@{bob.id}>" in m.content
                for m in world.server.channel_messages(world.channel_id)
            ),
            timeout=30,
        )
        assert len([j for j in await jobs_in_states(bot.db, tuple(JobState)) if j.requester_id == str(bob.id)]) == 3

        # Again while the fresh worker loads: the model comes back, the first restart is killed.
        def kill_the_fresh_worker(event: PoolEvent) -> None:
            if event.kind == "worker_restarting":
                pool.remove_listener(kill_the_fresh_worker)
                kill_worker(pool)

        pool.add_listener(kill_the_fresh_worker)
        pool.registry = single_model_registry("tiny")
        for interaction in [slow, *accepted]:
            await grid_of(world, interaction)
        await running.settled()
        jobs = await jobs_in_states(bot.db, tuple(JobState))
        assert {job.state for job in jobs} == {JobState.DELIVERED}, "every job finishes: none lost"
        for job in jobs:
            assert len(result_messages(world, world.channel_id, job.id)) == 1
        kinds = [event.kind for event in await list_events(bot.db)]
        for kind in ("worker.crashed", "worker.restarting", "worker.load_failed", "worker.ready", "job.retried"):
            assert kind in kinds, kind
    finally:
        await running.stop()


async def test_forged_and_malformed_custom_ids_get_a_private_refusal(world: World, salon: RunningSalon) -> None:
    alice = world.server.driver(world.users["alice"])
    grid = await grid_of(world, await alice.slash(world.channel_id, "imagine", {"prompt": "a red kite", "count": 2}))
    await salon.settled()
    [job] = await jobs_in_states(salon.bot.db, (JobState.DELIVERED,))

    # Another server, where Salon also posts; a hostile member there names the first server's job.
    other = world.server.create_guild("Elsewhere")
    channel = world.server.create_text_channel(other.id, "general")
    mallory = world.server.create_user("mallory")
    world.server.add_member(other.id, mallory.id)
    world.server.add_member(world.guild_id, mallory.id)
    there = await grid_of(
        world, await world.server.driver(mallory.id).slash(channel.id, "imagine", {"prompt": "a boat", "count": 1})
    )
    await salon.settled()

    def forge(custom_id: str, source: Message):
        data = {"custom_id": custom_id, "component_type": 2}
        user = world.server.users[mallory.id]
        return world.server.interaction_service.create(
            user, source.channel, MESSAGE_COMPONENT, data, source_message=source
        )

    # The stand-in lets a message of Salon's in the other server carry buttons naming the first
    # server's job, as a tampered client or a copied message would.
    buttons = [f"salon:u:{job.id}:0", f"salon:v:{job.id}:1", f"salon:reroll:{job.id}", f"salon:info:{job.id}"]
    row = {"type": 1, "components": [{"type": 2, "style": 2, "label": "x", "custom_id": c} for c in buttons]}
    assert world.server.application is not None
    planted = world.server.post_message(channel, world.server.application, {"content": "…", "components": [row]})
    before = len(world.server.channel_messages(channel.id))
    for forged in buttons:
        text = await private_text(world, forge(forged, planted))
        assert "belongs to another channel" in text, (forged, text)
        assert "a red kite" not in text
    # The same ids on a message that does not carry them: discord.py ignores them, Salon answers.
    for forged in buttons:
        assert "no longer works" in await private_text(world, forge(forged, there))
    mark = await world.server.driver(mallory.id).slash(channel.id, "regions mark", {"job": job.id, "like": "A1"})
    assert "belongs to another channel" in await private_text(world, mark)
    assert len(world.server.channel_messages(channel.id)) == before, "nothing was posted for a forged id"
    assert len(await jobs_in_states(salon.bot.db, tuple(JobState))) == 2, "no job was made"

    for malformed in (
        "salon:u:abc:0",
        "salon:u:1",
        "salon:u:99999999999999999999999999:0",
        "salon:nothing:1",
        "not-salon-at-all",
        "x" * 100,
        f"salon:pvote:{job.id}:zz",
    ):
        interaction = forge(malformed, grid)
        await world.server.wait_for(lambda i=interaction: i.acknowledged or i.refused, timeout=10)
        assert not interaction.refused, f"{malformed!r} was answered within 3 s"
        assert "no longer works" in await private_text(world, interaction), malformed


async def test_queue_answers_while_another_process_holds_the_write_lock(world: World, salon: RunningSalon) -> None:
    alice = world.server.driver(world.users["alice"])
    await grid_of(world, await alice.slash(world.channel_id, "imagine", {"prompt": "a red kite", "count": 1}))
    await salon.settled()
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import sqlite3, sys\n"
        "conn = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "conn.execute('BEGIN IMMEDIATE')\n"
        "conn.execute('UPDATE jobs SET id = id WHERE 0')\n"
        "print('locked', flush=True)\n"
        "sys.stdin.readline()\n"  # holds the write lock until the test lets go (or 10 s pass)
        "conn.rollback()\n",
        str(salon.bot.settings.resolved_database_path),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert await asyncio.wait_for(holder.stdout.readline(), 30) == b"locked\n"
        queue = await alice.slash(world.channel_id, "queue")
        await world.server.wait_for(lambda: queue.acknowledged or queue.refused, timeout=10)
        assert not queue.refused, "/queue answered within Discord's 3 s while the writer waits"
        assert "queue" in (await queue.wait_for_original()).content.lower()
        # A write gives up after the busy timeout, says so privately, and leaves nothing half-made.
        blocked = await alice.slash(world.channel_id, "imagine", {"prompt": "while locked", "count": 1})
        assert "storage is busy" in await private_text(world, blocked)
    finally:
        holder.stdin.write(b"\n")
        await holder.stdin.drain()
        await asyncio.wait_for(holder.communicate(), 30)
    assert len(await jobs_in_states(salon.bot.db, tuple(JobState))) == 1


async def test_a_full_disk_queues_nothing_and_says_so(
    world: World, salon: RunningSalon, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = salon.bot.db
    writer = db.conn
    execute = writer.execute

    async def disk_full_on_jobs(sql: str, *args: object):  # type: ignore[no-untyped-def]
        # What SQLite answers when the disk fills up mid-transaction: the session and prompt rows of
        # the same transaction are already written, so this also checks that they are rolled back.
        if sql.startswith("INSERT INTO jobs"):
            raise sqlite3.OperationalError("database or disk is full")
        return await execute(sql, *args)

    monkeypatch.setattr(writer, "execute", disk_full_on_jobs)
    alice = world.server.driver(world.users["alice"])
    interaction = await alice.slash(world.channel_id, "imagine", {"prompt": "the sea", "count": 1})
    text = await private_text(world, interaction)
    assert "storage is full" in text and "nothing was" in text
    monkeypatch.undo()
    assert await jobs_in_states(db, tuple(JobState)) == [], "no half-made job"
    assert await db.fetchall("SELECT id FROM prompts") == [] and await db.fetchall("SELECT id FROM sessions") == []
    assert not [m for m in world.server.channel_messages(world.channel_id) if not m.deleted and not m.ephemeral]
    again = await alice.slash(world.channel_id, "imagine", {"prompt": "after the cleanup", "count": 1})
    await grid_of(world, again)


async def test_a_lasting_500_on_posts_delivers_once_it_clears_or_at_the_next_start(
    world: World, salon_settings: Callable[..., Settings]
) -> None:
    settings = salon_settings(delivery_retry_seconds=0.05, delivery_retry_cap_seconds=0.2, delivery_give_up_seconds=600)
    running = RunningSalon(settings)
    bot = await running.start()
    server = world.server
    alice = server.driver(world.users["alice"])
    try:
        with skip_discord_py_backoff():
            # Every message post and every edit of an interaction's reply fails, for as long as it lasts.
            server.faults.add("POST", r"^/channels/\d+/messages$", status=500)
            server.faults.add("PATCH", r"^/webhooks/\d+/[^/]+/messages/", status=500)
            clears = await alice.slash(world.channel_id, "imagine", {"prompt": "clears soon", "count": 1})
            failed = await wait_for_event(bot, "job.delivery_failed")
            assert failed.payload["final"] is False
            server.faults.clear()
            grid = await grid_of(world, clears)
            await running.settled()
            [job] = await jobs_in_states(bot.db, (JobState.DELIVERED,))
            assert result_messages(world, world.channel_id, job.id) == [grid]

            # A fault that outlasts the give-up time: the result waits in the store for the next start.
            bot.deliverer.timing = replace(bot.deliverer.timing, give_up_after_seconds=0.5)
            server.faults.add("POST", r"^/channels/\d+/messages$", status=500)
            lasting = server.faults.add("PATCH", r"^/webhooks/\d+/[^/]+/messages/", status=500)
            stays = await alice.slash(world.channel_id, "imagine", {"prompt": "at the next start", "count": 1})
            given_up = await wait_for_event(bot, "job.delivery_failed", final=True)
            assert lasting.hits >= 1, "the edit that would deliver it was tried, and failed"
            await running.settled()
            [waiting] = await jobs_in_states(bot.db, (JobState.GENERATED,))
            assert str(waiting.id) == given_up.subject_id and waiting.delivery_error
            await running.stop()
            server.faults.clear()
        restarted = RunningSalon(settings)
        await restarted.start()
        try:
            shown = await grid_of(world, stays)
            await restarted.settled()
            assert result_messages(world, world.channel_id, waiting.id) == [shown]
            assert {job.state for job in await jobs_in_states(restarted.bot.db, tuple(JobState))} == {
                JobState.DELIVERED
            }
        finally:
            await restarted.stop()
    finally:
        await running.stop()


async def wait_for_event(bot: SalonBot, kind: str, *, final: bool | None = None, timeout: float = 120):
    """Return the first event of `kind` in the store (and `final`), waiting on the service's changes."""

    async def found():
        for event in await list_events(bot.db, kinds=(kind,)):
            if final is None or event.payload.get("final") is final:
                return event
        return None

    async def wait() -> object:
        while True:
            # Listen before looking: a change that lands while the store is read is not missed.
            change = asyncio.ensure_future(bot.services.jobs.wait_for_change())
            await asyncio.sleep(0)  # a yield, not a wait: the listener is in place after it
            if (event := await found()) is not None:
                change.cancel()
                return event
            await change

    return await asyncio.wait_for(wait(), timeout)


async def test_a_party_in_the_thread_of_a_themed_channel_uses_its_theme(world: World, salon: RunningSalon) -> None:
    server = world.server
    mod = server.create_user("mod")
    server.add_member(world.guild_id, mod.id, permissions=1 << 4)
    await (await server.driver(mod.id).slash(world.channel_id, "theme set", {"preset": "cats"})).wait_for_original()
    alice = server.driver(world.users["alice"])
    started = await alice.slash(world.channel_id, "party start", {"topic": "naps", "vote_minutes": 60.0})
    await started.wait_for_original(lambda m: m.content and not m.loading, timeout=60)
    thread = await server.wait_for(lambda: next((c for c in server.channels.values() if c.is_thread), None))
    await (await alice.slash(thread.id, "party next")).wait_for_original(lambda m: m.content and not m.loading)
    # The parent channel's rules hold in its thread: the topic alone does not mention a cat.
    refused = await alice.slash(thread.id, "party round")
    assert "This channel is about cats" in await private_text(world, refused)
    committed = await alice.slash(thread.id, "party commit", {"text": "a kitten napping in the sun"})
    await committed.wait_for_original(lambda m: m.content and not m.loading)
    round_started = await alice.slash(thread.id, "party round")
    await world.server.wait_for(lambda: vote_message_after(world.server, round_started), 120)
    await salon.settled()
    [job] = await jobs_in_states(salon.bot.db, (JobState.DELIVERED,))
    assert job.channel_id == str(thread.id) and job.rules_channel_id == str(world.channel_id)
    assert job.spec.theme == "cats" and "a cat, adorable, detailed fur" in job.spec.render.prompt


class SharedPool:
    """One started pool lent to many bots in turn: each start is a real bot start, without a pool start."""

    def __init__(self, pool: GenerationPool) -> None:
        self.pool = pool
        self._listeners: list[object] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self.pool, name)

    async def start(self) -> None:
        """The pool is already started."""

    def add_listener(self, listener) -> None:
        self._listeners.append(listener)
        self.pool.add_listener(listener)

    async def close(self, drain: bool = False) -> None:
        """Hand the pool back (its owner closes it): forget this bot's listeners."""
        for listener in self._listeners:
            self.pool.remove_listener(listener)  # type: ignore[arg-type]
        self._listeners.clear()


async def test_imagine_before_on_ready_gets_its_grid_twenty_starts_in_a_row(
    world: World, salon_settings: Callable[..., Settings]
) -> None:
    # Twenty jobs of one member in a row; on_ready waits for the held-back guild as on Discord (2 s).
    settings = salon_settings(steps=1, max_jobs_per_minute=0, guild_ready_timeout_seconds=2.0)
    pool = MemoryPool(preview_every=0, batch_size=4)
    await pool.start()
    world.server.guild_create_delay = math.inf  # the guild arrives only when the test says: on_ready waits
    try:
        for start in range(1, 21):
            await start_and_imagine(world, settings, pool, start)
    finally:
        await pool.close()


async def start_and_imagine(world: World, settings: Settings, pool: GenerationPool, start: int) -> None:
    """Start a bot, send /imagine right after READY (its guild held back, so before on_ready), get the grid."""
    server = world.server
    bot = SalonBot(settings, pool_factory=lambda _: SharedPool(pool))  # type: ignore[arg-type, return-value]
    point_discord_at(settings)
    runner = asyncio.create_task(bot.start(BOT_TOKEN))
    try:
        await server.wait_for_ready_sent(timeout=120, count=start)
        assert not bot.is_ready()
        interaction = await server.driver(world.users["alice"]).slash(
            world.channel_id, "imagine", {"prompt": f"start {start}", "count": 1}
        )
        await server.wait_for(lambda: interaction.acknowledged or interaction.refused, timeout=10)
        assert not interaction.refused
        server.release_guild_creates()
        grid = await grid_of(world, interaction, timeout=60)
        assert f"start {start}" in grid.content
        await asyncio.wait_for(bot.services.jobs.wait_until_settled(), 60)
        jobs = await jobs_in_states(bot.db, tuple(JobState))
        assert len(jobs) == start and {job.state for job in jobs} == {JobState.DELIVERED}
    finally:
        await bot.close()
        await asyncio.wait({runner}, timeout=30)
