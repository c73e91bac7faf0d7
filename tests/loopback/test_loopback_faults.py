"""Injected REST faults: what an unmodified discord.py does when the loopback Discord is slow or broken."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator

import aiohttp
import discord
import pytest

from loopback import FaultPlan, skip_discord_py_backoff
from loopback.changes import ChangeSignal
from tests.loopback.conftest import TOKEN, Probe

pytestmark = pytest.mark.timeout(30)

MESSAGE_POSTS = r"^/channels/\d+/messages$"
FOLLOWUP_POSTS = r"^/webhooks/\d+/[^/]+$"


@pytest.fixture
def backoff() -> Iterator[list[float]]:
    """Return the waits discord.py asks for between retries, skipped so a test takes milliseconds."""
    with skip_discord_py_backoff() as waits:
        yield waits


def contents(probe: Probe) -> list[str]:
    """Return the contents of the probe channel's messages, oldest first."""
    return [m.content for m in probe.server.channel_messages(probe.channel_id)]


async def test_two_500s_are_retried_until_the_message_is_created(probe: Probe, backoff: list[float]) -> None:
    fault = probe.server.faults.add("POST", MESSAGE_POSTS, times=2)
    sent = await probe.channel.send("after two 500s")
    assert fault.hits == 2 and fault.used_up
    assert backoff == [1, 3], "discord.py backs off 1 s, then 3 s"
    assert contents(probe) == ["after two 500s"] and probe.server.messages[sent.id].content == "after two 500s"


async def test_lasting_500_raises_after_discord_pys_retries(probe: Probe, backoff: list[float]) -> None:
    faults = probe.server.faults
    fault = faults.add("POST", MESSAGE_POSTS)
    with pytest.raises(discord.HTTPException) as caught:
        await probe.channel.send("never arrives")
    assert isinstance(caught.value, discord.DiscordServerError) and caught.value.status == 500
    assert caught.value.text == "500: Internal Server Error"
    assert fault.hits == 5 and backoff == [1, 3, 5, 7, 9], "5 tries, each followed by a back-off"
    assert contents(probe) == []
    faults.remove(fault)
    await probe.channel.send("through at last")
    assert contents(probe) == ["through at last"] and fault.hits == 5


async def test_503_on_a_message_is_not_retried(probe: Probe, backoff: list[float]) -> None:
    """discord.py's REST client retries only 500, 502, 504 and 524; a 503 is raised at once."""
    fault = probe.server.faults.add("POST", MESSAGE_POSTS, status=503, times=1)
    with pytest.raises(discord.DiscordServerError) as caught:
        await probe.channel.send("unavailable")
    assert caught.value.status == 503 and fault.hits == 1 and backoff == []
    await probe.channel.send("next")
    assert contents(probe) == ["next"]


async def test_lost_response_after_the_upload_makes_a_duplicate(probe: Probe, backoff: list[float]) -> None:
    """A 500 after the effect: the message was created (and dispatched), only its answer was lost.

    discord.py cannot tell and retries the POST, so the channel ends up with two copies and
    `send` returns the second. This is why Salon must look before repeating an upload.
    """
    fault = probe.server.faults.add("POST", MESSAGE_POSTS, status=500, times=1, after_effect=True)
    sent = await probe.channel.send("grid.png", file=discord.File(io.BytesIO(b"png"), "grid.png"))
    first, second = probe.server.channel_messages(probe.channel_id)
    assert fault.hits == 1 and backoff == [1]
    assert first.content == second.content == "grid.png" and first.id != second.id
    assert sent.id == second.id and [a.data for a in first.attachments] == [b"png"]
    assert [(await probe.next("message")).id, (await probe.next("message")).id] == [first.id, second.id]


async def test_429_waits_retry_after_and_succeeds(probe: Probe) -> None:
    fault = probe.server.faults.add("POST", MESSAGE_POSTS, status=429, times=1, retry_after=0.2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await probe.channel.send("after the rate limit")
    assert loop.time() - started >= 0.2, "discord.py slept the body's retry_after"
    assert fault.hits == 1 and contents(probe) == ["after the rate limit"]


async def test_429_answers_as_discords_per_route_rate_limit(probe: Probe) -> None:
    fault = probe.server.faults.add("GET", r"^/users/@me$", status=429, times=1, retry_after=1.5)
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{probe.server.api_base}/users/@me", headers={"Authorization": f"Bot {TOKEN}"}) as limited,
    ):
        body = await limited.json()
        headers = limited.headers
    assert limited.status == 429 and limited.content_type == "application/json"
    assert body == {"message": "You are being rate limited.", "retry_after": 1.5, "global": False, "code": 0}
    assert headers["Retry-After"] == "2" and headers["X-RateLimit-Remaining"] == "0"
    assert float(headers["X-RateLimit-Reset-After"]) == 1.5 and headers["X-RateLimit-Scope"] == "user"
    assert headers["X-RateLimit-Bucket"] and headers["Via"], "without Via, discord.py reads a Cloudflare ban"
    assert fault.used_up and (await probe.client.fetch_user(probe.alice)).name == "alice"


async def test_followup_503_is_retried_by_the_webhook_client(probe: Probe, backoff: list[float]) -> None:
    """Interaction webhooks retry every 5xx (the REST client only some); wait_for_hits sees each answer."""
    server = probe.server
    fault = server.faults.add("POST", FOLLOWUP_POSTS, status=503, times=1)
    interaction = await server.driver(probe.alice).slash(probe.channel_id, "echo", {"text": "hi"})
    assert await server.faults.wait_for_hits(fault, 1) == 1
    followup = await interaction.wait_for_followup()
    assert followup.content == "with file" and len(interaction.followups) == 1 and backoff == [1]
    assert (await interaction.wait_for_original()).content == "hi (0 bytes)", "the @original edit was not faulted"


async def test_faulted_answers_are_recorded(probe: Probe, backoff: list[float]) -> None:
    server = probe.server
    server.faults.add("POST", MESSAGE_POSTS, status=502, times=1)
    await probe.channel.send("recorded")
    faulted, created = [r for r in server.recorded if r.method == "POST" and r.route.endswith("/messages")][-2:]
    assert (faulted.status, faulted.body) == (502, {"message": "502: Bad Gateway", "code": 0})
    assert faulted.route == "/channels/{channel_id}/messages" and created.status == 200


async def test_files_are_never_faulted(probe: Probe) -> None:
    sent = await probe.channel.send(file=discord.File(io.BytesIO(b"bytes"), "a.bin"))
    fault = probe.server.faults.add("*", r"")
    assert await probe.server.download(sent.attachments[0].url) == b"bytes"
    assert fault.hits == 0
    probe.server.faults.clear()
    assert probe.server.faults.faults == () and (await probe.channel.fetch_message(sent.id)).id == sent.id


async def test_waiting_for_hits_times_out_with_its_fault_named(probe: Probe) -> None:
    fault = probe.server.faults.add("DELETE", r"/messages/\d+$")
    with pytest.raises(TimeoutError, match="DELETE"):
        await probe.server.faults.wait_for_hits(fault, 1, timeout=0.01)


def test_invalid_faults_are_refused() -> None:
    faults = FaultPlan(ChangeSignal())
    for kwargs in ({"status": 200}, {"times": 0}, {"retry_after": -1.0}, {"status": 429, "after_effect": True}):
        with pytest.raises(ValueError):
            faults.add("GET", r"/", **kwargs)  # type: ignore[arg-type]
    assert faults.faults == ()
