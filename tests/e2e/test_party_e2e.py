"""Parties end to end: a facilitated session in a thread, with roles, associations, prompt versions,
rounds, votes, stars, a final vote and a summary; and a restart in the middle of a round."""

from __future__ import annotations

from bot.demo import vote_message_after
from bot.parties.store import party_in_thread, rounds_of, versions_of, votes_of_round
from bot.store import list_events
from bot.store.images import get_image, images_of_job
from bot.store.jobs import get_job
from loopback import Message, User
from tests.e2e.conftest import RunningSalon, World


async def answer(interaction, timeout: float = 60) -> Message:
    """Return the bot's reply to an interaction once it says something (public or private)."""
    return await interaction.wait_for_original(lambda m: m.content and not m.loading, timeout=timeout)


async def said(world: World, interaction) -> str:
    """Return the first thing the bot said in answer to an interaction (its reply or a follow-up)."""
    message = await world.server.wait_for(
        lambda: next((m for m in interaction.messages if m.content and not m.loading and not m.deleted), None), 60
    )
    return message.content


async def private_reply(world: World, interaction) -> str:
    message = await world.server.wait_for(
        lambda: next((m for m in interaction.messages if m.ephemeral and m.content), None), timeout=30
    )
    return message.content


async def start_party(world: World, user: str, topic: str, **options) -> int:
    """Start a party from the channel and return its thread's id."""
    started = await world.server.driver(world.users[user]).slash(
        world.channel_id, "party start", {"topic": topic, **options}
    )
    reply = await answer(started)
    assert "started a party" in reply.content
    thread = await world.server.wait_for(
        lambda: next((c for c in world.server.channels.values() if c.is_thread and topic in c.name), None)
    )
    return thread.id


async def round_grid(world: World, interaction) -> Message:
    """Return the vote message a `/party round` or `/party final` brought: Salon's own, in the thread."""
    return await world.server.wait_for(lambda: vote_message_after(world.server, interaction), timeout=120)


