"""`/audit`: the event log read back for a server's moderators, always limited to their server.

The log already records every step in the transaction that made it (bot/store/events.py); this
service chooses which events answer a moderator's question and says each in a line of words.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.catalogue import N_, _
from bot.errors import UserInputError
from bot.member_text import one_line
from bot.store import Database, Event
from bot.store.events import list_events
from bot.store.images import images_of_job
from bot.store.jobs import get_job

# At most this many events in one answer (a Discord message holds 2000 characters).
AUDIT_LIMIT = 15
# How much of a member's text an audit line quotes.
QUOTE_CHARACTERS = 80

# The steps a moderator takes or needs to see: deletions, blocklist changes and refusals, themes.
MODERATION_KINDS = (
    "job.deleted",
    "blocklist.added",
    "blocklist.removed",
    "blocklist.refused",
    "theme.set",
    "theme.cleared",
)

# What each kind of event says, as "<who> <what>"; {subject} is the job, image or party it is about.
EVENT_WORDS: dict[str, str] = {
    "job.queued": N_("asked for {subject}"),
    "job.generated": N_("{subject} was generated"),
    "job.delivered": N_("{subject} was shown"),
    "job.delivery_failed": N_("{subject} could not be shown"),
    "job.deleted": N_("deleted {subject}"),
    "job.cancel_requested": N_("cancelled {subject}"),
    "job.resumed": N_("{subject} was requeued after a restart"),
    "job.retried": N_("{subject} was retried after a worker crash"),
    "image.created": N_("{subject} was saved"),
    "image.picked": N_("picked {subject}"),
    "blocklist.added": N_("blocked a term"),
    "blocklist.removed": N_("unblocked a term"),
    "blocklist.refused": N_("was refused for a blocked term"),
    "theme.set": N_("set this channel's theme"),
    "theme.cleared": N_("cleared this channel's theme"),
    "consent.set": N_("changed their publication consent"),
    "consent.default": N_("changed the server's publication default"),
    "member.welcomed": N_("was welcomed to Salon"),
    "region.marked": N_("marked regions of {subject}"),
    "region.cleared": N_("cleared region marks of {subject}"),
    "party.started": N_("started {subject}"),
    "party.associated": N_("added an association to {subject}"),
    "party.fragment": N_("added a fragment to {subject}"),
    "party.proposed": N_("proposed a prompt in {subject}"),
    "party.prompt_committed": N_("committed the prompt of {subject}"),
    "party.voted": N_("voted in {subject}"),
    "party.role_assigned": N_("gave a role in {subject}"),
}
SUBJECT_WORDS: dict[str, str] = {
    "job": N_("job #{id}"),
    "image": N_("image #{id}"),
    "party": N_("party #{id}"),
    "round": N_("round #{id}"),
}


@dataclass(frozen=True)
class AuditEntry:
    """One event as a moderator reads it."""

    event: Event
    text: str  # without who and when: the presenter adds those in Discord's own forms


def describe(event: Event) -> str:
    """Return what `event` says in words, with the member text it carries quoted on one line."""
    subject = ""
    if event.subject_type in SUBJECT_WORDS:
        subject = _(SUBJECT_WORDS[event.subject_type]).format(id=event.subject_id)
    words = EVENT_WORDS.get(event.kind)
    text = _(words).format(subject=subject) if words else f"{event.kind} {subject}".strip()
    detail = _detail(event)
    return f"{text}: {detail}" if detail else text


def _detail(event: Event) -> str:
    payload = event.payload
    if event.kind == "job.queued" and payload.get("user_prompt"):
        return quote(str(payload["user_prompt"]))
    if event.kind.startswith("blocklist.") and payload.get("term"):
        return f"`{one_line(str(payload['term']))[:QUOTE_CHARACTERS]}`"
    if event.kind == "blocklist.refused":
        terms = ", ".join(f"`{one_line(str(term))}`" for term in payload.get("terms", []))
        return _("{terms} in {text}").format(terms=terms, text=quote(str(payload.get("text", ""))))
    if event.kind == "job.deleted" and payload.get("by_moderator"):
        return _("by a moderator")
    if event.kind == "theme.set" and payload.get("name"):
        return f"`{one_line(str(payload['name']))}`"
    return ""


def quote(text: str) -> str:
    """Return member text on one line, cut to QUOTE_CHARACTERS, in quotation marks."""
    flat = one_line(text)
    return "“" + (flat if len(flat) <= QUOTE_CHARACTERS else flat[: QUOTE_CHARACTERS - 1] + "…") + "”"


class AuditService:
    """Answers a moderator's three questions from the event log of their own server."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def member(self, guild_id: str, user_id: str, *, limit: int = AUDIT_LIMIT) -> list[AuditEntry]:
        """Return what one member did in the server lately, newest first."""
        events = await list_events(self.db, guild_id=guild_id, actor_id=user_id, limit=limit, newest_first=True)
        return [AuditEntry(event, describe(event)) for event in events]

    async def job(self, guild_id: str, job_id: int, *, limit: int = 50) -> list[AuditEntry]:
        """Return a job's whole history, its images' included, oldest first."""
        job = await get_job(self.db, job_id)
        if job is None or job.guild_id != guild_id:
            raise UserInputError(_("There is no job #{id} in this server.").format(id=job_id))
        images = await images_of_job(self.db, job_id)
        subjects: tuple[tuple[str, int | str], ...] = (("job", job_id), *(("image", image.id) for image in images))
        events = await list_events(self.db, guild_id=guild_id, subjects=subjects, limit=limit)
        return [AuditEntry(event, describe(event)) for event in events]

    async def moderation(self, guild_id: str, *, limit: int = AUDIT_LIMIT) -> list[AuditEntry]:
        """Return the server's latest deletions, blocklist changes and refusals, and theme changes."""
        events = await list_events(self.db, guild_id=guild_id, kinds=MODERATION_KINDS, limit=limit, newest_first=True)
        return [AuditEntry(event, describe(event)) for event in events]
