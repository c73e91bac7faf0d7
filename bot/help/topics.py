"""What `/help` says: one short page per feature, with examples, and what each button and reaction does.

Plain text with Discord's Markdown, no Discord types. Every command Salon registers must appear in
one of these pages (a test reads the command tree and checks), so help never lags behind commands.
"""

from __future__ import annotations

from enum import StrEnum

from bot.catalogue import N_, _


class HelpTopic(StrEnum):
    """The pages of `/help`."""

    START = "start"
    IMAGINE = "imagine"
    THEMES = "themes"
    PARTIES = "parties"
    REGIONS = "regions"
    EXPORT = "export"


TOPIC_LABELS: dict[HelpTopic, str] = {
    HelpTopic.START: N_("Getting started"),
    HelpTopic.IMAGINE: N_("Making images: /imagine, buttons and reactions"),
    HelpTopic.THEMES: N_("Channel themes and the blocklist"),
    HelpTopic.PARTIES: N_("Parties: a group refines a prompt together"),
    HelpTopic.REGIONS: N_("Regions: keep, redo or combine parts of an image"),
    HelpTopic.EXPORT: N_("Galleries, blog posts and consent"),
}

PAGES: dict[HelpTopic, str] = {
    HelpTopic.START: N_(
        "**Salon** makes images together with your community. Three ways in:\n• `/imagine "
        "prompt:a lighthouse at dusk` makes a grid of images here; anyone can use its "
        "buttons.\n• `/party start topic:loneliness` opens a thread where a group "
        "collects ideas, refines one prompt round by round and votes on the results.\n• "
        "`/regions open job:` marks the parts of a result people like or dislike, then "
        "redoes just those.\n`/queue` shows your waiting generations. `/export` turns a "
        "channel or a party into a gallery.\nMore on each: `/help topic:imagine`, "
        "`themes`, `parties`, `regions`, `export`."
    ),
    HelpTopic.IMAGINE: N_(
        "**/imagine** `prompt:` what to see. Optional: `negative:` what to avoid, "
        "`count:` 1–9 images, `seed:`, `width:`/`height:` or `aspect:` (e.g. 16:9), "
        "`steps:`, `guidance:`, `style:` a preset, `model:`, `image:` a picture to start "
        "from with `strength:`, `journey:` an animation of the steps.\nInline too: `a cat "
        "--ar 16:9 --seed 7 --no blur`. Variants: `a {red|blue} door` picks one for the "
        "whole grid (🔁 may pick another); wildcards: `a cat by __artists__`.\n**Buttons** under a grid (anyone may "
        "use them):\n• **U1…U9** post that image at full size · **V1…V9** variations "
        "close to it\n• **🔁** the same prompt with new seeds · **🎛️ Remix** edit the "
        "prompt first\n• **ℹ️ Info** every parameter and seed · **🔲 Regions** mark parts "
        "of it\n• **🗑️** delete (who asked, or a moderator) · **✖️** cancel while it "
        "runs\n**Reactions**: 👍 / 👎 on a grid are votes; 🔁 rerolls it.\n**Apps menu** of a "
        "result (right-click or long-press it): **Remix this** opens the remix form; "
        "**Use as inspiration** starts a new prompt from one of its images.\n**/queue** "
        "lists your generations, their place in the queue and the time left; "
        "**/history** your latest ones here, with links."
    ),
    HelpTopic.THEMES: N_(
        "A channel's **theme** shapes every prompt made in it (a template and words to "
        "add or avoid).\n• `/theme show` what applies here · `/theme set preset:cats` or "
        "your own `template:` with `{prompt}` (moderators: Manage Channels) · `/theme "
        "clear`\n• `/blocklist add term:`, `/blocklist remove term:`, `/blocklist list`: "
        "words no prompt in this server may use (moderators).\n• `/audit member`, `/audit "
        "job`, `/audit moderation`: what a member did, a job's history, deletions and "
        "refusals, from Salon's log (moderators, privately).\nA party in a thread of a "
        "themed channel follows that channel's theme."
    ),
    HelpTopic.PARTIES: N_(
        "A **party** is a facilitated session in its own thread. How it goes:\n1. `/party "
        "start topic:` (you facilitate) · others `/party join` in the thread (`/party "
        "leave` to go).\n2. **Associations**: everyone adds words, images, artists with "
        "`/party associate text:`; `/party suggest` offers prompts made from them; the "
        "Prompt Master turns some into a `/party fragment`.\n3. **The prompt**: anyone "
        "`/party propose text:`; the Prompt Master `/party commit` a proposal (or "
        "`/party revert version:`); `/party prompt` shows it. `/party next` moves to "
        "rounds.\n4. **Rounds**: the facilitator runs `/party round`; everyone votes with "
        "the **Vote n** buttons (click again to change), the Art Expert stars favourites "
        "with **⭐n**, **🏁 Close vote** ends it early. The winner is the start of the "
        "next round.\n5. `/party final` votes over the winners and stars; then the party "
        "wraps up with a summary.\nRoles: `/party role member: role:` (facilitator, "
        "Prompt Master, Art Expert). `/party status` shows where things are; `/party "
        "end` stops it. Publication: `/party consent` and `/party consent-default`."
    ),
    HelpTopic.REGIONS: N_(
        "**Regions** lay a lattice (A1…D4) over a result so people can say which parts "
        "work.\n• `/regions open job:` posts it with menus and 👍/👎 mode buttons; react "
        "🇦🇧🇨… to mark cells too.\n• `/regions mark job: like:1:A1-B2 dislike:2:D4` marks "
        "by text · `/regions heatmap job:` shows the votes.\n• `/regions edit job: "
        "action:` regenerate the disliked cells, add or remove something in cells, "
        "embolden the liked words, a soft redo that follows the heatmap, or combine "
        "cells from several images.\n• `/regions plan prompt: plan:A1-D2: a stormy sky; "
        "A3-D4: a calm sea` makes an image part by part."
    ),
    HelpTopic.EXPORT: N_(
        "**/export** `format:` a gallery (web page), a Hugo or Jekyll post, or "
        "everything as a zip, of this channel (`hours:` back) or of the party whose "
        "thread you are in.\nOnly images whose authors agreed to publication are "
        "published: `/party consent publish:` sets yours for this server, `/party "
        "consent-default` the default. An export says how many images it left out and "
        "why."
    ),
}


# Pinned with a channel's theme as it is set: the short "how this works" for whoever arrives later.
THEMED_CHANNEL_GUIDE = N_(
    "**How it works here**: every `/imagine` in this channel is shaped by its theme "
    "(the template wraps your words; required and banned words are checked). Use the "
    "buttons under a grid to pick (U), vary (V), reroll (🔁) or remix; react 👍/👎 to "
    "vote. `/theme show` says what the channel is about; `/help` explains the rest."
)


# Said once, privately, after a member's first command in a server.
FIRST_USE_HINT = N_("👋 New to Salon? `/help` shows what each command, button and reaction does, with examples.")


def help_page(topic: HelpTopic) -> str:
    """Return the page of `topic` (at most 2000 characters, a Discord message)."""
    return _(PAGES[topic])