async def test_a_whole_party_in_a_thread(world: World, salon: RunningSalon) -> None:
    server, db = world.server, salon.bot.db
    dave = server.create_user("dave")
    server.add_member(world.guild_id, dave.id)
    thread_id = await start_party(world, "alice", "loneliness", vote_minutes=60.0)
    alice, bob, carol = (server.driver(world.users[n]) for n in ("alice", "bob", "carol"))
    outsider = server.driver(dave.id)

    thread = server.channels[thread_id]
    await server.wait_for(lambda: thread.pins, timeout=30)
    brief = next(m for m in server.channel_messages(thread_id) if m.id in thread.pins)
    assert "loneliness" in brief.content and "Prompt Master" in brief.content and "tie" in brief.content

    for member in (bob, carol):
        joined = await answer(await member.slash(thread_id, "party join"))
        assert "You are in the party on **loneliness**" in joined.content and joined.ephemeral
    denied = await bob.slash(thread_id, "party role", {"member": world.users["carol"], "role": "art-expert"})
    assert "Only the facilitator" in await private_reply(world, denied)
    await answer(await alice.slash(thread_id, "party role", {"member": world.users["bob"], "role": "prompt-master"}))
    await answer(await alice.slash(thread_id, "party role", {"member": world.users["carol"], "role": "art-expert"}))

    # Associations: counted by who brought them up, shown as a live list.
    await answer(await bob.slash(thread_id, "party associate", {"text": "empty chair"}))
    await answer(await carol.slash(thread_id, "party associate", {"text": "Empty  Chair"}))
    listed = await answer(await carol.slash(thread_id, "party associate", {"text": "Edvard Munch", "kind": "artist"}))
    assert "empty chair ×2" in listed.content and "Edvard Munch ×1" in listed.content and listed.ephemeral
    # The pinned board, not a stream of messages, shows the party to everyone: members, roles, ideas.
    await server.wait_for(lambda: "Edvard Munch ×1" in brief.content, timeout=30)
    assert "empty chair ×2" in brief.content and "(Prompt Master)" in brief.content
    assert "**Now: associations.**" in brief.content and brief.id in thread.pins
    outside = await outsider.slash(thread_id, "party associate", {"text": "noise"})
    assert "Only party members" in await private_reply(world, outside)
    fragment = await answer(
        await bob.slash(
            thread_id, "party fragment", {"text": "an empty chair by the window", "associations": "empty chair"}
        )
    )
    assert f"<@{world.users['bob']}>" in fragment.content and f"<@{world.users['carol']}>" in fragment.content
    suggested = await answer(await alice.slash(thread_id, "party suggest"))
    assert "loneliness" in suggested.content and "1." in suggested.content

    # The shared prompt: proposed by anyone, committed by the Prompt Master, versioned and revertible.
    proposed = await answer(
        await carol.slash(thread_id, "party propose", {"text": "two old people looking away from each other"})
    )
    proposal_id = int(proposed.content.split("#")[1].split()[0])
    refused = await carol.slash(thread_id, "party commit", {"proposal": proposal_id})
    assert "Only the Prompt Master" in await private_reply(world, refused)
    committed = await answer(await bob.slash(thread_id, "party commit", {"proposal": proposal_id}))
    assert "Prompt v2" in committed.content and "+two old people" in committed.content and committed.ephemeral
    await answer(await bob.slash(thread_id, "party revert", {"version": 1}))
    await answer(await bob.slash(thread_id, "party commit", {"text": "two old people looking away, rain"}))
    party = await party_in_thread(db, str(thread_id))
    assert party is not None
    versions = await versions_of(db, party.id)
    assert [(v.version, v.reverted_from) for v in versions] == [(1, None), (2, None), (3, 1), (4, None)]
    assert versions[1].author_id == str(world.users["carol"]) and versions[1].committed_by == str(world.users["bob"])
    await server.wait_for(lambda: "**Prompt v4**" in brief.content, timeout=30)
    assert "two old people looking away, rain" in brief.content

    # Rounds: only the facilitator moves on; a round votes with buttons; members only; a second click moves a vote.
    assert "Only the facilitator" in await private_reply(world, await bob.slash(thread_id, "party next"))
    assert "Rounds begin" in (await answer(await alice.slash(thread_id, "party next"))).content
    first = await alice.slash(thread_id, "party round")
    grid = await round_grid(world, first)
    [round_one] = await rounds_of(db, party.id)
    timers = salon.bot.services.parties.timers
    assert timers.scheduled().get(round_one.id), "the vote's timer is set before the grid shows"
    job = await get_job(db, (await rounds_of(db, party.id))[0].job_id)
    assert job is not None and job.priority == 10 and job.session_id == party.session_id
    assert job.spec.render.prompt == "two old people looking away, rain"

    assert (
        "Your vote: image 2"
        in (await answer(await bob.click(grid, grid.custom_id(f"salon:pvote:{round_one.id}:1")))).content
    )
    await answer(await carol.click(grid, grid.custom_id(f"salon:pvote:{round_one.id}:0")))
    moved = await answer(await carol.click(grid, grid.custom_id(f"salon:pvote:{round_one.id}:1")))
    assert "Your vote: image 2" in moved.content
    stranger = await outsider.click(grid, grid.custom_id(f"salon:pvote:{round_one.id}:0"))
    assert "Only party members" in await private_reply(world, stranger)
    images = await images_of_job(db, job.id)
    assert await votes_of_round(db, round_one.id) == {
        str(world.users["bob"]): [images[1].id],
        str(world.users["carol"]): [images[1].id],
    }
    # The Art Expert stars; nobody else may.
    assert "Only the Art Expert" in await private_reply(world, await bob.click(grid, grid.custom_id("salon:pstar:")))
    starred = await carol.click(grid, grid.custom_id(f"salon:pstar:{images[3].id}:"))
    assert "Image 4 is starred" in (await answer(starred)).content
    # The round's own message keeps count: how many have voted (not for what), and the stars.
    await server.wait_for(lambda: "Starred for the final selection: image 4" in grid.content, timeout=30)
    assert "2 of 3 members have voted" in grid.content and "image 2 has" not in grid.content

    closing = await alice.click(grid, grid.custom_id("salon:pclose:"))
    await answer(closing)

    def announcement(text: str) -> Message | None:
        return next((m for m in server.channel_messages(thread_id) if text in m.content), None)

    assert "Next: `/party round`" in (await answer(closing)).content  # the facilitator is told what comes next
    won = await server.wait_for(lambda: announcement("🏆 Round 1"), timeout=30)
    assert "image 2 has the most votes (2)" in won.content and won.attachments
    # The outcome is shown on the round's message itself, whose buttons are retired.
    assert won.id == grid.id and not won.custom_ids()
    assert salon.bot.services.parties.timers.scheduled().get(round_one.id) is None

    # A round's grid is offered for region edits under its round's name.
    [offered_job] = await alice.autocomplete(thread_id, "regions edit", {"action": "soft", "job": ""}, focused="job")
    assert offered_job == {"value": job.id, "name": "round 1: two old people looking away, rain"}
    chosen = {"action": "soft", "job": job.id, "image": "4"}
    offered = await alice.autocomplete(thread_id, "regions edit", chosen, focused="image")
    assert [(c["value"], c["name"].split(": ")[0]) for c in offered] == [(4, "round 1, image 4")]

    # The winner carries forward: round 2 starts from its image and seed.
    second = await alice.slash(thread_id, "party round")
    grid_two = await round_grid(world, second)
    rounds = await rounds_of(db, party.id)
    assert rounds[0].winner_image_id == images[1].id and rounds[1].base_image_id == images[1].id
    job_two = await get_job(db, rounds[1].job_id)
    assert job_two is not None and job_two.kind == "img2img" and job_two.spec.render.seeds[0] == images[1].seed
    assert job_two.parent_job_id == job.id and job_two.source_image_id == images[1].id
    await answer(await alice.click(grid_two, grid_two.custom_id("salon:pclose:")))
    await server.wait_for(lambda: announcement("Round 2 closed without a winner"), timeout=30)

    # Final vote over the winners and the stars, then the wrap-up.
    await answer(await alice.slash(thread_id, "party next"))
    final = await alice.slash(thread_id, "party final")
    ballot = await round_grid(world, final)
    final_round = (await rounds_of(db, party.id))[-1]
    assert final_round.kind == "final" and final_round.outcome["candidates"] == [images[1].id, images[3].id]
    # Each candidate is named as members first saw it.
    assert "image 1 is round 1, image 2 · image 2 is round 1, image 4" in ballot.content
    await answer(await bob.click(ballot, ballot.custom_id(f"salon:pvote:{final_round.id}:1")))
    await answer(await alice.click(ballot, ballot.custom_id("salon:pclose:")))
    await server.wait_for(lambda: announcement("🏆 The final vote"), timeout=30)

    # The final vote was the last step: the party wraps up on its own, and cannot be ended twice.
    summary = await server.wait_for(lambda: announcement("the party in review"), timeout=30)
    assert "already ended" in await private_reply(world, await alice.slash(thread_id, "party end"))
    for part in ("loneliness", "empty chair ×2", "v4", "Round 1", "Final vote", "Art Expert's picks", "Counts"):
        assert part in summary.content, part
    assert summary.attachments  # the best-of collage
    # Images are named as members saw them (their place in a round's grid), never by store ids.
    assert "image #" not in summary.content and "is the party's pick" in summary.content
    assert "Art Expert's picks**: round " in summary.content
    # The board tells the whole story at a glance, to whoever opens the thread later.
    await server.wait_for(lambda: "The party has ended" in brief.content, timeout=30)
    assert "Round 1: image 2 won · Round 2: no winner · The final vote: image 2 won" in brief.content
    kinds = {event.kind for event in await list_events(db, session_id=party.session_id)}
    assert {
        "party.started",
        "party.joined",
        "party.role_assigned",
        "party.associated",
        "party.fragment",
        "party.proposed",
        "party.prompt_committed",
        "party.round_started",
        "party.vote_opened",
        "party.voted",
        "party.starred",
        "party.vote_closed",
        "party.final_vote_opened",
        "party.ended",
    } <= kinds
    final_pick = await get_image(db, (await rounds_of(db, party.id))[-1].winner_image_id)
    assert final_pick is not None and final_pick.id == images[3].id


