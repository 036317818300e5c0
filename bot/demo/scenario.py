"""`colony-bot demo`: a squadron scenario on real parts, offline, in under a minute.

The offline bot (real intake, real SQLite file in a temporary folder, a free loopback port), one
real uploader process per commander (`python -m uploader run`, the bot never imports it) tailing a
journal folder this module writes while the "game" plays, channel updates printed as they happen,
and at the end `/colony status` for the colony's system, answered by the same code as Discord's.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from bot.app import ColonyCore
from bot.console import Caller, execute
from bot.demo.journals import COMMANDERS, SITES, SYSTEM, Journals, generate
from bot.discord.replies import ColonyReplies
from bot.notify.channels import ChannelUpdates, ConsoleChannelPort, FollowTarget, SettingsFollowStore
from bot.services.bundle import Services
from bot.settings import Settings

GUILD = 1
CHANNEL = 1001  # stands for #colony-updates
FIRST_USER = 100


class DemoError(Exception):
    """The demo could not finish; the message says why."""


@dataclass(frozen=True, slots=True)
class DemoOptions:
    speed: float = 100.0  # game seconds per wall-clock second
    deadline: float = 55.0  # wall-clock seconds for the whole run
    keep: Path | None = None  # keep the journals, database and logs here instead of a temp folder


def _uploader_env(url: str, token: str, journal_dir: Path, state_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COLONY_")}
    env.update(
        COLONY_UPLOADER_URL=url,
        COLONY_UPLOADER_TOKEN=token,
        COLONY_UPLOADER_JOURNAL_DIR=str(journal_dir),
        COLONY_UPLOADER_STATE_DIR=str(state_dir),
        # Never the user's own uploader config.
        COLONY_UPLOADER_CONFIG_FILE=str(state_dir / "config.toml"),
        COLONY_UPLOADER_POLL_INTERVAL="0.2",
        PYTHONUNBUFFERED="1",
    )
    return env


async def _grow(journals: Journals, root: Path, speed: float, out: TextIO) -> None:
    """Appends each line when its game time comes (sped up), as the game would."""
    handles = {}
    try:
        for commander, name in journals.files.items():
            folder = journals.folder(root, commander)
            folder.mkdir(parents=True, exist_ok=True)
            handles[commander] = (folder / name).open("ab")
        started = time.monotonic()
        for line in journals.lines:
            due = (line.at - journals.start).total_seconds() / speed
            delay = due - (time.monotonic() - started)
            if delay > 0:
                await asyncio.sleep(delay)  # pacing the scenario, not waiting for a result
            handle = handles[line.commander]
            handle.write(f"{line.text}\r\n".encode())
            handle.flush()
    finally:
        for handle in handles.values():
            handle.close()
    print(f"[demo] the game wrote {len(journals.lines)} journal lines", file=out, flush=True)


def _delivered(services: Services, journals: Journals) -> bool:
    """Every site shows what the journals end with (all snapshots and contributions are in)."""
    state = services.state.get(GUILD)
    views = {s.market_id: s for s in state.site_views()}
    for market_id, provided in journals.final.items():
        site = views.get(market_id)
        if site is None or {c.name: c.provided for c in site.commodities} != provided:
            return False
        if sum(c.tonnes for c in site.contributions) != _ledger_total(journals, market_id):
            return False
    return True


def _ledger_total(journals: Journals, market_id: int) -> int:
    site = next(s for s in SITES if s.market_id == market_id)
    return sum(journals.final[market_id].values()) - sum(site.provided.values())


def uploader_missing() -> str | None:
    """Why the uploader cannot run here, if it cannot (looked up, never imported: the bot and the
    uploader are separate programs)."""
    for module in ("uploader", "httpx", "watchdog", "platformdirs"):
        if importlib.util.find_spec(module) is None:
            return (
                f"the demo runs the real uploader, which needs {module}: "
                "pip install '.[uploader]' in the project's folder"
            )
    return None


async def run_demo(options: DemoOptions, out: TextIO = sys.stdout) -> int:
    missing = uploader_missing()
    if missing is not None:
        print(f"colony-bot demo: {missing}", file=sys.stderr)
        return 2
    if options.keep is not None and options.keep.is_dir() and any(options.keep.iterdir()):
        # A second demo's events would add to the first one's database (new journals, new times).
        print(
            f"colony-bot demo: --keep {options.keep} is not empty (an earlier demo?): "
            "give an empty or new folder, or delete this one",
            file=sys.stderr,
        )
        return 2
    with contextlib.ExitStack() as stack:
        root = options.keep or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="colony-demo-")))
        root.mkdir(parents=True, exist_ok=True)
        return await _run(root, options, out)


async def _run(root: Path, options: DemoOptions, out: TextIO) -> int:
    deadline = time.monotonic() + options.deadline
    settings = Settings(
        db_path=root / "colony.db",
        http_host="127.0.0.1",
        http_port=0,
        public_url="http://127.0.0.1",
        log_file=None,
    )
    core = ColonyCore(settings, mode="offline")
    await core.start()
    url = f"http://127.0.0.1:{core.port}"
    services = core.services
    updates = ChannelUpdates(
        ConsoleChannelPort(out),
        SettingsFollowStore(services.db),
        burst_quiet=2.0,
        edit_interval=10.0,
        capacity=services.queries.hold_capacity,
    )
    processes: list[asyncio.subprocess.Process] = []
    try:
        await updates.load()
        updates.start(services.feed, interval=0.5)
        await updates.follow(GUILD, FollowTarget(channel_id=CHANNEL, system=SYSTEM), [])
        span = max(line.at for line in generate(datetime.now(UTC)).lines) - datetime.now(UTC)
        # The scenario ends now: game time in the recent past, as for a squadron playing live.
        journals = generate(datetime.now(UTC).replace(microsecond=0) - span - timedelta(seconds=5))
        print(
            f"[demo] ED Colony bot (offline) on {url}, database {settings.db_path}\n"
            f"[demo] {len(COMMANDERS)} commanders haul to {len(SITES)} construction sites in {SYSTEM}; "
            f"channel {CHANNEL} follows the system\n"
            f"[demo] {span.total_seconds() / 60:.0f} minutes of play at {options.speed:.0f}x",
            file=out,
            flush=True,
        )
        for index, commander in enumerate(COMMANDERS):
            token, _ = await services.tokens.issue(GUILD, FIRST_USER + index, commander.name)
            journal_dir = journals.folder(root / "journals", commander.name)
            journal_dir.mkdir(parents=True, exist_ok=True)
            state_dir = root / "uploader" / commander.name.replace(" ", "_")
            state_dir.mkdir(parents=True, exist_ok=True)
            log = (state_dir / "uploader.out").open("wb")
            processes.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "uploader",
                    "run",
                    "--poll",
                    env=_uploader_env(url, token, journal_dir, state_dir),
                    stdout=log,
                    stderr=asyncio.subprocess.STDOUT,
                )
            )
            log.close()
            print(f"[demo] uploader started for CMDR {commander.name}", file=out, flush=True)
        await _grow(journals, root / "journals", options.speed, out)
        while not _delivered(services, journals):
            for process, commander in zip(processes, COMMANDERS, strict=True):
                if process.returncode is not None:
                    raise DemoError(
                        f"the uploader of CMDR {commander.name} exited with {process.returncode}; see "
                        f"{root / 'uploader' / commander.name.replace(' ', '_') / 'uploader.out'}"
                    )
            if time.monotonic() > deadline:
                raise DemoError("not every journal line reached the bot in time")
            await asyncio.sleep(0.2)  # polling a condition with a deadline (the demo is a program)
        print("[demo] every event delivered; stopping the uploaders", file=out, flush=True)
    except DemoError as exc:
        print(f"[demo] failed: {exc}", file=out, flush=True)
        return 1
    finally:
        for process in processes:
            if process.returncode is None:
                process.terminate()
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                await asyncio.wait_for(process.wait(), 10)
        await updates.close()
        replies = ColonyReplies(services.queries, services.tokens, updates, public_url=url)
        line = f"/colony status {SYSTEM}"
        print(f"\n> {line}\n{await execute(replies, line, Caller(GUILD))}", file=out, flush=True)
        await core.stop()
    return 0
