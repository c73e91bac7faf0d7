"""`python -m bot demo`: a whole party through the loopback Discord, then a gallery and a Hugo bundle."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.demo import DemoFolderError, prepare_folder, run_demo
from bot.export.gallery import lineage_tree
from bot.export.story import session_story
from bot.store import Database

REPO = Path(__file__).resolve().parents[2]
# Salon's public messages in the demo's channel and party thread before the party got its live board
# and round messages (counted at 6566d4d with this same demo): a message for every join, association,
# commit, star and vote result.
PUBLIC_MESSAGES_BEFORE = 36


@pytest.mark.worker  # the demo runs the real tiny pipeline in a worker process
@pytest.mark.asyncio(loop_scope="function")
async def test_the_demo_runs_a_whole_party_and_exports_it(tmp_path: Path) -> None:
    lines: list[str] = []
    result = await run_demo(tmp_path / "demo", say=lines.append)
    narration = "\n".join(lines)
    for step in ("/party start", "/party associate", "/party commit", "🏆 Round 1", "🏆 Round 3", "/regions edit"):
        assert step in narration, step
    assert "/party final" in narration and "/export format:gallery" in narration
    assert "A static gallery site of session" in result.discord_export  # the zip was posted in the thread
    # The party is at least twice as quiet: what members act on is announced, the rest is edited in place.
    assert result.public_messages <= PUBLIC_MESSAGES_BEFORE // 2, result.public_messages
    assert f"Salon posted {result.public_messages} public messages" in narration

    html = await asyncio.to_thread(result.gallery.entry.read_text)
    assert "loneliness" in html and "Edward Hopper" in html and "empty chair ×2" in html
    assert "regenerate → <a href" in html and "Final vote" in html and html.count('class="journey"') >= 12

    database = Database(tmp_path / "demo" / "data" / "salon.db")
    await database.open()
    try:
        story = await session_story(database, result.session_id)
    finally:
        await database.close()
    assert [r.kind for r in story.rounds] == ["round", "round", "round", "final"]
    assert all(r.winner_image_id for r in story.rounds)
    assert any(image.action == "regenerate" for image in story.images)
    assert any(image.heatmap_sha256 for image in story.images)
    # The lineage tree: round 1's winner begat round 2, whose winner begat round 3 and the region edit.
    [root] = lineage_tree(story)
    assert root.image.winner and [child.image.action for child in root.children] == ["party-round"] * 4
    [round_two_winner] = [child for child in root.children if child.children]
    assert round_two_winner.image.winner
    assert sorted(c.image.action for c in round_two_winner.children) == ["party-round"] * 4 + ["regenerate"]
    assert len(story.versions) == 4 and {name for _, name, _ in story.people} == {"ada", "ben", "cleo", "dev"}

    text = await asyncio.to_thread(result.hugo.entry.read_text)
    matter = yaml.safe_load(text.split("---")[1])
    assert matter["title"] == "loneliness" and matter["cover"]["image"].endswith(".jpg")
    assert "## The rounds" in text and result.hugo.images == len(story.images)


def test_the_demo_replaces_only_its_own_output(tmp_path: Path) -> None:
    mine = prepare_folder(tmp_path / "again")
    (mine / "stale.txt").write_text("from the last run")
    assert not (prepare_folder(mine) / "stale.txt").exists()
    other = tmp_path / "notes"
    other.mkdir()
    (other / "thesis.md").write_text("keep me")
    with pytest.raises(DemoFolderError, match="is not empty and holds no earlier demo"):
        prepare_folder(other)
    command = [sys.executable, "-m", "bot", "demo", "--out", str(other)]
    refused = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert refused.returncode == 1 and "holds no earlier demo; choose another --out" in refused.stderr
    assert (other / "thesis.md").read_text() == "keep me"
