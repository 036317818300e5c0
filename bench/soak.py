"""Squadron soak with chaos: N commanders, each a real `colony-uploader run` process tailing its own
growing journal folder, all posting to one real bot (`colony-bot run`) on loopback, while the bot
is SIGKILLed and restarted and random uploaders are SIGKILLed and restarted.

The journals are game-format sessions (bench._squadjournals): docking, buying at a squadron
carrier, hand-ins, depot snapshots every 15 s of game time while docked, carrier trade orders and
about two thirds noise. Writers append each commander's lines at game pace, compressed so that
`--game-seconds` of play take `--seconds` of real time.

At the end (every line written, every process up again) it waits, with a bound, until the bot has
stored as many events as the journals hold, then checks, straight from the journal files (reader
and normaliser, then the bot's pure colony state), that:
  - the stored event ids are exactly the journals' ones (lost = 0, extra = 0), and no two
    commanders' journal lines share an id (the bot keeps one event per id and guild, so a shared id
    loses the second commander's event: counted as lost to id collisions);
  - every site (GET /api/v1/sites) and the leaderboard equal the state computed from the journals:
    nothing lost, nothing counted twice.
It prints events written, expected, received, stored, duplicates refused, lost, extra, the line
written -> event stored latency (p50 and p99 of all lines, outages included; p99 of the lines
written outside the uploaders' start-up and a few seconds after each kill), and the peak memory
(VmHWM) of the bot and of the largest uploader.

    python -m bench.soak [--commanders 50] [--seconds 120] [--bot-kills 5] [--uploader-kills 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import signal
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench._procs import STARTUP, BotProcess, clean_env, free_port, peak_rss_kib
from bench._squadjournals import CommanderJournals, generate
from bench._stats import percentile
from bot.domain import aggregates
from bot.domain.guild import GuildState
from bot.domain.keys import Envelope
from bot.services.tokens import TokenService
from bot.store.db import Database
from bot.store.tokens import TokenStore
from uploader.journal.files import list_journals
from uploader.journal.reader import fingerprint, read_complete_lines
from uploader.normalise.normaliser import Normaliser
from wire import KnownEvent

GUILD = 77
# After a restart: the uploaders' backoff (capped at 2 s here) and slack; an uploader's own start-up.
BOT_RECOVERY = 3.0
UPLOADER_RECOVERY = 5.0


@dataclass(frozen=True)
class SoakConfig:
    commanders: int = 50
    seconds: float = 120.0
    game_seconds: float = 3600.0
    bot_kills: int = 5
    uploader_kills: int = 20
    seed: int = 8
    settle_timeout: float = 180.0


@dataclass
class SoakResult:
    config: SoakConfig
    lines_written: int = 0
    expected: int = 0
    received: int = 0  # events in the distinct batches the bot stored (replays not counted)
    stored: int = 0
    duplicates: int = 0
    lost: int = 0
    collided: int = 0  # events of a commander lost because another commander's line had the same id
    collisions: list[str] = field(default_factory=list)  # a few of them, described
    extra: int = 0
    # Stored events whose content (commander, place, amounts...) differs from the journals' event of
    # the same id: an id says which line, not that the line was read in the right context.
    altered: int = 0
    alterations: list[str] = field(default_factory=list)  # a few of them, described
    sites_equal: bool = False
    leaderboard_equal: bool = False
    mismatch: str = ""
    latencies: list[float] = field(default_factory=list)
    calm_latencies: list[float] = field(default_factory=list)  # lines written outside any outage
    # (from, to, commander or None for the bot): wall-clock windows a kill disturbed
    outages: list[tuple[float, float, str | None]] = field(default_factory=list)
    bot_peak_kib: int = 0
    uploader_peak_kib: int = 0
    bot_kills: int = 0
    uploader_kills: int = 0
    settle_seconds: float = 0.0
    sites: int = 0  # sites the bot shows
    tonnes: int = 0  # tonnes delivered by the squadron, per the bot's leaderboard

    @property
    def ok(self) -> bool:
        return (
            self.lost == 0
            and self.collided == 0
            and self.extra == 0
            and self.altered == 0
            and self.sites_equal
            and self.leaderboard_equal
        )

    def percentile(self, pct: float, *, calm: bool = False) -> float:
        values = self.calm_latencies if calm else self.latencies
        if not values:
            return float("nan")
        return percentile(values, pct)


@dataclass(frozen=True)
class Commander:
    index: int
    journals: CommanderJournals
    token: str
    user_id: int
    token_id: int
    folder: Path
    state: Path


class UploaderProcess:
    """`python -m uploader run` for one commander; SIGKILL and restart at will."""

    def __init__(self, commander: Commander, url: str, log: Path) -> None:
        self.commander = commander
        self.log = log
        self.env = clean_env(
            {
                "COLONY_UPLOADER_URL": url,
                "COLONY_UPLOADER_TOKEN": commander.token,
                "COLONY_UPLOADER_JOURNAL_DIR": str(commander.folder),
                "COLONY_UPLOADER_STATE_DIR": str(commander.state),
                "COLONY_UPLOADER_CONFIG_FILE": str(commander.state / "none.toml"),
                # Quick recovery after the bot comes back (the default cap is five minutes).
                "COLONY_UPLOADER_BACKOFF_BASE": "0.2",
                "COLONY_UPLOADER_BACKOFF_CAP": "2",
                "COLONY_UPLOADER_LOG_LEVEL": "WARNING",
            }
        )
        self.proc: asyncio.subprocess.Process | None = None
        self.peak_kib = 0

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "uploader", "run", env=self.env, stdout=out, stderr=out
            )

    def sample_memory(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.peak_kib = max(self.peak_kib, peak_rss_kib(self.proc.pid))

    async def end(self, sig: signal.Signals) -> int:
        proc, self.proc = self.proc, None
        if proc is None:
            return 0
        if proc.returncode is None:
            self.peak_kib = max(self.peak_kib, peak_rss_kib(proc.pid))
            proc.send_signal(sig)
        return await asyncio.wait_for(proc.wait(), STARTUP)


async def issue_tokens(db: Path, squad: list[CommanderJournals], work: Path) -> list[Commander]:
    database = Database(db)
    await database.open()
    try:
        tokens = TokenService(TokenStore(database))
        out = []
        for index, journals in enumerate(squad):
            token, record = await tokens.issue(GUILD, 10_000 + index, journals.name)
            folder = work / "journals" / f"cmdr{index:02d}"
            state = work / "state" / f"cmdr{index:02d}"
            folder.mkdir(parents=True)
            state.mkdir(parents=True)
            out.append(Commander(index, journals, token, record.user_id, record.id, folder, state))
        return out
    finally:
        await database.close()


async def write_journals(
    commander: Commander, started: float, speed: float, written: dict[tuple[str, str, int], float]
) -> int:
    """Append the commander's lines at game pace (game seconds / speed); note when each landed."""
    count = 0
    for journal in commander.journals.files:
        path = commander.folder / journal.name
        with path.open("ab", buffering=0) as f:
            offset = f.tell()
            for game_at, text in journal.lines:
                # The pace of the game, not a wait for a result.
                await asyncio.sleep(max(0.0, started + game_at / speed - time.monotonic()))
                data = text.encode("utf-8") + b"\r\n"
                f.write(data)
                written[(commander.journals.name, journal.name, offset)] = time.time()
                offset += len(data)
                count += 1
    return count