async def test_parties_in_two_threads_are_isolated(world: World, salon: RunningSalon) -> None:
    first = await start_party(world, "alice", "love")
    second = await start_party(world, "bob", "the meaning of life")
    alice = world.server.driver(world.users["alice"])
    await answer(await alice.slash(first, "party associate", {"text": "red"}))
    other = await answer(
        await world.server.driver(world.users["bob"]).slash(second, "party associate", {"text": "sea"})
    )
    assert "sea ×1" in other.content and "red" not in other.content
    # Alice facilitates the first party only.
    assert "Only the facilitator" in await private_reply(world, await alice.slash(second, "party next"))
    nowhere = await alice.slash(world.channel_id, "party join")
    pointed = await private_reply(world, nowhere)  # in the channel: pointed to both parties' threads
    assert f"is in <#{first}>" in pointed and f"is in <#{second}>" in pointed


async def test_a_restart_mid_round_keeps_votes_timer_and_prompt(world: World, salon: RunningSalon) -> None:
    thread_id = await start_party(world, "alice", "rain", vote_minutes=60.0, vote_mode="approval")
    alice, bob = world.server.driver(world.users["alice"]), world.server.driver(world.users["bob"])
    await answer(await bob.slash(thread_id, "party join"))
    await answer(await alice.slash(thread_id, "party commit", {"text": "rain on a window"}))
    await answer(await alice.slash(thread_id, "party next"))
    grid = await round_grid(world, await alice.slash(thread_id, "party round"))
    db = salon.bot.db
    party = await party_in_thread(db, str(thread_id))
    assert party is not None
    [round_row] = await rounds_of(db, party.id)
    deadline = salon.bot.services.parties.timers.scheduled()[round_row.id]
    await answer(await bob.click(grid, grid.custom_id(f"salon:pvote:{round_row.id}:0")))
    both = await answer(await bob.click(grid, grid.custom_id(f"salon:pvote:{round_row.id}:2")))
    assert "image 1, 3" in both.content  # approval: votes add up

    await salon.stop()
    restarted = RunningSalon(salon.settings)
    await restarted.start()
    try:
        # Timers are rebuilt in on_ready, before Salon counts as ready.
        assert restarted.bot.services.parties.timers.scheduled()[round_row.id] == deadline
        db = restarted.bot.db
        assert len((await votes_of_round(db, round_row.id))[str(world.users["bob"])]) == 2
        assert [v.text for v in await versions_of(db, party.id)] == ["rain", "rain on a window"]
        # The buttons still work: a toggle takes a vote back.
        back = await answer(await bob.click(grid, grid.custom_id(f"salon:pvote:{round_row.id}:0")))
        assert "image 3" in back.content and "1," not in back.content
    finally:
        await restarted.stop()


