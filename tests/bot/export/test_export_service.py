"""The export service behind /export, the CLI and the demo: sessions by place, progress, checks and zips."""

from __future__ import annotations

import asyncio
import threading
import zipfile
from pathlib import Path

import pytest

from bot.errors import UserInputError
from bot.export.service import ExportService, ExportStep, parse_time
from bot.jobs.spec import ImagineOptions, Place
from bot.parties.service import PartySettings
from bot.services import Services
from bot.store import Actor
from tests.bot.service_kit import generate

ALICE = Actor("1", "alice")


async def test_a_channel_is_exported_with_each_step_reported(services: Services, tmp_path: Path) -> None:
    service = ExportService(services.jobs.db, services.jobs.files, tmp_path / "exports")
    with pytest.raises(UserInputError, match="Nothing has been made here yet"):
        await service.session_in("90")
    place = Place("1", "90")
    await generate(services, ALICE, place, ImagineOptions("a kite"))
    session = await service.session_in("90")
    assert session.kind == "stream"
    # A gallery is a publication too: alice has not agreed, so her images are left out, and it says so.
    unpublished = await service.export(session.id, "gallery")
    assert unpublished.images == 0 and unpublished.left_out == 2
    assert "2 images are not shown: their authors did not agree to publication" in unpublished.entry.read_text()
    await service.consents.choose(ALICE, "1", True)
    steps: list[ExportStep] = []
    result = await service.export(session.id, "gallery", archive=True, progress=steps.append)
    assert [step.stage for step in steps] == ["reading", "writing", "writing", "zipping", "done"]
    assert [(step.done, step.total) for step in steps if step.stage == "writing"] == [(1, 2), (2, 2)]
    assert steps[2].text().startswith("🖼️ Writing files 2/2 ▰▰▰▰")
    assert result.folder.parent == tmp_path / "exports" and result.entry == result.folder / "index.html"
    assert result.archive is not None and "index.html" in zipfile.ZipFile(result.archive).namelist()
    assert result.images == 2 and result.left_out == 0

    # A second export of the same session while one runs is refused; the first one still finishes.
    writing, release = threading.Event(), threading.Event()

    def held(step: ExportStep) -> None:
        if step.stage == "writing":  # called from the export's worker thread: hold it there
            writing.set()
            release.wait(timeout=30)

    first = asyncio.create_task(service.export(session.id, "gallery", progress=held))
    await asyncio.to_thread(writing.wait, 30)
    with pytest.raises(UserInputError, match=f"Session {session.id} is being exported already"):
        await service.export(session.id, "hugo")
    release.set()
    assert (await first).entry.name == "index.html"


async def test_a_party_thread_names_its_party_and_bad_requests_say_what_is_allowed(
    services: Services, tmp_path: Path
) -> None:
    service = ExportService(services.jobs.db, services.jobs.files, tmp_path / "exports")
    parties = services.parties
    state = await parties.start(
        ALICE, guild_id="1", channel_id="91", thread_id="92", topic="love", settings=PartySettings()
    )
    session = await service.session_in("92")
    assert session.kind == "party" and session.id == state.party.session_id
    with pytest.raises(UserInputError, match="Unknown export format 'pdf': choose one of gallery, hugo, jekyll"):
        await service.export(session.id, "pdf")
    with pytest.raises(UserInputError, match="since must be an ISO time"):
        await service.export(session.id, "gallery", since="last tuesday")
    with pytest.raises(UserInputError, match="since must come before until"):
        await service.export(session.id, "gallery", since="2026-12-02T10:00Z", until="2026-12-01T10:00Z")
    with pytest.raises(UserInputError, match="There is no session 4242"):
        await service.export(4242, "gallery")
    post = await service.export(session.id, "hugo")
    assert post.entry.name == "index.md" and post.images == 0
    assert (await service.export(session.id, "jekyll")).entry.parent.name == "_posts"


async def test_times_are_read_in_utc_in_the_store_s_shape() -> None:
    assert parse_time("2026-12-01T18:00", "since") == "2026-12-01T18:00:00.000Z"
    assert parse_time("2026-12-01T19:00+01:00", "since") == "2026-12-01T18:00:00.000Z"
    assert parse_time(None, "since") is None
