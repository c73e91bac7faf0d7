"""A newcomer's way in: /help answers privately, and names every command Salon has."""

from __future__ import annotations

from typing import Any

from bot.help.topics import PAGES, HelpTopic
from bot.store import Actor, list_events
from tests.e2e.conftest import RunningSalon, World, add_moderator


def command_names(commands: list[dict[str, Any]]) -> list[str]:
    """Return every command as a member types it: "/imagine", "/party start", ..."""
    names = []
    for command in commands:
        if command.get("type", 1) != 1:
            names.append(str(command["name"]))  # a context menu: named as the Apps menu shows it
            continue
        subcommands = [option for option in command.get("options", []) if option.get("type") in (1, 2)]
        if not subcommands:
            names.append(f"/{command['name']}")
        for sub in subcommands:
            names.append(f"/{command['name']} {sub['name']}")
    return names


async def test_help_answers_privately_with_the_start_page_and_each_topic(world: World, salon: RunningSalon) -> None:
    newcomer = world.server.driver(world.users["carol"])
    first = await (await newcomer.slash(world.channel_id, "help")).wait_for_original()
    assert first.ephemeral and "/imagine prompt:" in first.content and "/party start" in first.content
    for topic in HelpTopic:
        page = await (await newcomer.slash(world.channel_id, "help", {"topic": topic.value})).wait_for_original()
        assert page.ephemeral and page.content == PAGES[topic]


async def test_every_command_salon_registers_is_explained_in_help(world: World, salon: RunningSalon) -> None:
    registered = command_names(world.server.commands[0])
    text = "\n".join(PAGES.values())
    assert len(registered) > 30
    unexplained = [name for name in registered if name != "/help" and name not in text]
    assert unexplained == []


async def test_history_lists_only_the_callers_generations_with_links(world: World, salon: RunningSalon) -> None:
    alice = world.server.driver(world.users["alice"])
    empty = await (await alice.slash(world.channel_id, "history")).wait_for_original()
    assert empty.ephemeral and "You have made nothing here yet" in empty.content
    made = await alice.slash(world.channel_id, "imagine", {"prompt": "a paper boat", "count": 1})
    await made.wait_for_original()
    await world.server.driver(world.users["bob"]).slash(world.channel_id, "imagine", {"prompt": "bob's kite"})
    await salon.settled()
    listed = await (await alice.slash(world.channel_id, "history")).wait_for_original()
    assert listed.ephemeral and "a paper boat" in listed.content and "bob's kite" not in listed.content
    assert f"https://discord.com/channels/{world.guild_id}/{world.channel_id}/" in listed.content


async def test_joining_a_party_asks_privately_about_publication_once(world: World, salon: RunningSalon) -> None:
    server = world.server
    started = await server.driver(world.users["alice"]).slash(world.channel_id, "party start", {"topic": "tides"})
    await started.wait_for_original(lambda m: "started a party" in m.content)
    thread = await server.wait_for(lambda: next((c for c in server.channels.values() if c.is_thread), None))
    bob = server.driver(world.users["bob"])
    # In the channel rather than the thread: pointed to the party's thread.
    lost = await bob.slash(world.channel_id, "party join")
    pointed = await server.wait_for(lambda: next((m for m in lost.messages if m.ephemeral and m.content), None))
    assert f"is in <#{thread.id}>" in pointed.content
    joined = await bob.slash(thread.id, "party join")
    question = await server.wait_for(
        lambda: next((m for m in joined.messages if m.ephemeral and "may your images" in m.content), None)
    )
    answered = await bob.click(question, question.custom_id("salon:consent:yes"))
    assert "may be published" in (await answered.wait_for_original()).content
    consents = salon.bot.services.consents
    assert await consents.choice_of(str(world.guild_id), str(world.users["bob"])) is True
    await (await bob.slash(thread.id, "party leave")).wait_for_original()
    again = await bob.slash(thread.id, "party join")
    await again.wait_for_original(lambda m: "You are in the party" in m.content)
    await salon.settled()
    assert not any("may your images" in m.content for m in again.messages)  # asked once per server


