"""Messages, files, reactions, threads, pins and DMs through the loopback Discord."""

from __future__ import annotations

import datetime
import io

import discord
import pytest

from loopback.state import ATTACH_FILES, PIN_MESSAGES, SEND_MESSAGES
from tests.loopback.conftest import Probe

pytestmark = pytest.mark.timeout(30)


async def test_bot_message_with_file_edit_and_reaction(probe: Probe) -> None:
    sent = await probe.channel.send("hello", file=discord.File(io.BytesIO(b"png?"), "x.png"))
    assert sent.attachments[0].filename == "x.png" and await sent.attachments[0].read() == b"png?"
    edited = await sent.edit(content="edited")
    assert edited.content == "edited" and edited.edited_at is not None
    await sent.add_reaction("🔁")
    stored = probe.server.messages[sent.id]
    assert stored.content == "edited" and stored.reactions == {"🔁": [probe.client.user.id]}
    own = await probe.next("raw_reaction_add")  # Discord tells the bot about its own reactions too
    assert own.user_id == probe.client.user.id and str(own.emoji) == "🔁"
    fetched = await probe.channel.fetch_message(sent.id)
    assert [(str(r.emoji), r.count, r.me) for r in fetched.reactions] == [("🔁", 1, True)]
    with pytest.raises(discord.HTTPException) as caught:
        await sent.add_reaction("heart")  # text, not an emoji
    assert caught.value.code == 10014


async def test_user_reactions_reach_the_bot_and_the_summary(probe: Probe) -> None:
    sent = await probe.channel.send("vote here")
    alice, bob = probe.server.driver(probe.alice), probe.server.driver(probe.bob)
    await alice.react(sent.id, "❤️")
    await bob.react(sent.id, "❤️")
    added = [await probe.next("raw_reaction_add"), await probe.next("raw_reaction_add")]
    assert [(p.user_id, str(p.emoji), p.message_id) for p in added] == [
        (probe.alice, "❤️", sent.id),
        (probe.bob, "❤️", sent.id),
    ]
    assert added[0].member is not None and added[0].member.name == "alice"
    fetched = await probe.channel.fetch_message(sent.id)
    [reaction] = fetched.reactions
    assert reaction.count == 2 and not reaction.me
    assert {u.id async for u in reaction.users()} == {probe.alice, probe.bob}
    await alice.unreact(sent.id, "❤️")
    removed = await probe.next("raw_reaction_remove")
    assert (removed.user_id, removed.message_id) == (probe.alice, sent.id)
    assert probe.server.messages[sent.id].reactions == {"❤️": [probe.bob]}


async def test_threads_and_pins(probe: Probe) -> None:
    brief = await probe.channel.send("the brief")
    thread = await brief.create_thread(name="party: loneliness")
    created = await probe.next("thread_create")
    assert created.id == thread.id == brief.id and thread.parent_id == probe.channel_id
    inside = await thread.send("welcome")
    await inside.pin()
    assert [m.id async for m in thread.pins()] == [inside.id]
    pinned_notice = probe.server.channel_messages(thread.id)[-1]
    assert pinned_notice.type == 6 and pinned_notice.reference["message_id"] == str(inside.id)
    await inside.unpin()
    assert [m async for m in thread.pins()] == []
    loose = await probe.channel.create_thread(name="side room", type=discord.ChannelType.public_thread)
    assert (await probe.next("thread_create")).id == loose.id
    notice = probe.server.channel_messages(probe.channel_id)[-1]
    assert notice.type == 18 and notice.content == "side room"
    assert [t.name for t in probe.server.threads(probe.channel_id)] == ["party: loneliness", "side room"]
    with pytest.raises(discord.HTTPException) as caught:
        await brief.create_thread(name="again")
    assert caught.value.code == 160004
    await loose.edit(archived=True, locked=True)
    with pytest.raises(discord.HTTPException) as caught:
        await loose.send("too late")
    assert caught.value.code == 50083


async def test_user_messages_replies_history_and_delete(probe: Probe) -> None:
    alice = probe.server.driver(probe.alice)
    question = await alice.send(probe.channel_id, "a question", files=[("sketch.txt", b"draft")])
    seen = await probe.next("message")
    assert seen.author.id == probe.alice and seen.attachments == []  # no message-content intent
    answer = await probe.channel.send(
        "an answer", reference=discord.MessageReference(message_id=question.id, channel_id=probe.channel_id)
    )
    assert answer.reference is not None and answer.reference.message_id == question.id
    assert probe.server.messages[answer.id].mention_ids == [probe.alice], "a reply pings its author by default"
    history = [m.content async for m in probe.channel.history(limit=10)]
    assert history == ["an answer", "a question"]
    after = [m.content async for m in probe.channel.history(after=discord.Object(question.id))]
    assert after == ["an answer"]
    await answer.delete()
    assert probe.server.messages[answer.id].deleted
    with pytest.raises(discord.NotFound) as caught:
        await probe.channel.fetch_message(answer.id)
    assert caught.value.code == 10008
    with pytest.raises(discord.NotFound) as caught:
        await probe.client.fetch_channel(1234567890123456789)
    assert caught.value.code == 10003


