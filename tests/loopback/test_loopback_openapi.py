"""Every JSON body the loopback Discord answers (and the gateway events with a documented REST twin) fits
Discord's OpenAPI document, recorded while an unmodified discord.py client drives the server.
"""

from __future__ import annotations

import datetime
import io
import json
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import discord
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from loopback import skip_discord_py_backoff
from tests.loopback.conftest import Probe

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / ".." / "shared" / "discord-api-spec" / "openapi.json"
SPEC_URI = "urn:discord-openapi"

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(
        not SPEC.exists(), reason=f"Discord's OpenAPI document is not at {SPEC} (the shared folder beside the repo)"
    ),
]

# Gateway events whose payload is a REST resource the document describes (extra gateway fields allowed).
EVENT_SCHEMAS = {
    "MESSAGE_CREATE": "MessageResponse",
    "MESSAGE_UPDATE": "MessageResponse",
    "THREAD_CREATE": "ThreadResponse",
    "THREAD_UPDATE": "ThreadResponse",
    "CHANNEL_CREATE": "GuildChannelResponse",
}


@cache
def spec() -> dict[str, Any]:
    """Return Discord's OpenAPI document."""
    return json.loads(SPEC.read_text(encoding="utf-8"))


@cache
def registry() -> Registry:
    """Return a registry in which `urn:discord-openapi#/...` resolves into the document (JSON Schema 2020-12)."""
    return Registry().with_resource(SPEC_URI, Resource.from_contents(spec(), default_specification=DRAFT202012))


def validator(pointer: str) -> Draft202012Validator:
    """Return a validator for the schema at a JSON pointer into the document."""
    return Draft202012Validator({"$ref": f"{SPEC_URI}#{quote(pointer)}"}, registry=registry())


