"""Rows of parties: members and roles, associations, prompt versions, rounds, votes and stars."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiosqlite

from bot.store.database import Database, row_dict, utc_now
from bot.store.events import Actor, EventDraft


@dataclass(frozen=True)
class PartyRow:
    """One row of `parties`."""

    id: int
    session_id: int
    guild_id: str | None
    channel_id: str
    thread_id: str
    topic: str
    phase: str
    vote_mode: str
    tie_break: str
    quorum: int
    vote_minutes: float
    native_poll: int
    phase_deadline_at: str | None
    brief_message_id: str | None
    created_by: str
    created_at: str
    ended_at: str | None


@dataclass(frozen=True)
class MemberRow:
    """One row of `party_members`; `roles` beyond participant."""

    party_id: int
    user_id: str
    user_name: str
    roles: tuple[str, ...]
    active: bool
    joined_at: str


@dataclass(frozen=True)
class AssociationRow:
    """One association a member posted."""

    id: int
    party_id: int
    author_id: str
    author_name: str
    text: str
    normalized: str
    kind: str
    created_at: str


@dataclass(frozen=True)
class FragmentRow:
    """A prompt fragment made from associations, with who contributed to it."""

    id: int
    party_id: int
    text: str
    made_by: str
    contributors: tuple[str, ...]
    created_at: str


@dataclass(frozen=True)
class ProposalRow:
    """A proposed edit of the shared prompt."""

    id: int
    party_id: int
    author_id: str
    text: str
    negative: str
    status: str
    created_at: str


@dataclass(frozen=True)
class VersionRow:
    """A committed version of the shared prompt."""

    party_id: int
    version: int
    text: str
    negative: str
    author_id: str
    committed_by: str
    proposal_id: int | None
    reverted_from: int | None
    diff: str
    prompt_id: int | None
    created_at: str


@dataclass(frozen=True)
class RoundRow:
    """One round (or the final vote) of a party."""

    id: int
    party_id: int
    number: int
    kind: str
    prompt_version: int | None
    job_id: int | None
    base_image_id: int | None
    status: str
    vote_message_id: str | None
    poll_message_id: str | None
    deadline_at: str | None
    winner_image_id: int | None
    outcome: dict[str, Any]
    created_at: str
    closed_at: str | None


# --- parties ------------------------------------------------------------------------------------


async def insert_party(
    conn: aiosqlite.Connection,
    *,
    session_id: int,
    guild_id: str | None,
    channel_id: str,
    thread_id: str,
    topic: str,
    vote_mode: str,
    tie_break: str,
    quorum: int,
    vote_minutes: float,
    created_by: str,
    native_poll: bool = False,
    phase_deadline_at: str | None = None,
) -> int:
    """Insert a party and return its id."""
    cursor = await conn.execute(
        "INSERT INTO parties (session_id, guild_id, channel_id, thread_id, topic, vote_mode, tie_break, quorum,"
        " vote_minutes, native_poll, phase_deadline_at, created_by, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            session_id,
            guild_id,
            channel_id,
            thread_id,
            topic,
            vote_mode,
            tie_break,
            quorum,
            vote_minutes,
            int(native_poll),
            phase_deadline_at,
            created_by,
            utc_now(),
        ),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


async def get_party(db: Database, party_id: int) -> PartyRow | None:
    """Return a party by id."""
    row = await db.fetchone("SELECT * FROM parties WHERE id = ?", (party_id,))
    return PartyRow(**row_dict(row)) if row else None


async def party_in_thread(db: Database, thread_id: str) -> PartyRow | None:
    """Return the party held in a thread, or None."""
    row = await db.fetchone("SELECT * FROM parties WHERE thread_id = ?", (thread_id,))
    return PartyRow(**row_dict(row)) if row else None


async def open_parties_in_channel(db: Database, channel_id: str) -> list[PartyRow]:
    """Return the parties still running in threads of channel `channel_id`, newest first."""
    rows = await db.fetchall(
        "SELECT * FROM parties WHERE channel_id = ? AND ended_at IS NULL ORDER BY id DESC", (channel_id,)
    )
    return [PartyRow(**row_dict(row)) for row in rows]


async def set_party_phase(conn: aiosqlite.Connection, party_id: int, phase: str, *, expected: str) -> bool:
    """Move a party from phase `expected` to `phase` (and stamp its end); return False if it was not in `expected`.

    The check and the change are one UPDATE inside the caller's transaction, so of two concurrent
    callers (or two processes) exactly one moves the party.
    """
    ended = utc_now() if phase == "ended" else None
    cursor = await conn.execute(
        "UPDATE parties SET phase = ?, ended_at = COALESCE(?, ended_at),"
        " phase_deadline_at = CASE WHEN ? != phase THEN NULL ELSE phase_deadline_at END"
        " WHERE id = ? AND phase = ?",
        (phase, ended, phase, party_id, expected),
    )
    if cursor.rowcount == 0:
        return False
    if ended:
        await conn.execute(
            "UPDATE sessions SET status = 'ended', ended_at = ?"
            " WHERE id = (SELECT session_id FROM parties WHERE id = ?)",
            (ended, party_id),
        )
    return True


async def close_voting_round(conn: aiosqlite.Connection, round_id: int) -> bool:
    """Mark a round's vote closed if it is still open; return False when someone closed it first."""
    cursor = await conn.execute(
        "UPDATE rounds SET status = 'closed', closed_at = ? WHERE id = ? AND status = 'voting'", (utc_now(), round_id)
    )
    return cursor.rowcount == 1


