"""The exported gallery in a real browser: Debian's Chromium, driven by Playwright.

Every image (pictures, heatmaps, journeys) loads from the folder, the page logs no console errors,
its navigation works, and prompts and names written as HTML or script are shown as text and never
run. A screenshot is kept in test-output/ so a person can look at the gallery.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from bot.export.gallery import write_gallery
from bot.export.story import party_story
from bot.jobs.spec import ImagineOptions, Place, PreparedGeneration
from bot.parties.service import PartySettings
from bot.services import Services
from bot.store import Actor

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[3] / "test-output"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian's chromium is not installed (apt-get install -y chromium; .ci/run does)"
    ),
]

HOSTILE_PROMPTS = (
    '<script>alert("prompt")</script> a lighthouse',
    "<img src=x onerror=alert(2)> a harbour",
    '"><svg onload=alert(3)> fog',
)
MALLORY = Actor("66", "<b onmouseover=alert(4)>mallory</b>")
ALICE = Actor("1", "alice")


async def hostile_party_gallery(services: Services, folder: Path) -> Path:
    """Write the gallery of a small party whose topic, prompts and member names are HTML and script."""
    parties = services.parties
    thread = "301"
    await parties.start(
        ALICE, guild_id="1", channel_id="300", thread_id=thread, topic="<i>loneliness</i>", settings=PartySettings()
    )
    await parties.join(MALLORY, thread)
    await parties.associate(MALLORY, thread, "<script>document.title='owned'</script>")
    await parties.commit(ALICE, thread, text=HOSTILE_PROMPTS[0])
    await parties.advance(ALICE, thread, is_admin=False)
    round_row, prepared = await parties.prepare_round(ALICE, thread, is_admin=False)
    finished = await services.jobs.wait(await services.jobs.submit(ALICE, Place("1", thread), prepared))
    await parties.round_generated(round_row.id, finished.job.id)
    await parties.vote(MALLORY, round_row.id, 1)
    await parties.close_round(round_row.id)
    session = finished.job.session_id
    for prompt in HOSTILE_PROMPTS[1:]:
        extra = await services.imagine.prepare(MALLORY, Place("1", thread), ImagineOptions(prompt, journey=True))
        await services.jobs.wait(await services.jobs.submit(MALLORY, Place("1", thread), _in_session(extra, session)))
    return write_gallery(await party_story(services.jobs.db, thread), services.jobs.files, folder)


def _in_session(prepared: PreparedGeneration, session_id: int) -> PreparedGeneration:
    # Images made in the party's thread outside a round, kept in the party's session like its edits.
    return replace(prepared, session_id=session_id)


async def test_the_gallery_in_chromium(services: Services, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    index = await hostile_party_gallery(services, tmp_path / "gallery")
    problems: list[str] = []
    dialogs: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-background-networking"]
        )
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda message: message.type == "error" and problems.append(message.text))
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("requestfailed", lambda request: problems.append(f"failed to load {request.url}"))

            async def refuse(dialog) -> None:
                dialogs.append(dialog.message)
                await dialog.dismiss()

            page.on("dialog", refuse)
            await page.goto(index.as_uri())

            # Every image loads, lazy ones included once they are scrolled to.
            images = await page.locator("img").all()
            assert len(images) >= 8  # highlights, pictures, journeys
            for image in images:
                await image.scroll_into_view_if_needed()
                handle = await image.element_handle()
                await page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=handle, timeout=10_000)
            journeys = page.locator("img.journey")
            assert await journeys.count() == 6  # the round records them, and the two extra grids asked
            assert (await journeys.first.get_attribute("src") or "").endswith(".gif")

            # Navigation: the menu jumps to its sections, a highlight to its image.
            await page.get_by_role("link", name="Lineage").click()
            assert page.url.endswith("#lineage")
            await page.get_by_role("link", name="Highlights").click()
            await page.locator("#highlights a").first.click()
            assert "#image-" in page.url
            target = page.url.split("#", 1)[1]
            assert await page.locator(f"#{target}").is_visible()

            # User text is text: shown literally, no element made from it, nothing run.
            body = await page.locator("body").inner_text()
            for prompt in HOSTILE_PROMPTS:
                assert prompt in body
            assert MALLORY.name in body and "<script>document.title='owned'</script>" in body
            assert "<i>loneliness</i>" in body
            # The page's one script is its own (it shows times in the reader's locale).
            made = "document.querySelectorAll('script:not(#salon-local-times), svg, b, i').length"
            assert await page.evaluate(made) == 0
            shown = page.locator("time").first
            assert (await shown.inner_text()).strip() not in ("", await shown.get_attribute("datetime"))
            assert await page.title() == "<i>loneliness</i> — Salon"

            await page.goto(index.as_uri())
            SCREENSHOTS.mkdir(exist_ok=True)
            shot = SCREENSHOTS / "gallery.png"
            await page.screenshot(path=str(shot), full_page=True)
            shutil.copyfile(shot, tmp_path / "gallery.png")
            print(f"gallery screenshot: {shot}")
        finally:
            await browser.close()
    assert problems == [] and dialogs == []
