"""Party timers: APScheduler wakes at each vote's deadline and at the end of an associations phase.

The scheduler keeps nothing of its own: the deadlines are rows in `rounds` and `parties`, and
`rebuild()` at start-up re-adds one job per open vote and per timed phase
(`replace_existing=True`), so a restart loses no timer. A deadline that passed while Salon was
down fires at once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.parties.store import PartyRow, RoundRow
from bot.store.database import parse_utc

log = logging.getLogger(__name__)


class PartyTimers:
    """Call `on_vote_due(round_id)` at each vote's deadline and `on_phase_due(party_id)` when a phase ends."""

    def __init__(
        self, on_vote_due: Callable[[int], Awaitable[None]], on_phase_due: Callable[[int], Awaitable[None]]
    ) -> None:
        self._on_due = on_vote_due
        self._on_phase_due = on_phase_due
        self.scheduler = AsyncIOScheduler(timezone=UTC)

    def start(self) -> None:
        """Start the scheduler on the running event loop."""
        if not self.scheduler.running:
            self.scheduler.start()

    def shutdown(self) -> None:
        """Stop the scheduler; the deadlines stay in the store for the next start."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def schedule(self, round_id: int, deadline: datetime) -> None:
        """Close round `round_id` at `deadline` (at once if it has passed), replacing any earlier timer."""
        run_at = max(deadline, datetime.now(UTC))
        self.scheduler.add_job(
            self._fire,
            "date",
            run_date=run_at,
            args=[round_id],
            id=f"round-{round_id}",
            replace_existing=True,
            misfire_grace_time=None,  # a late wake-up still closes the vote
        )

    def cancel(self, round_id: int) -> None:
        """Forget a round's timer (its vote was closed early)."""
        try:
            self.scheduler.remove_job(f"round-{round_id}")
        except JobLookupError:
            pass

    def scheduled(self) -> dict[int, datetime]:
        """Return the round ids with a pending timer and when they fire."""
        return {
            int(job.id.removeprefix("round-")): job.next_run_time
            for job in self.scheduler.get_jobs()
            if job.id.startswith("round-")
        }

    def schedule_phase(self, party_id: int, deadline: datetime) -> None:
        """Move party `party_id` on from its associations phase at `deadline` (at once if it has passed)."""
        self.scheduler.add_job(
            self._fire_phase,
            "date",
            run_date=max(deadline, datetime.now(UTC)),
            args=[party_id],
            id=f"phase-{party_id}",
            replace_existing=True,
            misfire_grace_time=None,
        )

    def scheduled_phases(self) -> dict[int, datetime]:
        """Return the party ids with a pending phase timer and when they fire."""
        return {
            int(job.id.removeprefix("phase-")): job.next_run_time
            for job in self.scheduler.get_jobs()
            if job.id.startswith("phase-")
        }

    def rebuild(self, rounds: Iterable[RoundRow], parties: Iterable[PartyRow] = ()) -> int:
        """Re-add a timer for every open vote in `rounds` and timed phase in `parties`; return how many."""
        count = 0
        for round_row in rounds:
            if round_row.status == "voting" and round_row.deadline_at:
                self.schedule(round_row.id, parse_utc(round_row.deadline_at))
                count += 1
        for party in parties:
            if party.phase == "associations" and party.phase_deadline_at:
                self.schedule_phase(party.id, parse_utc(party.phase_deadline_at))
                count += 1
        return count

    async def _fire_phase(self, party_id: int) -> None:
        try:
            await self._on_phase_due(party_id)
        except Exception:
            log.exception("moving party %s on from its associations phase failed", party_id)

    async def _fire(self, round_id: int) -> None:
        try:
            await self._on_due(round_id)
        except Exception:
            log.exception("closing the vote of round %s failed", round_id)