async def chaos(
    cfg: SoakConfig, bot: BotProcess, uploaders: list[UploaderProcess], rng: random.Random, result: SoakResult
) -> None:
    """SIGKILL and restart the bot and random uploaders at random moments of the writing window."""
    plan = [(rng.uniform(0.1, 0.85) * cfg.seconds, "bot") for _ in range(cfg.bot_kills)]
    plan += [(rng.uniform(0.05, 0.9) * cfg.seconds, "uploader") for _ in range(cfg.uploader_kills)]
    started = time.monotonic()
    for at, what in sorted(plan):
        await asyncio.sleep(max(0.0, started + at - time.monotonic()))  # the chaos schedule
        down = time.time()
        if what == "bot":
            await bot.kill()
            await asyncio.sleep(rng.uniform(0.2, 1.5))  # down for a moment, as after a crash
            await bot.start()
            result.bot_kills += 1
            result.outages.append((down, time.time() + BOT_RECOVERY, None))
        else:
            victim = uploaders[rng.randrange(len(uploaders))]
            await victim.end(signal.SIGKILL)
            await asyncio.sleep(rng.uniform(0.1, 1.0))
            await victim.start()
            result.uploader_kills += 1
            result.outages.append((down, time.time() + UPLOADER_RECOVERY, victim.commander.journals.name))