async def test_a_vote_closes_itself_at_its_deadline(world: World, salon: RunningSalon) -> None:
    thread_id = await start_party(world, "alice", "dawn", vote_minutes=0.05)
    alice = world.server.driver(world.users["alice"])
    await answer(await alice.slash(thread_id, "party next"))
    grid = await round_grid(world, await alice.slash(thread_id, "party round"))
    await answer(await alice.click(grid, grid.custom_id("salon:pvote:")))
    closed = await world.server.wait_for(
        lambda: next((m for m in world.server.channel_messages(thread_id) if "🏆 Round 1" in m.content), None),
        timeout=60,
    )
    assert "image 1 has the most votes (1)" in closed.content


async def test_a_long_vote_also_runs_as_a_native_poll(world: World, salon: RunningSalon) -> None:
    server = world.server
    alice, bob, carol = (server.driver(world.users[n]) for n in ("alice", "bob", "carol"))
    short = await alice.slash(world.channel_id, "party start", {"topic": "haste", "native_poll": True})
    assert "60 or more" in await private_reply(world, short)

    thread_id = await start_party(world, "alice", "patience", vote_minutes=120.0, native_poll=True)
    for member in (bob, carol):
        await answer(await member.slash(thread_id, "party join"))
    dave = server.create_user("dave")
    server.add_member(world.guild_id, dave.id)
    await answer(await alice.slash(thread_id, "party next"))
    grid = await round_grid(world, await alice.slash(thread_id, "party round"))
    poll = await server.wait_for(
        lambda: next((m for m in server.channel_messages(thread_id) if m.poll is not None), None), timeout=30
    )
    assert [a["poll_media"]["text"] for a in poll.poll["answers"]] == ["Image 1", "Image 2", "Image 3", "Image 4"]
    assert not poll.poll["allow_multiselect"]
    await alice.vote_poll(poll, [3])
    await carol.vote_poll(poll, [3])
    await server.driver(dave.id).vote_poll(poll, [1])  # not a member: does not count
    second_vote = [cid for cid in grid.custom_ids() if cid.startswith("salon:pvote:")][1]
    await answer(await bob.click(grid, second_vote))
    await answer(await alice.click(grid, grid.custom_id("salon:pclose:")))
    won = await server.wait_for(
        lambda: next((m for m in server.channel_messages(thread_id) if "🏆 Round 1" in m.content), None), timeout=30
    )
    assert "image 3 has the most votes (2)" in won.content
    assert server.messages[poll.id].poll_finalized
    party = await party_in_thread(salon.bot.db, str(thread_id))
    assert party is not None
    [event] = await list_events(salon.bot.db, kinds=("party.poll_counted",))
    assert event.payload["ignored"] == [str(dave.id)] and len(event.payload["voters"]) == 2