async def parties_with_phase_timers(db: Database) -> list[PartyRow]:
    """Return the parties whose associations phase ends on a timer (to rebuild timers at start-up)."""
    rows = await db.fetchall(
        "SELECT * FROM parties WHERE phase = 'associations' AND phase_deadline_at IS NOT NULL ORDER BY id"
    )
    return [PartyRow(**row_dict(row)) for row in rows]


async def set_brief_message(conn: aiosqlite.Connection, party_id: int, message_id: str) -> None:
    """Remember the pinned brief of a party."""
    await conn.execute("UPDATE parties SET brief_message_id = ? WHERE id = ?", (message_id, party_id))


# --- members ------------------------------------------------------------------------------------


def _member(row: aiosqlite.Row) -> MemberRow:
    values = row_dict(row)
    values["roles"] = tuple(json.loads(values["roles"]))
    values["active"] = bool(values["active"])
    return MemberRow(**values)


async def upsert_member(
    conn: aiosqlite.Connection, *, party_id: int, user_id: str, user_name: str, roles: tuple[str, ...], active: bool
) -> None:
    """Insert or update a member's roles and whether they are still in the party."""
    await conn.execute(
        "INSERT INTO party_members (party_id, user_id, user_name, roles, active, joined_at) VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (party_id, user_id) DO UPDATE SET roles = excluded.roles, active = excluded.active,"
        " user_name = CASE WHEN excluded.user_name = '' THEN party_members.user_name ELSE excluded.user_name END",
        (party_id, user_id, user_name, json.dumps(sorted(roles)), int(active), utc_now()),
    )


async def members_of(db: Database, party_id: int) -> list[MemberRow]:
    """Return a party's members in the order they joined."""
    rows = await db.fetchall("SELECT * FROM party_members WHERE party_id = ? ORDER BY joined_at, user_id", (party_id,))
    return [_member(row) for row in rows]


# --- associations and fragments -----------------------------------------------------------------