async def sample_memory(bot: BotProcess, uploaders: list[UploaderProcess], stop: asyncio.Event) -> None:
    while not stop.is_set():
        bot.sample_memory()
        for u in uploaders:
            u.sample_memory()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


def journal_events(commander: Commander) -> list[KnownEvent]:
    """What the commander's journal folder holds, read and normalised as the uploader does."""
    normaliser = Normaliser()
    events: list[KnownEvent] = []
    for journal in list_journals(commander.folder):
        fp = fingerprint(journal.path)
        assert fp is not None
        offset = 0
        while True:
            chunk = read_complete_lines(journal.path, offset, final=True)
            if chunk.next_offset == offset:
                break
            events += normaliser.feed(journal.name, fp, chunk.lines)
            offset = chunk.next_offset
    return events


def stored_count(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        return int(conn.execute("SELECT count(*) FROM events WHERE guild_id = ?", (GUILD,)).fetchone()[0])


async def ready(commanders: list[Commander], bound: float) -> None:
    """Until every uploader has opened its outbox (it is then running), within `bound` seconds."""
    started = time.monotonic()
    while not all((c.state / "outbox.sqlite3").exists() for c in commanders):
        if time.monotonic() - started > bound:
            raise TimeoutError(f"the uploaders did not all start within {bound:.0f} s")
        await asyncio.sleep(0.1)  # a bounded poll of the condition


async def settle(db: Path, expected: int, bound: float) -> float:
    """Seconds until the bot holds `expected` events (or more); raises after `bound` seconds."""
    started = time.monotonic()
    loop = asyncio.get_running_loop()
    while True:
        count = await loop.run_in_executor(None, stored_count, db)
        if count >= expected:
            return time.monotonic() - started
        if time.monotonic() - started > bound:
            raise TimeoutError(f"after {bound:.0f} s the bot holds {count} of {expected} events")
        await asyncio.sleep(0.25)  # a bounded poll of the condition


async def api_get(url: str, token: str, path: str) -> Any:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{url}{path}", headers={"Authorization": f"Bearer {token}"}) as resp,
    ):
        if resp.status != 200:
            raise RuntimeError(f"GET {path} answered {resp.status}: {await resp.text()}")
        return await resp.json()


def analyse(
    db: Path, commanders: list[Commander], written: dict[tuple[str, str, int], float], result: SoakResult
) -> dict[str, Any]:
    """Compare the bot's events with the journals'; returns the expected read models (JSON)."""
    state = GuildState(GUILD)
    expected_ids: set[str] = set()
    owners: dict[str, list[str]] = {}
    contents: dict[str, Any] = {}
    for commander in commanders:
        for event in journal_events(commander):
            expected_ids.add(event.id)
            contents[event.id] = json.loads(event.model_dump_json())
            owners.setdefault(event.id, []).append(
                f"{commander.journals.name} {event.kind} {event.source}@{event.offset}"
            )
            state.apply(Envelope(event, commander.user_id, commander.token_id))
    result.expected = sum(len(v) for v in owners.values())
    shared = [v for v in owners.values() if len(v) > 1]
    result.collided = sum(len(v) - 1 for v in shared)
    result.collisions = ["; ".join(v) for v in shared[:3]]
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT id, received_at, json_extract(payload, '$.commander'), "
            "json_extract(payload, '$.source'), json_extract(payload, '$.offset'), payload FROM events "
            "WHERE guild_id = ?",
            (GUILD,),
        ).fetchall()
        totals = conn.execute(
            "SELECT COALESCE(SUM(accepted + duplicates + ignored), 0), COALESCE(SUM(duplicates), 0) "
            "FROM batches WHERE guild_id = ?",
            (GUILD,),
        ).fetchone()
    stored_ids = {str(r[0]) for r in rows}
    result.stored = len(rows)
    result.received, result.duplicates = int(totals[0]), int(totals[1])
    result.lost = len(expected_ids - stored_ids)
    result.extra = len(stored_ids - expected_ids) + (len(rows) - len(stored_ids))
    for event_id, _, _, source, offset, payload in rows:
        if len(owners.get(str(event_id), ())) > 1:
            continue  # a collision, counted as such: which commander's content is "right" is moot
        expected, stored = contents.get(str(event_id)), json.loads(payload)
        if expected is not None and stored != expected:
            result.altered += 1
            if len(result.alterations) < 3:
                keys = expected.keys() | stored.keys()
                fields = sorted(k for k in keys if expected.get(k) != stored.get(k))
                result.alterations.append(f"{source}@{offset}: {', '.join(fields)}")
    for _, received_at, commander, source, offset, _ in rows:
        wrote = written.get((commander, source, offset))
        if wrote is not None:
            latency = datetime.fromisoformat(received_at).timestamp() - wrote
            result.latencies.append(latency)
            if not any(a <= wrote <= b and who in (None, commander) for a, b, who in result.outages):
                result.calm_latencies.append(latency)
    return {
        "sites": sorted(
            (v.model_dump(mode="json") for v in state.site_views()), key=lambda s: s["market_id"]
        ),
        "leaderboard": [e.model_dump(mode="json") for e in aggregates.leaderboard(state)],
    }