async def test_the_associations_phase_can_end_on_a_timer(world: World, salon: RunningSalon) -> None:
    thread_id = await start_party(world, "alice", "twilight", associations_minutes=0.05)
    party = await party_in_thread(salon.bot.db, str(thread_id))
    assert party is not None and party.phase_deadline_at is not None
    moved = await world.server.wait_for(
        lambda: next((m for m in world.server.channel_messages(thread_id) if "Time is up" in m.content), None),
        timeout=60,
    )
    assert "Rounds begin" in moved.content
    after = await party_in_thread(salon.bot.db, str(thread_id))
    assert after is not None and after.phase == "rounds" and after.phase_deadline_at is None
    [event] = await list_events(salon.bot.db, kinds=("party.phase",))
    assert event.actor_id == "system" and event.payload == {"from": "associations", "to": "rounds"}


async def test_members_choose_whether_their_images_are_published(world: World, salon: RunningSalon) -> None:
    alice, bob = world.server.driver(world.users["alice"]), world.server.driver(world.users["bob"])
    agreed = await answer(await alice.slash(world.channel_id, "party consent", {"publish": True}))
    assert agreed.ephemeral and "may be published" in agreed.content
    denied = await bob.slash(world.channel_id, "party consent-default", {"publish": True})
    assert "Manage Server permission" in await private_reply(world, denied)
    users = [str(world.users["alice"]), str(world.users["bob"])]
    assert await salon.bot.services.consents.consented(str(world.guild_id), users) == {users[0]}


async def test_a_vote_closed_twice_at_once_and_a_party_ended_twice_at_once_take_effect_once(
    world: World, salon: RunningSalon
) -> None:
    server = world.server
    thread_id = await start_party(world, "alice", "echoes", vote_minutes=60.0)
    alice = server.driver(world.users["alice"])
    await answer(await alice.slash(thread_id, "party next"))
    grid = await round_grid(world, await alice.slash(thread_id, "party round"))
    await answer(await alice.click(grid, grid.custom_id("salon:pvote:")))
    # Two clicks on Close before either is answered: the store lets exactly one through.
    closes = [await alice.click(grid, grid.custom_id("salon:pclose:")) for _ in range(2)]
    texts = [await said(world, i) for i in closes]
    assert sum("already closed" in text for text in texts) == 1, texts
    await server.wait_for(lambda: any("🏆 Round 1" in m.content for m in server.channel_messages(thread_id)), 60)
    assert sum("🏆 Round 1" in m.content for m in server.channel_messages(thread_id)) == 1

    ends = [await alice.slash(thread_id, "party end") for _ in range(2)]
    replies = [await said(world, i) for i in ends]
    assert sum("already ended" in reply for reply in replies) == 1, replies
    await server.wait_for(
        lambda: any("the party in review" in m.content for m in server.channel_messages(thread_id)), 60
    )
    assert sum("the party in review" in m.content for m in server.channel_messages(thread_id)) == 1
    assert len(await list_events(salon.bot.db, kinds=("party.ended",))) == 1
    assert len(await list_events(salon.bot.db, kinds=("party.vote_closed",))) == 1


async def test_party_roles_go_to_people_and_naming_someone_joins_them(world: World, salon: RunningSalon) -> None:
    server = world.server
    thread_id = await start_party(world, "alice", "tides")
    alice = server.driver(world.users["alice"])
    assert server.application is not None
    helper = User(server.snowflakes.next(), "helperbot", bot=True)
    server.users[helper.id] = helper
    server.add_member(world.guild_id, helper.id)
    for bot_user in (server.application, helper):
        refused = await alice.slash(thread_id, "party role", {"member": bot_user.id, "role": "prompt-master"})
        assert "Party roles go to people" in await private_reply(world, refused)
    party = await party_in_thread(salon.bot.db, str(thread_id))
    assert party is not None
    state = await salon.bot.services.parties.state(party.id)
    assert set(state.members) == {str(world.users["alice"])}

    # Carol never joined: naming her joins her, and she is the one person the answer mentions.
    named = await answer(
        await alice.slash(thread_id, "party role", {"member": world.users["carol"], "role": "prompt-master"})
    )
    assert "Salon joined them" in named.content and "/party leave" in named.content
    assert named.mention_ids == [world.users["carol"]]
    assert world.users["carol"] in server.channels[thread_id].thread_members
    state = await salon.bot.services.parties.state(party.id)
    carol = state.members[str(world.users["carol"])]
    assert carol.active and "prompt-master" in carol.roles
    [event] = await list_events(salon.bot.db, kinds=("party.role_assigned",))
    assert event.payload["joined"] is True
