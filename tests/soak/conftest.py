"""Fixtures for the security tests: the real bot API on a loopback port over a real SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.bot._helpers import Bot, make_settings, running_bot


@pytest.fixture
async def bot_api(tmp_path: Path) -> AsyncIterator[Bot]:
    async with running_bot(make_settings(tmp_path)) as bot:
        yield bot