async def test_upload_limit_is_enforced(probe: Probe) -> None:
    probe.server.max_upload_bytes = 1024
    exactly = await probe.channel.send(file=discord.File(io.BytesIO(b"x" * 1024), "fits.bin"))
    assert exactly.attachments[0].size == 1024
    with pytest.raises(discord.HTTPException) as caught:
        await probe.channel.send(file=discord.File(io.BytesIO(b"x" * 1025), "big.bin"))
    assert caught.value.status == 413 and caught.value.code == 40005
    two = [discord.File(io.BytesIO(b"x" * 600), f"{n}.bin") for n in range(2)]
    with pytest.raises(discord.HTTPException) as caught:
        await probe.channel.send(files=two)  # the limit is for the request's files together
    assert caught.value.status == 413


async def test_discords_message_limits(probe: Probe) -> None:
    with pytest.raises(discord.HTTPException) as caught:
        await probe.channel.send("x" * 2001)
    assert caught.value.status == 400 and caught.value.code == 50035 and "content" in caught.value.text
    with pytest.raises(discord.HTTPException) as caught:
        await probe.channel.send(embed=discord.Embed(title="t" * 257))
    assert caught.value.code == 50035
    embed = discord.Embed(title="grid").set_image(url="attachment://grid.png")
    sent = await probe.channel.send(embed=embed, file=discord.File(io.BytesIO(b"img"), "grid.png"))
    assert sent.embeds[0].image.url == sent.attachments[0].url, "attachment:// points at the uploaded file"


async def test_direct_messages(probe: Probe) -> None:
    alice = probe.client.get_user(probe.alice) or await probe.client.fetch_user(probe.alice)
    sent = await alice.send("your grid is ready")
    dm = probe.server.dm_channel(probe.alice)
    assert dm is not None and [m.content for m in probe.server.channel_messages(dm.id)] == ["your grid is ready"]
    assert sent.channel.id == dm.id
    shy = probe.server.create_user("shy", guilds=[probe.guild_id], accepts_dms=False)
    with pytest.raises(discord.Forbidden) as caught:
        await (await probe.client.fetch_user(shy.id)).send("hello?")
    assert caught.value.code == 50007


async def test_guild_member_channel_and_user_lookups(probe: Probe) -> None:
    guild = probe.client.get_guild(probe.guild_id)
    assert guild is not None
    member = await guild.fetch_member(probe.alice)
    assert member.name == "alice" and member.guild is guild
    with pytest.raises(discord.NotFound) as caught:
        await guild.fetch_member(12345678)
    assert caught.value.code == 10007
    fetched = await probe.client.fetch_channel(probe.channel_id)
    assert isinstance(fetched, discord.TextChannel) and fetched.name == "imagine"
    created = await guild.create_text_channel("Party Room")
    assert created.name == "party-room", "Discord lower-cases and dashes text channel names"
    assert probe.client.get_channel(created.id) is not None or await probe.client.fetch_channel(created.id)
    assert (await probe.client.fetch_guild(probe.guild_id)).name == "Probe guild"


async def test_native_poll_votes_voters_and_expiry(probe: Probe) -> None:
    poll = discord.Poll(question="Which image?", duration=datetime.timedelta(hours=2), multiple=True)
    for n in (1, 2, 3):
        poll.add_answer(text=f"Image {n}")
    sent = await probe.channel.send(poll=poll)
    alice, bob = probe.server.driver(probe.alice), probe.server.driver(probe.bob)
    await alice.vote_poll(sent.id, [1, 3])
    await bob.vote_poll(sent.id, [3])
    fetched = await probe.channel.fetch_message(sent.id)
    assert fetched.poll is not None and fetched.poll.multiple
    assert [(a.text, a.vote_count) for a in fetched.poll.answers] == [("Image 1", 1), ("Image 2", 0), ("Image 3", 2)]
    assert {u.id async for u in fetched.poll.answers[2].voters()} == {probe.alice, probe.bob}
    await alice.vote_poll(sent.id, [2])  # a changed vote replaces the old one
    assert probe.server.messages[sent.id].poll_votes == {1: [], 2: [probe.alice], 3: [probe.bob]}
    ended = await fetched.end_poll()
    assert ended.poll is not None and ended.poll.is_finalised()
    with pytest.raises(ValueError, match="has ended"):
        await bob.vote_poll(sent.id, [1])


async def test_a_bot_without_a_permission_gets_discords_403(probe: Probe) -> None:
    guild = probe.server.guilds[probe.guild_id]
    bot_role = next(role for role in guild.roles.values() if role.bot_id == probe.client.user.id)
    sent = await probe.channel.send("before")
    # What the bot's role and @everyone grant together is what counts, as on Discord.
    guild.everyone.permissions &= ~(SEND_MESSAGES | ATTACH_FILES | PIN_MESSAGES)
    bot_role.permissions &= ~(ATTACH_FILES | PIN_MESSAGES)
    await probe.channel.send("text still goes")  # the bot's role has Send Messages
    with pytest.raises(discord.Forbidden) as caught:
        await probe.channel.send(file=discord.File(io.BytesIO(b"png?"), "x.png"))
    assert caught.value.code == 50013
    with pytest.raises(discord.Forbidden) as caught:
        await sent.pin()
    assert caught.value.code == 50013
    bot_role.permissions &= ~SEND_MESSAGES
    with pytest.raises(discord.Forbidden):
        await probe.channel.send("silenced")