async def insert_association(
    conn: aiosqlite.Connection,
    *,
    party_id: int,
    author_id: str,
    author_name: str,
    text: str,
    normalized: str,
    kind: str,
) -> int:
    """Insert an association and return its id."""
    cursor = await conn.execute(
        "INSERT INTO associations (party_id, author_id, author_name, text, normalized, kind, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (party_id, author_id, author_name, text, normalized, kind, utc_now()),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


async def count_contributions(conn: aiosqlite.Connection, party_id: int, author_id: str, kind: str) -> int:
    """Return how many associations (`kind` "associations") or proposals ("proposals") a member added
    to a party, inside the caller's transaction, so a per-member limit holds under concurrency."""
    table = {"associations": "associations", "proposals": "prompt_proposals"}[kind]
    cursor = await conn.execute(
        f"SELECT COUNT(*) FROM {table} WHERE party_id = ? AND author_id = ?", (party_id, author_id)
    )
    (count,) = await cursor.fetchone()  # type: ignore[misc]
    await cursor.close()
    return int(count)


async def associations_of(db: Database, party_id: int) -> list[AssociationRow]:
    """Return a party's associations, oldest first."""
    rows = await db.fetchall("SELECT * FROM associations WHERE party_id = ? ORDER BY id", (party_id,))
    return [AssociationRow(**row_dict(row)) for row in rows]


async def insert_fragment(
    conn: aiosqlite.Connection, *, party_id: int, text: str, made_by: str, contributors: list[str]
) -> int:
    """Insert a prompt fragment and return its id."""
    cursor = await conn.execute(
        "INSERT INTO prompt_fragments (party_id, text, made_by, contributors, created_at) VALUES (?, ?, ?, ?, ?)",
        (party_id, text, made_by, json.dumps(contributors), utc_now()),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


async def fragments_of(db: Database, party_id: int) -> list[FragmentRow]:
    """Return a party's prompt fragments, oldest first."""
    rows = await db.fetchall("SELECT * FROM prompt_fragments WHERE party_id = ? ORDER BY id", (party_id,))
    result = []
    for row in rows:
        values = row_dict(row)
        values["contributors"] = tuple(json.loads(values["contributors"]))
        result.append(FragmentRow(**values))
    return result


# --- prompt proposals and versions --------------------------------------------------------------


async def insert_proposal(
    conn: aiosqlite.Connection, *, party_id: int, author_id: str, text: str, negative: str
) -> int:
    """Insert an open proposal and return its id."""
    cursor = await conn.execute(
        "INSERT INTO prompt_proposals (party_id, author_id, text, negative, created_at) VALUES (?, ?, ?, ?, ?)",
        (party_id, author_id, text, negative, utc_now()),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


async def get_proposal(db: Database, party_id: int, proposal_id: int) -> ProposalRow | None:
    """Return a party's proposal by id."""
    row = await db.fetchone("SELECT * FROM prompt_proposals WHERE id = ? AND party_id = ?", (proposal_id, party_id))
    return ProposalRow(**row_dict(row)) if row else None


async def proposals_of(db: Database, party_id: int, status: str | None = None) -> list[ProposalRow]:
    """Return a party's proposals, oldest first, optionally only those with a status."""
    if status is None:
        rows = await db.fetchall("SELECT * FROM prompt_proposals WHERE party_id = ? ORDER BY id", (party_id,))
    else:
        rows = await db.fetchall(
            "SELECT * FROM prompt_proposals WHERE party_id = ? AND status = ? ORDER BY id", (party_id, status)
        )
    return [ProposalRow(**row_dict(row)) for row in rows]


async def set_proposal_status(conn: aiosqlite.Connection, proposal_id: int, status: str) -> bool:
    """Mark an open proposal committed or withdrawn; return False if it was no longer open (taken first)."""
    cursor = await conn.execute(
        "UPDATE prompt_proposals SET status = ? WHERE id = ? AND status = 'open'", (status, proposal_id)
    )
    return cursor.rowcount == 1


async def insert_version(
    conn: aiosqlite.Connection,
    *,
    party_id: int,
    text: str,
    negative: str,
    author_id: str,
    committed_by: str,
    diff: str,
    prompt_id: int | None,
    proposal_id: int | None = None,
    reverted_from: int | None = None,
) -> int:
    """Insert the next version of a party's prompt and return its number."""
    cursor = await conn.execute(
        "SELECT COALESCE(MAX(version), 0) + 1 FROM prompt_versions WHERE party_id = ?", (party_id,)
    )
    row = await cursor.fetchone()
    await cursor.close()
    version = int(row[0]) if row else 1
    await conn.execute(
        "INSERT INTO prompt_versions (party_id, version, text, negative, author_id, committed_by, proposal_id,"
        " reverted_from, diff, prompt_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            party_id,
            version,
            text,
            negative,
            author_id,
            committed_by,
            proposal_id,
            reverted_from,
            diff,
            prompt_id,
            utc_now(),
        ),
    )
    return version


async def versions_of(db: Database, party_id: int) -> list[VersionRow]:
    """Return every version of a party's prompt, oldest first."""
    rows = await db.fetchall("SELECT * FROM prompt_versions WHERE party_id = ? ORDER BY version", (party_id,))
    return [VersionRow(**row_dict(row)) for row in rows]


# --- rounds, votes and stars --------------------------------------------------------------------


def _round(row: aiosqlite.Row) -> RoundRow:
    values = row_dict(row)
    values["outcome"] = json.loads(values["outcome"])
    return RoundRow(**values)


async def insert_round(
    conn: aiosqlite.Connection,
    *,
    party_id: int,
    kind: str,
    prompt_version: int | None,
    base_image_id: int | None,
) -> int:
    """Insert the party's next round (or its final vote) and return its id."""
    cursor = await conn.execute(
        "SELECT COALESCE(MAX(number), 0) + 1 FROM rounds WHERE party_id = ? AND kind = ?", (party_id, kind)
    )
    row = await cursor.fetchone()
    await cursor.close()
    number = int(row[0]) if row else 1
    cursor = await conn.execute(
        "INSERT INTO rounds (party_id, number, kind, prompt_version, base_image_id, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (party_id, number, kind, prompt_version, base_image_id, utc_now()),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


async def get_round(db: Database, round_id: int) -> RoundRow | None:
    """Return a round by id."""
    row = await db.fetchone("SELECT * FROM rounds WHERE id = ?", (round_id,))
    return _round(row) if row else None


async def rounds_of(db: Database, party_id: int) -> list[RoundRow]:
    """Return a party's rounds in order (the final vote last)."""
    rows = await db.fetchall("SELECT * FROM rounds WHERE party_id = ? ORDER BY kind = 'final', number", (party_id,))
    return [_round(row) for row in rows]


async def voting_rounds(db: Database) -> list[RoundRow]:
    """Return every round whose vote is open, in every party (to rebuild timers at start-up)."""
    rows = await db.fetchall("SELECT * FROM rounds WHERE status = 'voting' ORDER BY id")
    return [_round(row) for row in rows]


async def generating_rounds(db: Database) -> list[RoundRow]:
    """Return every round still generating, in every party (checked at start-up)."""
    rows = await db.fetchall("SELECT * FROM rounds WHERE status = 'generating' AND kind = 'round' ORDER BY id")
    return [_round(row) for row in rows]


async def job_state_of_round(db: Database, round_id: int) -> str | None:
    """Return the state of the newest job that generates a round (from its spec), or None if there is none."""
    row = await db.fetchone(
        "SELECT state FROM jobs WHERE feature = 'party_round' AND json_extract(spec, '$.party.round_id') = ?"
        " ORDER BY id DESC LIMIT 1",
        (round_id,),
    )
    return str(row[0]) if row else None


async def update_round(conn: aiosqlite.Connection, round_id: int, **changes: Any) -> None:
    """Set columns of a round (names come from code, never from users)."""
    allowed = {
        "job_id",
        "status",
        "vote_message_id",
        "poll_message_id",
        "deadline_at",
        "winner_image_id",
        "outcome",
        "closed_at",
    }
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"rounds has no updatable columns {sorted(unknown)}")
    if "outcome" in changes:
        changes["outcome"] = json.dumps(changes["outcome"], sort_keys=True)
    assignments = ", ".join(f"{name} = ?" for name in changes)
    await conn.execute(f"UPDATE rounds SET {assignments} WHERE id = ?", (*changes.values(), round_id))


async def votes_of_round(db: Database, round_id: int) -> dict[str, list[int]]:
    """Return each voter's chosen image ids in a round."""
    rows = await db.fetchall(
        "SELECT voter_id, image_id FROM round_votes WHERE round_id = ? ORDER BY created_at", (round_id,)
    )
    ballots: dict[str, list[int]] = {}
    for voter_id, image_id in rows:
        ballots.setdefault(str(voter_id), []).append(int(image_id))
    return ballots


async def replace_votes(conn: aiosqlite.Connection, round_id: int, voter_id: str, image_ids: list[int]) -> None:
    """Set a voter's choices in a round to exactly `image_ids`."""
    await conn.execute("DELETE FROM round_votes WHERE round_id = ? AND voter_id = ?", (round_id, voter_id))
    now = utc_now()
    for image_id in image_ids:
        await conn.execute(
            "INSERT INTO round_votes (round_id, voter_id, image_id, created_at) VALUES (?, ?, ?, ?)",
            (round_id, voter_id, image_id, now),
        )


async def add_star(conn: aiosqlite.Connection, *, party_id: int, image_id: int, starred_by: str) -> bool:
    """Star an image for the final selection; return False if it was starred already."""
    cursor = await conn.execute(
        "INSERT OR IGNORE INTO party_stars (party_id, image_id, starred_by, created_at) VALUES (?, ?, ?, ?)",
        (party_id, image_id, starred_by, utc_now()),
    )
    return cursor.rowcount > 0


async def stars_of(db: Database, party_id: int) -> list[tuple[int, str]]:
    """Return the starred image ids of a party with who starred them, oldest first."""
    rows = await db.fetchall(
        "SELECT image_id, starred_by FROM party_stars WHERE party_id = ? ORDER BY created_at", (party_id,)
    )
    return [(int(image_id), str(by)) for image_id, by in rows]


async def party_id_of_session(db: Database, session_id: int) -> int | None:
    """Return the id of the party that holds session `session_id`, or None for a channel's stream."""
    row = await db.fetchone("SELECT id FROM parties WHERE session_id = ?", (session_id,))
    return int(row[0]) if row else None


def party_event_at(
    party_id: int,
    session_id: int,
    guild_id: str | None,
    thread_id: str,
    actor: Actor,
    kind: str,
    payload: dict[str, Any],
) -> EventDraft:
    """Return an event about a party, placed in its thread and session (before its row is read back)."""
    return EventDraft(
        actor=actor,
        kind=kind,
        guild_id=guild_id,
        channel_id=thread_id,
        session_id=session_id,
        subject=("party", party_id),
        payload=payload,
    )


def party_event(party: PartyRow, actor: Actor, kind: str, payload: dict[str, Any]) -> EventDraft:
    """Return an event about a party, placed in its thread and session."""
    return party_event_at(party.id, party.session_id, party.guild_id, party.thread_id, actor, kind, payload)
