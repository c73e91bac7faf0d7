"""Every JSON body the loopback Discord answered during a discord.py session fits Discord's OpenAPI document."""

from __future__ import annotations

import io
import json
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import discord
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.loopback.conftest import Probe

SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "discord-api-spec" / "openapi.json"
SPEC_URI = "urn:discord-openapi"


@cache
def spec() -> dict[str, Any]:
    return json.loads(SPEC.read_text(encoding="utf-8"))


@cache
def registry() -> Registry:
    return Registry().with_resource(SPEC_URI, Resource.from_contents(spec(), default_specification=DRAFT202012))


def spec_template(path: str) -> str:
    """Return the spec's path template matching a concrete path; literal segments beat parameters."""
    candidates = []
    for template in spec()["paths"]:
        pattern = "^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            candidates.append((template.count("{"), template))
    assert candidates, f"{path} is not a Discord API path"
    return min(candidates)[1]


def validator_for(method: str, path: str, status: int) -> Draft202012Validator | None:
    template = spec_template(path)
    responses = spec()["paths"][template][method.lower()]["responses"]
    response = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX")
    assert response is not None, f"{method} {template} does not answer {status}"
    if "$ref" in response:
        pointer = response["$ref"].lstrip("#/").split("/")
        response = spec()
        for part in pointer:
            response = response[part]
    content = response.get("content", {}).get("application/json")
    if content is None:
        return None
    pointer = "/".join(["paths", template.replace("~", "~0").replace("/", "~1"), method.lower(), "responses"])
    pointer += f"/{status if str(status) in responses else str(status)[0] + 'XX'}/content/application~1json/schema"
    schema = {"$ref": f"{SPEC_URI}#/{quote(pointer)}"}
    return Draft202012Validator(schema, registry=registry())


@pytest.mark.skipif(not SPEC.exists(), reason="Discord's OpenAPI document is not beside the repository (../shared)")
async def test_rest_responses_match_discords_openapi(probe: Probe) -> None:
    server = probe.server
    alice = server.driver(probe.alice)
    echo = await alice.slash(probe.channel_id, "echo", {"text": "hi"}, attachments={"file": ("a.png", b"123")})
    await server.wait_for(lambda: echo.followups, timeout=10)
    panel = await alice.slash(probe.channel_id, "panel")
    message = await server.wait_for(lambda: panel.original, timeout=10)
    click = await alice.click(message, "probe:press")
    await server.wait_for(lambda: click.acknowledged, timeout=10)
    channel = probe.client.get_channel(probe.channel_id)
    sent = await channel.send("file", file=discord.File(io.BytesIO(b"data"), "d.txt"))
    await sent.edit(content="edited")
    await sent.add_reaction("👍")
    await sent.pin()
    [m async for m in channel.pins()]
    thread = await sent.create_thread(name="a thread")
    await thread.send("in thread")
    await channel.fetch_message(sent.id)
    [m async for m in channel.history(limit=5)]
    await probe.client.application_info()
    await probe.client.http.get_bot_gateway()
    await probe.tree.fetch_commands()

    checked = 0
    problems = []
    for record in server.recorded:
        if record.body is None:
            continue
        validator = validator_for(record.method, record.path, record.status)
        if validator is None:
            continue
        checked += 1
        for error in validator.iter_errors(record.body):
            where = "/".join(map(str, error.absolute_path))
            problems.append(f"{record.method} {record.path} {record.status} at {where}: {error.message[:200]}")
    assert checked >= 12
    assert problems == [], "\n".join(problems)
