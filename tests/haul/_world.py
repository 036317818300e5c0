"""A real store (temporary SQLite file, the real services) fed with the real journals, one or more
commanders, through the uploader's own normaliser and the bot's intake; a clock the tests move.

Other commanders are renamed copies of the real April 2025 journal: their Fileheader line differs
(event ids derive from a file's first line, offset and bytes), names and FID are replaced, and the
timestamps can be shifted."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.haul_views import BoardView
from bot.services.bundle import Services, build_services
from bot.store.db import Database
from bot.store.tokens import TokenRecord
from uploader.journal.reader import split_lines
from uploader.normalise.normaliser import Normaliser
from wire import Batch
from wire.events import KnownEvent

GUILD = 4242
APRIL = "ed-journals/Journal.2025-04-08T215854.01.log"
SITE = 3958981890  # the colonisation ship the April journal delivers to
CARRIER = 3710508288  # the commander's own carrier (H5L-69X)
STATION = 3229709312  # Coelho Hub, where titanium is bought

_STAMP = re.compile(rb'"timestamp":"([0-9T:\-]+)Z"')


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: at("2025-04-08T20:00:00"))

    def __call__(self) -> datetime:
        return self.now


def renamed_copy(source: Path, target: Path, name: str, fid: str, shift: timedelta = timedelta()) -> Path:
    """`source` as another commander's journal: own header, name, FID; timestamps moved by `shift`."""
    data = source.read_bytes()
    first, rest = data.split(b"\n", 1)
    first = first.replace(b'"build":"r312744/r0 "', f'"build":"r312744/r0 copy-{name}"'.encode())
    rest = rest.replace(b'"Name":"TEST"', f'"Name":"{name}"'.encode())
    rest = rest.replace(b'"Commander":"TEST"', f'"Commander":"{name}"'.encode())
    rest = rest.replace(b"F123456789", fid.encode())

    def moved(match: re.Match[bytes]) -> bytes:
        when = datetime.fromisoformat(match.group(1).decode()) + shift
        return b'"timestamp":"' + when.strftime("%Y-%m-%dT%H:%M:%S").encode() + b'Z"'

    text = first + b"\n" + _STAMP.sub(moved, rest)
    target.write_bytes(text if text.endswith(b"\n") else text + b"\n")
    return target


def journal_events(path: Path) -> list[KnownEvent]:
    data = path.read_bytes()
    data += b"" if data.endswith(b"\n") else b"\n"  # the sample was saved without a final newline
    return Normaliser().feed(path.name, "fingerprint", split_lines(data, 0))


@dataclass
class Commander:
    token: TokenRecord
    events: list[KnownEvent]
    sent: int = 0


@dataclass
class World:
    services: Services
    clock: Clock
    commanders: dict[str, Commander] = field(default_factory=dict)
    batches: int = 0

    async def join(self, name: str, user_id: int, path: Path) -> Commander:
        _, token = await self.services.tokens.issue(GUILD, user_id, name)
        cmdr = self.commanders[name] = Commander(token, journal_events(path))
        return cmdr

    async def send(self, token: TokenRecord, events: Sequence[KnownEvent]) -> None:
        for start in range(0, len(events), 1000):
            self.batches += 1
            await self.services.intake.submit(
                token,
                Batch(
                    batch_id=f"haul-{self.batches}",
                    uploader_version="test",
                    platform="test",
                    events=list(events[start : start + 1000]),
                ),
            )

    async def play(self, name: str, until: str) -> None:
        """Sends `name`'s events up to game time `until` (inclusive), and moves the clock there."""
        cmdr = self.commanders[name]
        limit = at(until)
        upto = cmdr.sent
        while upto < len(cmdr.events) and cmdr.events[upto].timestamp <= limit:
            upto += 1
        await self.send(cmdr.token, cmdr.events[cmdr.sent : upto])
        cmdr.sent = upto
        self.clock.now = max(self.clock.now, limit)

    async def board(self, market_id: int = SITE) -> BoardView:
        board = await self.services.hauling.board(GUILD, market_id)
        assert board is not None
        assert_adds_up(board)
        return board


def assert_adds_up(board: BoardView) -> None:
    """remaining = in ships + claimed + on carriers + open, per line and in total; nothing negative."""
    for line in board.lines:
        assert min(line.in_ships, line.claimed, line.on_carriers, line.open, line.surplus) >= 0, line
        assert line.in_ships + line.claimed + line.on_carriers + line.open == line.remaining, line
    assert board.remaining == sum(line.remaining for line in board.lines)
    assert board.remaining == board.in_ships + board.claimed + board.on_carriers + board.open


def line_of(board: BoardView, commodity: str) -> tuple[int, int, int, int, int]:
    """(remaining, in ships, claimed, on carriers, open) of one commodity."""
    line = next(x for x in board.lines if x.name == commodity)
    return line.remaining, line.in_ships, line.claimed, line.on_carriers, line.open


@asynccontextmanager
async def world(tmp_path: Path) -> AsyncIterator[World]:
    db = Database(tmp_path / "colony.db")
    await db.open()
    clock = Clock()
    try:
        services = await build_services(db, clock=clock)
        yield World(services, clock)
        await services.intake.close()
    finally:
        await db.close()