async def test_ids_a_member_would_type_are_offered_as_they_type(world: World, salon: RunningSalon) -> None:
    server = world.server
    alice, bob = server.driver(world.users["alice"]), server.driver(world.users["bob"])
    started = await alice.slash(world.channel_id, "party start", {"topic": "tides"})
    await started.wait_for_original(lambda m: "started a party" in m.content)
    thread = await server.wait_for(lambda: next((c for c in server.channels.values() if c.is_thread), None))
    await (await bob.slash(thread.id, "party join")).wait_for_original()
    for text in ("tide pools at dawn", "a lighthouse in fog"):
        await (await bob.slash(thread.id, "party propose", {"text": text})).wait_for_original()
    offered = await alice.autocomplete(thread.id, "party commit", {"proposal": "fog"}, focused="proposal")
    assert [choice["name"].split(": ", 1)[1] for choice in offered] == ["a lighthouse in fog"]
    versions = await alice.autocomplete(thread.id, "party revert", {"version": ""}, focused="version")
    assert [choice["value"] for choice in versions] == [1] and "tides" in versions[0]["name"]

    made = await alice.slash(world.channel_id, "imagine", {"prompt": "a red kite", "count": 2})
    await made.wait_for_original()
    await salon.settled()
    jobs = await alice.autocomplete(world.channel_id, "regions open", {"job": "kite"}, focused="job")
    assert len(jobs) == 1 and jobs[0]["name"] == f"job #{jobs[0]['value']}: a red kite"
    # The images of the grid being edited, named by their place in it.
    job_id = jobs[0]["value"]
    images = await alice.autocomplete(
        world.channel_id, "regions edit", {"action": "regenerate", "job": job_id, "image": ""}, focused="image"
    )
    assert [(c["value"], c["name"]) for c in images] == [
        (1, f"image 1 of job #{job_id}: a red kite"),
        (2, f"image 2 of job #{job_id}: a red kite"),
    ]
    # No grid chosen and none open for marking here: nothing to offer (the command says why when sent).
    assert await alice.autocomplete(thread.id, "regions edit", {"action": "soft", "image": ""}, focused="image") == []


async def test_remix_this_and_use_as_inspiration_from_a_results_menu(world: World, salon: RunningSalon) -> None:
    server = world.server
    alice, bob = server.driver(world.users["alice"]), server.driver(world.users["bob"])
    made = await alice.slash(world.channel_id, "imagine", {"prompt": "a lighthouse", "count": 2})
    grid = await server.wait_for(
        lambda: made.original if made.original and "salon:u:" in " ".join(made.original.custom_ids()) else None
    )
    await salon.settled()

    remix = await bob.message_command(grid, "Remix this")
    form = await remix.wait_for_modal()
    [prompt_field, _] = [row["components"][0] for row in form["components"]]
    assert prompt_field["value"] == "a lighthouse"
    remixed = await bob.submit_modal(remix, {prompt_field["custom_id"]: "a lighthouse at night"})
    # The form is answered once its job is queued: only then can settled() cover it.
    await remixed.wait_for_original(lambda m: m.content and not m.loading)

    inspire = await bob.message_command(grid, "Use as inspiration")
    form = await inspire.wait_for_modal()
    [what, which] = [row["components"][0] for row in form["components"]]
    refused = await bob.submit_modal(inspire, {what["custom_id"]: "a castle", which["custom_id"]: "7"})
    assert "Choose an image from 1 to 2" in (await refused.wait_for_original()).content
    inspire = await bob.message_command(grid, "Use as inspiration")
    form = await inspire.wait_for_modal()
    [what, which] = [row["components"][0] for row in form["components"]]
    inspired_by = await bob.submit_modal(inspire, {what["custom_id"]: "a castle", which["custom_id"]: "2"})
    await inspired_by.wait_for_original(lambda m: m.content and not m.loading)
    await salon.settled()

    jobs = await salon.bot.services.jobs.history(Actor(str(world.users["bob"])), str(world.guild_id))
    by_action = {job.spec.action: job for job in jobs}
    assert by_action["remix"].spec.user_prompt == "a lighthouse at night"
    inspired = by_action["inspired"]
    assert inspired.spec.user_prompt == "a castle" and inspired.spec.render.kind == "img2img"
    assert inspired.parent_job_id == by_action["remix"].parent_job_id  # both come from alice's grid

    chatter = await server.driver(world.users["carol"]).send(world.channel_id, "nice lighthouse!")
    not_a_result = await bob.message_command(chatter, "Remix this")
    assert "not one of Salon's results" in (await not_a_result.wait_for_original()).content


async def test_a_themed_channel_keeps_how_it_works_pinned(world: World, salon: RunningSalon) -> None:
    mod = world.server.driver(add_moderator(world))
    announced = await (await mod.slash(world.channel_id, "theme set", {"preset": "cats"})).wait_for_original()
    channel = world.server.channels[world.channel_id]
    await world.server.wait_for(lambda: announced.id in channel.pins, timeout=30)
    assert "How it works here" in announced.content and "Cats and kittens" in announced.content


async def test_a_members_first_command_in_a_server_points_to_help_once(world: World, salon: RunningSalon) -> None:
    carol = world.server.driver(world.users["carol"])
    first = await carol.slash(world.channel_id, "queue")
    hint = await world.server.wait_for(
        lambda: next((m for m in first.messages if m.ephemeral and "New to Salon?" in m.content), None)
    )
    assert "/help" in hint.content
    second = await carol.slash(world.channel_id, "queue")
    await second.wait_for_original()
    await salon.settled()
    assert not any("New to Salon?" in m.content for m in second.messages)
    [welcomed] = await list_events(salon.bot.db, kinds=("member.welcomed",))
    assert welcomed.actor_id == str(world.users["carol"])