def _first_difference(got: Any, want: Any, where: str = "") -> str:
    if isinstance(got, dict) and isinstance(want, dict):
        for key in sorted(set(got) | set(want)):
            if got.get(key) != want.get(key):
                return _first_difference(got.get(key), want.get(key), f"{where}.{key}")
    if isinstance(got, list) and isinstance(want, list):
        if len(got) != len(want):
            return f"{where}: {len(got)} items, expected {len(want)}"
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            if g != w:
                return _first_difference(g, w, f"{where}[{i}]")
    return f"{where}: {str(got)[:200]} != expected {str(want)[:200]}"


async def run_soak(cfg: SoakConfig, work: Path, say: Callable[[str], None] = print) -> SoakResult:
    result = SoakResult(cfg)
    rng = random.Random(cfg.seed)
    squad = generate(cfg.commanders, cfg.game_seconds, seed=cfg.seed)
    db = work / "colony.db"
    commanders = await issue_tokens(db, squad.commanders, work)
    bot = BotProcess(db, free_port(), log=work / "bot.log", COLONY_LOG_LEVEL="WARNING")
    await bot.start()
    (work / "logs").mkdir()
    uploaders = [UploaderProcess(c, bot.url, work / "logs" / f"cmdr{c.index:02d}.log") for c in commanders]
    stop_sampling = asyncio.Event()
    sampler = asyncio.create_task(sample_memory(bot, uploaders, stop_sampling))
    try:
        await asyncio.gather(*(u.start() for u in uploaders))
        await ready(commanders, STARTUP * 4)
        say(f"soak: {cfg.commanders} commanders, {sum(c.line_count for c in squad.commanders)} lines over "
            f"{cfg.seconds:.0f} s; chaos: {cfg.bot_kills} bot and {cfg.uploader_kills} uploader "
            "kills")  # fmt: skip
        written: dict[tuple[str, str, int], float] = {}
        speed = cfg.game_seconds / cfg.seconds
        started = time.monotonic()
        counts = await asyncio.gather(
            *(write_journals(c, started, speed, written) for c in commanders),
            chaos(cfg, bot, uploaders, rng, result),
        )
        result.lines_written = sum(c for c in counts if isinstance(c, int))
        expected = len({e.id for c in commanders for e in journal_events(c)})
        result.settle_seconds = await settle(db, expected, cfg.settle_timeout)
        token = commanders[0].token
        sites = (await api_get(bot.url, token, "/api/v1/sites"))["sites"]
        board = (await api_get(bot.url, token, "/api/v1/leaderboard"))["entries"]
        for u in uploaders:
            await u.end(signal.SIGTERM)
    finally:
        stop_sampling.set()
        await sampler
        for u in uploaders:
            await u.end(signal.SIGKILL)
        await bot.stop()
    want = analyse(db, commanders, written, result)
    got = {"sites": sorted(sites, key=lambda s: s["market_id"]), "leaderboard": board}
    result.sites, result.tonnes = len(sites), sum(int(e["tonnes"]) for e in board)
    result.sites_equal = got["sites"] == want["sites"]
    result.leaderboard_equal = got["leaderboard"] == want["leaderboard"]
    if not (result.sites_equal and result.leaderboard_equal):
        result.mismatch = _first_difference(got, want)
    result.bot_peak_kib = bot.peak_kib
    result.uploader_peak_kib = max(u.peak_kib for u in uploaders)
    return result


