"""`python -m bot export SESSION --format gallery|hugo|jekyll --out DIR`, from the command line."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from bot.export.consent import ConsentService
from bot.jobs.spec import ImagineOptions, Place
from bot.services import Services
from bot.store import Actor

REPO = Path(__file__).resolve().parents[3]
ALICE = Actor("1", "alice")


async def cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SALON_", "DISCORD_"))}
    env = {**clean, "PYTHONPATH": str(REPO), "SALON_DATA_DIR": str(data_dir)}
    command = [sys.executable, "-m", "bot", "export", *args]
    return await asyncio.to_thread(
        subprocess.run, command, env=env, cwd=data_dir, capture_output=True, text=True, timeout=120
    )


async def test_export_a_channel_stream_as_gallery_zip_and_hugo(services: Services, tmp_path: Path) -> None:
    place = Place("1", "80")
    queued = await services.jobs.submit(
        ALICE, place, await services.imagine.prepare(ALICE, place, ImagineOptions("a kite"))
    )
    finished = await services.jobs.wait(queued)
    session = str(finished.job.session_id)
    unpublished = await cli(
        session, "--format", "gallery", "--out", str(tmp_path / "out" / "g0"), data_dir=tmp_path / "data"
    )
    assert unpublished.returncode == 0 and "left out 2 images whose authors did not agree" in unpublished.stderr
    assert "a kite" not in await asyncio.to_thread(Path(unpublished.stdout.strip()).read_text)
    hugo = await cli(
        session, "--format", "hugo", "--out", str(tmp_path / "out" / "content"), data_dir=tmp_path / "data"
    )
    assert hugo.returncode == 0, hugo.stderr
    assert Path(hugo.stdout.strip()).name == "index.md"
    assert "left out 2 images whose authors did not agree" in hugo.stderr  # alice has not consented yet
    await ConsentService(services.jobs.db).choose(ALICE, "1", True)
    gallery = await cli(
        session, "--format", "gallery", "--out", str(tmp_path / "out" / "gallery"), "--zip", data_dir=tmp_path / "data"
    )
    assert gallery.returncode == 0, gallery.stderr
    assert "Writing files 2/2" in gallery.stderr and "✅ Done" in gallery.stderr and "left out" not in gallery.stderr
    index = Path(gallery.stdout.strip())
    assert index.name == "index.html" and "a kite" in await asyncio.to_thread(index.read_text)
    assert await asyncio.to_thread((tmp_path / "out" / "gallery.zip").exists)
    again = await cli(
        session, "--format", "jekyll", "--out", str(tmp_path / "out" / "site"), data_dir=tmp_path / "data"
    )
    assert again.returncode == 0 and "left out" not in again.stderr


async def test_an_unknown_session_is_a_clear_error(tmp_path: Path, services: Services) -> None:
    missing = await cli("999", "--out", str(tmp_path / "x"), data_dir=tmp_path / "data")
    assert missing.returncode == 1 and "There is no session 999" in missing.stderr
    since = await cli("1", "--out", str(tmp_path / "y"), "--since", "yesterday", data_dir=tmp_path / "data")
    assert since.returncode == 1 and "since must be an ISO time such as 2026-12-01T18:00" in since.stderr
