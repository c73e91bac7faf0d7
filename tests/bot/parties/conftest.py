"""The party service on a fresh store over the in-memory pool."""

from __future__ import annotations

import pytest

from bot.parties.service import PartyService
from bot.services import Services


@pytest.fixture
def parties(services: Services) -> PartyService:
    return services.parties
