"""The real Trailblazers timeline (2025-03-01 to 2025-04-19, one commander) on the pure state: the
sites a squadron sees once a long history is backfilled."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.domain import aggregates
from bot.domain.guild import GuildState
from bot.domain.keys import Envelope
from tests.uploader.test_normalise_samples import normalise

pytestmark = pytest.mark.samples

TIMELINE = "ed-journals/timeline_2025-03-01_to_2025-04-19_filtered.log"


def test_march_dockings_at_sites_never_read_leave_no_site_in_progress(samples: Path) -> None:
    """March 2025 dockings at four construction sites (among them the Ceti Sector XJ-Z b2 ship,
    finished by 2025-03-05) came before the game wrote depot readings. Only the April site was
    ever read, and it is complete: nothing is in progress, nothing waits for requirements."""
    state = GuildState(1)
    for event in normalise(samples / TIMELINE):
        state.apply(Envelope(event, 7, 1))
    sites = state.site_views()
    assert [(s.market_id, s.complete) for s in sites] == [(3958981890, True)]
    assert aggregates.stats(state, sites).sites_in_progress == 0
