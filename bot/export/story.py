"""The story of a session, read only from the store: the one input of the gallery and the blog exports.

A story covers a party, a themed channel over a time window, or one member's run. It holds
people and their roles, associations with counts, the prompt's versions with diffs, the rounds
and why each winner won, and every image with its prompt, parameters, seed, author, votes,
lineage (which image it came from, through which edit) and region heatmap.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from bot.catalogue import _
from bot.export.history_store import actor_names, images_of_jobs, jobs_in_window, jobs_of_sessions
from bot.jobs.names import image_name
from bot.parties.service import PartyState, load_party_state
from bot.parties.store import party_in_thread, votes_of_round
from bot.reactions.service import REACTION_VOTE
from bot.reactions.store import tally_images
from bot.store import Database, list_events
from bot.store.jobs import Job
from bot.store.sessions import get_session


@dataclass(frozen=True)
class StoryImage:
    """One image with everything a gallery shows about it."""

    id: int
    job_id: int
    number: int  # its place in its grid, from 1
    seed: int
    sha256: str
    width: int
    height: int
    prompt: str
    negative_prompt: str
    user_prompt: str
    params: dict[str, Any]
    author_id: str
    author_name: str
    created_at: str
    likes: int = 0
    dislikes: int = 0
    round_votes: int = 0
    starred: bool = False
    winner: bool = False
    source_image_id: int | None = None  # the image it was made from (variation, round, region edit)
    action: str = "imagine"  # how: imagine, reroll, variation, remix, party-round, regenerate, combine, ...
    heatmap_sha256: str | None = None
    journey_sha256: str | None = None  # its denoising journey, an animated GIF, when recorded
    # For a party round: who wrote the prompt version it used (their words are shown with it), and
    # everyone else credited: that version's committer and every member who voted in the round.
    prompt_author_id: str | None = None
    co_author_ids: tuple[str, ...] = ()
    co_author_names: tuple[str, ...] = ()
    round_number: int | None = None  # the party round whose grid it is in

    @property
    def name(self) -> str:
        """Return what members called it: its place in its grid ("round 2, image 3", "image 3 of job #17")."""
        return image_name(self.number, self.job_id, self.round_number)

    @property
    def author_ids(self) -> tuple[str, ...]:
        """Return everyone credited with this image: who asked for it, the prompt's author, the others."""
        return tuple(dict.fromkeys([self.author_id, *filter(None, [self.prompt_author_id]), *self.co_author_ids]))

    def may_publish(self, consented: set[str]) -> bool:
        """Return whether the image may be published: whoever asked for it and whoever wrote its words agreed.

        Others credited (a committer, the voters) are named only if they agreed; they do not hold it back.
        """
        return self.author_id in consented and (self.prompt_author_id or self.author_id) in consented


@dataclass(frozen=True)
class StoryRound:
    """A party round (or its final vote): the prompt it used, its winner, and why."""

    number: int
    kind: str
    prompt_version: int | None
    prompt: str
    winner_image_id: int | None
    reason: str
    ballots: int


@dataclass
class SessionStory:
    """Everything an export tells about one stretch of shared work."""

    kind: str  # party, channel, member
    title: str
    guild_id: str | None
    topic: str
    started_at: str
    ended_at: str | None
    people: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)  # id, name, roles
    associations: list[tuple[str, int, tuple[str, ...]]] = field(default_factory=list)  # text, count, author names
    versions: list[tuple[int, str, str, str]] = field(default_factory=list)  # version, text, author name, diff
    rounds: list[StoryRound] = field(default_factory=list)
    images: list[StoryImage] = field(default_factory=list)
    left_out: int = 0  # images not shown because their authors did not agree to publication

    def published(self, consented: set[str] | None) -> SessionStory:
        """Return the story as it may be published: only the images of members in `consented`
        (everyone's when None), and `left_out` counting the others.

        A round whose winner is left out keeps its result in words, without the link; lineage
        starts again at the images that remain.
        """
        if consented is None:
            return self
        kept = [_named_if_agreed(image, consented) for image in self.images if image.may_publish(consented)]
        ids = {image.id for image in kept}
        rounds = [
            round_
            if round_.winner_image_id is None or round_.winner_image_id in ids
            else replace(
                round_,
                winner_image_id=None,
                reason=f"{round_.reason} (the winner's author did not agree to publication)",
            )
            for round_ in self.rounds
        ]
        return replace(self, images=kept, rounds=rounds, left_out=self.left_out + len(self.images) - len(kept))

    def image(self, image_id: int) -> StoryImage | None:
        """Return an image of the story by id."""
        return next((image for image in self.images if image.id == image_id), None)

    @property
    def highlights(self) -> list[StoryImage]:
        """Return the winners, then the starred picks, then the most liked, without repeats."""
        ranked = sorted(self.images, key=lambda i: (not i.winner, not i.starred, -(i.likes - i.dislikes), i.id))
        return [image for image in ranked if image.winner or image.starred or image.likes > image.dislikes] or ranked[
            :4
        ]


