"""`/haul` in `colony-bot console`: the real CLI over a store filled from the real April 2025 journal,
and the parsing errors a typed line can get."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.cli import main
from bot.services.bundle import build_services
from bot.settings import Settings
from bot.store.db import Database
from tests.discord._filled import APRIL, USER, fill

pytestmark = pytest.mark.samples

SHIP = "System Colonisation Ship"


async def _console(tmp_path: Path, samples: Path, lines: list[str]) -> None:
    db = Database(tmp_path / "colony.db")
    await db.open()
    await fill(await build_services(db), samples / APRIL)
    await db.close()
    argv = ["console", "--user", str(USER), *[arg for line in lines for arg in ("-c", line)]]
    settings = Settings(db_path=tmp_path / "colony.db", http_port=0)
    # main() runs its own event loop: keep it off this test's loop.
    assert await asyncio.to_thread(main, argv, settings) == 0


async def test_the_console_runs_haul_commands(
    tmp_path: Path, samples: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        "/haul board",
        "/haul claim titanium tonnes:100",
        "/haul mine",
        "/haul claim titanium tonnes:lots",
        "/haul claim",
        "/haul release 1",
        "/haul nope",
        "/haul expiry",
        "/haul plan",
        "/haul claim titanium tonnes:100 sitee:Coelho",
    ]
    await _console(tmp_path, samples, lines)
    out = capsys.readouterr().out
    blocks = out.split("> /haul ")[1:]
    assert len(blocks) == len(lines)
    assert blocks[0].startswith(f"board\nHaul board: {SHIP}\n")
    assert "remaining =" in blocks[0]
    assert blocks[1].startswith("claim titanium tonnes:100\n(only you can see this)\nClaim #1\n")
    assert f"You bring 100 t of Titanium to {SHIP}" in blocks[1]
    assert "Your hauls" in blocks[2]
    assert "#1" in blocks[2]
    assert "tonnes is a whole number, not 'lots'." in blocks[3]
    assert "/haul claim needs commodity, tonnes: e.g. /haul claim <commodity> tonnes:<tonnes>." in blocks[4]
    assert "Released 1 claim" in blocks[5]
    assert (
        "Unknown command /haul nope: one of board, carrier, claim, expiry, mine, plan, release." in blocks[6]
    )
    assert "Claims expire after 4 hours." in blocks[7]
    assert f"Haul plan: {SHIP}" in blocks[8]
    # A misspelt option is refused, not read into tonnes ("100 sitee:Coelho").
    assert "/haul claim has no option sitee: its options are commodity, tonnes, site." in blocks[9]