def report(result: SoakResult) -> list[str]:
    cfg = result.config
    return [
        f"commanders {cfg.commanders}, {cfg.seconds:.0f} s, chaos: bot killed {result.bot_kills}x, "
        f"uploaders killed {result.uploader_kills}x",
        f"  journal lines written {result.lines_written:,}; events in the journals {result.expected:,}",
        f"  events received {result.received:,}, stored {result.stored:,}, "
        f"duplicates refused {result.duplicates:,}",
        f"  lost {result.lost} (target 0), lost to event id collisions between commanders "
        f"{result.collided} (target 0), extra {result.extra} (target 0), stored with other content than "
        f"the journals' {result.altered} (target 0); sites equal to the journals: "
        f"{result.sites_equal} ({result.sites} sites); leaderboard equal: {result.leaderboard_equal} "
        f"({result.tonnes:,} t delivered)",
        "  line written -> accepted by the bot (before its commit): "
        f"p50 {result.percentile(50) * 1000:.0f} ms, "
        f"p99 {result.percentile(99) * 1000:.0f} ms (outages included); outside start-up and outages: "
        f"p99 {result.percentile(99, calm=True) * 1000:.0f} ms; "
        f"settled {result.settle_seconds:.1f} s after the last line",
        f"  peak memory: bot {result.bot_peak_kib / 1024:.0f} MB, "
        f"largest uploader {result.uploader_peak_kib / 1024:.0f} MB",
        *([f"  MISMATCH {result.mismatch}"] if result.mismatch else []),
        *(f"  same id in two commanders' journals: {c}" for c in result.collisions),
        *(f"  stored otherwise than the journal says: {a}" for a in result.alterations),
        f"  {'OK: nothing lost, nothing counted twice' if result.ok else 'FAILED'}",
    ]


def figures(result: SoakResult) -> dict[str, Any]:
    cfg = result.config
    return {
        "commanders": cfg.commanders, "seconds": cfg.seconds, "bot_kills": result.bot_kills,
        "uploader_kills": result.uploader_kills, "lines": result.lines_written, "expected": result.expected,
        "received": result.received, "stored": result.stored, "duplicates": result.duplicates,
        "lost": result.lost, "collided": result.collided, "extra": result.extra, "altered": result.altered,
        "sites_equal": result.sites_equal, "leaderboard_equal": result.leaderboard_equal,
        "p50_ms": result.percentile(50) * 1000,
        "p99_ms": result.percentile(99) * 1000,
        "calm_p99_ms": result.percentile(99, calm=True) * 1000, "bot_peak_mb": result.bot_peak_kib / 1024,
        "uploader_peak_mb": result.uploader_peak_kib / 1024, "ok": result.ok,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    defaults = SoakConfig()
    parser.add_argument("--commanders", type=int, default=defaults.commanders)
    parser.add_argument("--seconds", type=float, default=defaults.seconds)
    parser.add_argument("--game-seconds", type=float, default=defaults.game_seconds)
    parser.add_argument("--bot-kills", type=int, default=defaults.bot_kills)
    parser.add_argument("--uploader-kills", type=int, default=defaults.uploader_kills)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--keep", type=Path, help="work in this (new) folder and keep it")
    parser.add_argument(
        "--json", type=Path, help="also write the figures to this file (for `python -m bench`)"
    )
    args = parser.parse_args(argv)
    cfg = SoakConfig(
        args.commanders, args.seconds, args.game_seconds, args.bot_kills, args.uploader_kills, args.seed
    )
    with tempfile.TemporaryDirectory(prefix="colony-soak-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        result = asyncio.run(run_soak(cfg, work))
    print("\n".join(report(result)))
    if args.json is not None:
        args.json.write_text(json.dumps(figures(result)))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