async def _images(db: Database, jobs: list[Job], winners: set[int], starred: set[int]) -> list[StoryImage]:
    images = await images_of_jobs(db, [job.id for job in jobs])
    by_job = {job.id: job for job in jobs}
    tallies = await tally_images(db, [image.id for image in images], REACTION_VOTE)
    names = await actor_names(db, sorted({job.requester_id for job in jobs}))
    # The latest heatmap of each image (older events, from before per-image heatmaps, have none).
    heatmaps: dict[int, str] = {}
    for event in await list_events(db, kinds=("region.heatmap",), limit=100_000):
        for image_id, sha256 in event.payload.get("images", {}).items():
            heatmaps[int(image_id)] = sha256
    story = []
    for image in images:
        job = by_job[image.job_id]
        story.append(
            StoryImage(
                id=image.id,
                job_id=job.id,
                number=image.idx + 1,
                seed=image.seed,
                sha256=image.sha256,
                width=image.width,
                height=image.height,
                prompt=job.spec.render.prompt,
                negative_prompt=job.spec.render.negative_prompt,
                user_prompt=job.spec.user_prompt,
                params=job.spec.facts(),
                author_id=job.requester_id,
                author_name=names.get(job.requester_id, job.requester_id),
                created_at=image.created_at,
                likes=tallies[image.id].likes,
                dislikes=tallies[image.id].dislikes,
                starred=image.id in starred,
                winner=image.id in winners,
                source_image_id=job.source_image_id,
                action=job.spec.action,
                heatmap_sha256=heatmaps.get(image.id),
                journey_sha256=image.journey_sha256,
            )
        )
    return story


async def party_story(db: Database, thread_id: str) -> SessionStory:
    """Return the story of the party held in a thread."""
    party = await party_in_thread(db, thread_id)
    if party is None:
        raise LookupError(f"there is no party in thread {thread_id}")
    state = await load_party_state(db, party.id)
    names = await actor_names(db, list(state.members))
    story = SessionStory(
        kind="party",
        title=party.topic,
        guild_id=party.guild_id,
        topic=party.topic,
        started_at=party.created_at,
        ended_at=party.ended_at,
    )
    story.people = [(m.user_id, m.user_name or names[m.user_id], m.roles) for m in state.members.values()]
    author_names = {**names, **{m.user_id: m.user_name for m in state.members.values() if m.user_name}}
    story.associations = [
        (t.text, t.count, tuple(author_names.get(a, a) for a in t.authors)) for t in state.tallied_associations()
    ]
    story.versions = [(v.version, v.text, author_names.get(v.author_id, v.author_id), v.diff) for v in state.versions]
    winners = {r.winner_image_id for r in state.rounds if r.winner_image_id}
    starred = {image_id for image_id, _ in state.stars}
    text_of = {v.version: v.text for v in state.versions}
    votes: dict[int, int] = {}
    for round_row in state.rounds:
        ballots = await votes_of_round(db, round_row.id)
        for choices in ballots.values():
            for image_id in choices:
                votes[image_id] = votes.get(image_id, 0) + 1
        story.rounds.append(
            StoryRound(
                number=round_row.number,
                kind=round_row.kind,
                prompt_version=round_row.prompt_version,
                prompt=text_of.get(round_row.prompt_version or 0, ""),
                winner_image_id=round_row.winner_image_id,
                reason=str(round_row.outcome.get("reason", round_row.status)),
                ballots=len(ballots),
            )
        )
    images = await _images(db, await jobs_of_sessions(db, [party.session_id]), winners, starred)
    co_authors = await _round_co_authors(db, state)
    round_of_job = {r.job_id: r.number for r in state.rounds if r.kind == "round" and r.job_id is not None}
    story.images = [
        replace(
            _credited(
                _with_votes(image, votes.get(image.id, 0)), co_authors.get(image.job_id, (None, ())), author_names
            ),
            round_number=round_of_job.get(image.job_id),
        )
        for image in images
    ]
    return story