def resolve(pointer: str) -> Any:
    """Return the part of the document a JSON pointer names."""
    node: Any = spec()
    for part in pointer.strip("/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def spec_template(path: str) -> str:
    """Return the document's path template matching a concrete path; literal segments beat parameters."""
    candidates = []
    for template in spec()["paths"]:
        pattern = "^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            candidates.append((template.count("{"), template))
    assert candidates, f"{path} is not a path of Discord's API"
    return min(candidates)[1]


def response_validator(method: str, path: str, status: int) -> Draft202012Validator | None:
    """Return the validator of a response body, None where the document defines no JSON body.

    The document describes no 5xx answers, which Discord gives (injected faults here) with its
    usual `{"message", "code"}` error body: those are checked against `ErrorResponse`.
    """
    template = spec_template(path)
    operation = spec()["paths"][template].get(method.lower())
    assert operation is not None, f"Discord's API has no {method} {template}"
    responses = operation["responses"]
    key = str(status) if str(status) in responses else f"{str(status)[0]}XX"
    if status >= 500 and key not in responses:
        return validator("/components/schemas/ErrorResponse")
    assert key in responses, f"{method} {template} never answers {status}"
    response = responses[key]
    pointer = "/" + "/".join(
        ["paths", template.replace("~", "~0").replace("/", "~1"), method.lower(), "responses", key]
    )
    if "$ref" in response:
        pointer = response["$ref"].removeprefix("#")
        response = resolve(pointer)
    if "application/json" not in response.get("content", {}):
        return None
    return validator(pointer + "/content/application~1json/schema")


def field_error_codes_as_documented(body: Any) -> Any:
    """Return an error body with its field errors' codes as the document types them (integers).

    Discord answers field errors with string codes ("BASE_TYPE_MAX_LENGTH"), as its error
    documentation shows and the loopback does; the OpenAPI document types `Error.code` as an
    integer for both levels. Only that code is swapped, after checking it is a string; the rest of
    the body is validated as it is.
    """
    if isinstance(body, dict):
        if "_errors" in body:
            assert all(isinstance(e["code"], str) for e in body["_errors"]), body
            return {**body, "_errors": [{**e, "code": 0} for e in body["_errors"]]}
        return {k: field_error_codes_as_documented(v) for k, v in body.items()}
    return body


def problems_of(body: Any, checker: Draft202012Validator, label: str) -> list[str]:
    """Return one line per schema violation of `body`."""
    if isinstance(body, dict) and "errors" in body:
        body = {**body, "errors": field_error_codes_as_documented(body["errors"])}
    return [
        f"{label} at /{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}"
        for e in sorted(checker.iter_errors(body), key=lambda e: list(map(str, e.absolute_path)))
    ]


async def drive_everything(probe: Probe) -> None:
    """Drive the server through the flows discord.py uses, successes and Discord's refusals."""
    server = probe.server
    client = probe.client
    channel = probe.channel
    alice, bob = server.driver(probe.alice), server.driver(probe.bob)
    echo = await alice.slash(probe.channel_id, "echo", {"text": "hi"}, attachments={"file": ("a.png", b"123")})
    await echo.wait_for_followup()
    private = await alice.slash(probe.channel_id, "private")
    await private.wait_for_followup()
    panel = await bob.slash(probe.channel_id, "panel")
    message = await panel.wait_for_original()
    await (await bob.click(message, "probe:press")).wait_for_response()
    await (await bob.select(message, "probe:pick", ["a"])).wait_for_original()
    ask = await bob.click(message, "probe:ask")
    await ask.wait_for_modal()
    await (await bob.submit_modal(ask, {"probe:answer": "blue"})).wait_for_original()
    await alice.autocomplete(probe.channel_id, "preset", {"name": "n"}, focused="name")
    role = server.create_role(probe.guild_id, "painters")
    party = {"theme": "t", "rounds": 2, "mood": "calm", "host": probe.bob, "where": probe.channel_id, "role": role.id}
    await (await alice.slash(probe.channel_id, "party start", party)).wait_for_original()

    sent = await channel.send("file", file=discord.File(io.BytesIO(b"data"), "d.txt"))
    await sent.edit(content="edited", embed=discord.Embed(title="t", description="d").add_field(name="n", value="v"))
    await sent.add_reaction("👍")
    await alice.react(sent, "❤️")
    await client.http.get_reaction_users(probe.channel_id, sent.id, "❤️", 10)
    await sent.remove_reaction("👍", client.user)
    await sent.pin()
    [m async for m in channel.pins()]
    await client.http.request(discord.http.Route("GET", "/channels/{channel_id}/pins", channel_id=probe.channel_id))
    thread = await sent.create_thread(name="a thread")
    await thread.send("in thread")
    await thread.join()
    await thread.fetch_members()
    loose = await channel.create_thread(name="loose", type=discord.ChannelType.private_thread)
    await loose.edit(archived=True)
    await client.http.get_public_archived_threads(probe.channel_id)
    guild = client.get_guild(probe.guild_id)
    assert guild is not None
    await guild.active_threads()
    await channel.fetch_message(sent.id)
    [m async for m in channel.history(limit=5)]
    reply = await channel.send("reply", reference=sent)
    await reply.delete()
    poll = discord.Poll(question="Which?", duration=datetime.timedelta(hours=1))
    poll.add_answer(text="one")
    poll.add_answer(text="two")
    polled = await channel.send(poll=poll)
    await alice.vote_poll(polled, [2])
    await client.http.get_poll_answer_voters(probe.channel_id, polled.id, 2)
    await client.http.end_poll(probe.channel_id, polled.id)
    await client.application_info()
    await client.http.get_bot_gateway()
    await client.http.request(discord.http.Route("GET", "/gateway"))
    await probe.tree.fetch_commands()
    await probe.tree.fetch_command(int(server.commands[0][0]["id"]))
    await guild.fetch_member(probe.alice)
    await guild.fetch_roles()
    await guild.fetch_channels()
    await client.fetch_guild(probe.guild_id)
    await client.fetch_user(probe.bob)
    await client.fetch_channel(thread.id)
    new_channel = await guild.create_text_channel("new one")
    await new_channel.edit(topic="a topic")
    await (await client.fetch_user(probe.alice)).send("a DM")
    [g async for g in client.fetch_guilds()]

    # Refusals: their bodies must be Discord's error shape too.
    for call in (
        channel.send("x" * 2001),
        channel.fetch_message(1),
        client.fetch_channel(1),
        guild.fetch_member(1),
        sent.add_reaction("nope"),
    ):
        with pytest.raises(discord.HTTPException):
            await call
    server.max_upload_bytes = 10
    with pytest.raises(discord.HTTPException):
        await channel.send(file=discord.File(io.BytesIO(b"x" * 11), "big.bin"))
    server.max_upload_bytes = 10 * 1024 * 1024
    slow = await alice.slash(probe.channel_id, "slow")
    server.clock.advance(4)
    probe.gate.set()
    await probe.next("slow_refused")
    later = await alice.slash(probe.channel_id, "later")
    await later.wait_for_response()
    server.clock.advance(16 * 60)
    await probe.next("later_refused")
    assert slow.refused and later.refused
    async with aiohttp.ClientSession() as http:
        url = f"{server.api_base}/interactions/{panel.id}/{panel.token}/callback"
        async with http.post(url, json={"type": 4, "data": {"content": "again"}}) as again:
            assert again.status == 400
        async with http.get(f"{server.api_base}/users/@me", headers={"Authorization": "Bot wrong"}) as refused:
            assert refused.status == 401
        webhook = f"{server.api_base}/webhooks/{server.application.id}/{echo.token}/messages"
        async with http.get(f"{webhook}/@original") as original:
            assert original.status == 401  # the token expired with the clock advanced above
        fresh = await alice.slash(probe.channel_id, "echo", {"text": "again"})
        await fresh.wait_for_followup()
        webhook = f"{server.api_base}/webhooks/{server.application.id}/{fresh.token}/messages"
        async with http.get(f"{webhook}/@original") as original:
            assert original.status == 200
        async with http.delete(f"{webhook}/{fresh.followups[0].id}") as deleted:
            assert deleted.status == 204
        async with http.get(f"{webhook}/{fresh.followups[0].id}") as gone:
            assert gone.status == 404


async def test_rest_responses_and_events_match_discords_openapi(probe: Probe) -> None:
    await drive_everything(probe)
    problems: list[str] = []
    checked: set[tuple[str, str, int]] = set()
    for record in probe.server.recorded:
        checker = response_validator(record.method, record.path, record.status)
        if checker is None or record.body is None:
            continue
        checked.add((record.method, record.route, record.status))
        problems += problems_of(record.body, checker, f"{record.method} {record.path} {record.status}")
    for frame in probe.frames:
        if frame["op"] == 0:
            assert isinstance(frame["d"], dict) and isinstance(frame["s"], int) and isinstance(frame["t"], str)
        name = EVENT_SCHEMAS.get(frame["t"] or "")
        if name:
            problems += problems_of(frame["d"], validator(f"/components/schemas/{name}"), f"event {frame['t']}")
        if frame["t"] == "GUILD_CREATE":
            for key, name in (("members", "GuildMemberResponse"), ("roles", "GuildRoleResponse")):
                for item in frame["d"][key]:
                    problems += problems_of(item, validator(f"/components/schemas/{name}"), f"GUILD_CREATE {key}")
    assert problems == [], "\n".join(problems)
    statuses = {status for _, _, status in checked}
    assert {200, 201, 400, 401, 404, 413} <= statuses, statuses
    assert len(checked) >= 40, sorted(checked)


async def test_faulted_answers_match_discords_openapi(probe: Probe) -> None:
    server, channel = probe.server, probe.channel
    faults = server.faults
    with skip_discord_py_backoff():
        faults.add("POST", r"^/channels/\d+/messages$", status=429, times=1)
        sent = await channel.send("rate limited once")
        faults.add("PATCH", r"^/channels/\d+/messages/\d+$", status=500, times=1, after_effect=True)
        await sent.edit(content="edited despite the 500")
        faults.add("PUT", r"/reactions/", status=403, times=1)
        with pytest.raises(discord.Forbidden):
            await sent.add_reaction("👍")
        faults.add("GET", r"^/channels/\d+$", status=502, times=1)
        await probe.client.fetch_channel(probe.channel_id)
        faults.add("POST", r"^/webhooks/", status=503, times=1)
        await (await server.driver(probe.alice).slash(probe.channel_id, "echo", {"text": "x"})).wait_for_followup()
    assert all(f.used_up and f.hits == 1 for f in faults.faults)
    problems: list[str] = []
    statuses: set[int] = set()
    for record in server.recorded:
        checker = response_validator(record.method, record.path, record.status)
        if checker is not None and record.body is not None:
            statuses.add(record.status)
            problems += problems_of(record.body, checker, f"{record.method} {record.path} {record.status}")
    assert problems == [], "\n".join(problems)
    assert {403, 429, 500, 502, 503} <= statuses, statuses