async def channel_story(db: Database, channel_id: str, since: str, until: str, title: str = "") -> SessionStory:
    """Return the story of a themed channel between two ISO times."""
    jobs = await jobs_in_window(db, channel_id=channel_id, since=since, until=until)
    session = await get_session(db, jobs[0].session_id) if jobs else None
    story = SessionStory(
        kind="channel",
        guild_id=jobs[0].guild_id if jobs else None,
        title=title
        or (session.title if session and session.title else _("Channel {channel_id}").format(channel_id=channel_id)),
        topic=(jobs[0].spec.theme or "") if jobs else "",
        started_at=since,
        ended_at=until,
    )
    story.images = await _images(db, jobs, set(), set())
    names = await actor_names(db, sorted({job.requester_id for job in jobs}))
    story.people = [(user_id, name, ()) for user_id, name in names.items()]
    return story


async def member_story(db: Database, user_id: str, since: str, until: str) -> SessionStory:
    """Return the story of one member's run between two ISO times, across channels."""
    jobs = await jobs_in_window(db, requester_id=user_id, since=since, until=until)
    name = (await actor_names(db, [user_id]))[user_id]
    story = SessionStory(
        kind="member",
        title=_("{name}'s run").format(name=name),
        guild_id=None,
        topic="",
        started_at=since,
        ended_at=until,
    )
    story.images = await _images(db, jobs, set(), set())
    story.people = [(user_id, name, ())]
    return story


def _with_votes(image: StoryImage, votes: int) -> StoryImage:
    return replace(image, round_votes=votes)


async def _round_co_authors(db: Database, state: PartyState) -> dict[int, tuple[str | None, tuple[str, ...]]]:
    """Return, per round's job, its prompt version's author, and who else shaped it (committer, voters)."""
    version_of = {v.version: v for v in state.versions}
    credited: dict[int, tuple[str | None, tuple[str, ...]]] = {}
    for round_row in state.rounds:
        if round_row.kind != "round" or round_row.job_id is None:
            continue
        version = version_of.get(round_row.prompt_version or 0)
        voters = sorted(await votes_of_round(db, round_row.id))
        shapers = [version.committed_by] if version else []
        credited[round_row.job_id] = (version.author_id if version else None, tuple(dict.fromkeys([*shapers, *voters])))
    return credited


def _credited(image: StoryImage, credit: tuple[str | None, tuple[str, ...]], names: dict[str, str]) -> StoryImage:
    prompt_author, shapers = credit
    others = tuple(a for a in dict.fromkeys([*filter(None, [prompt_author]), *shapers]) if a != image.author_id)
    return replace(
        image,
        prompt_author_id=prompt_author,
        co_author_ids=others,
        co_author_names=tuple(names.get(a, a) for a in others),
    )


def _named_if_agreed(image: StoryImage, consented: set[str]) -> StoryImage:
    """Return the image crediting by name only the co-authors who agreed to publication."""
    names = tuple(n for a, n in zip(image.co_author_ids, image.co_author_names, strict=True) if a in consented)
    return replace(image, co_author_names=names)


async def session_story(
    db: Database, session_id: int, *, since: str | None = None, until: str | None = None
) -> SessionStory:
    """Return the story of a stored session: a party, or a themed channel's stream (optionally a time window)."""
    session = await get_session(db, session_id)
    if session is None:
        raise LookupError(f"there is no session {session_id}")
    if session.kind == "party":
        assert session.thread_id is not None
        return await party_story(db, session.thread_id)
    window_end = until or session.ended_at or "9999-12-31T00:00:00Z"
    return await channel_story(db, session.channel_id, since or session.created_at, window_end, title=session.title)
