"""First run, end to end: `colony-uploader backfill` of a 200 MB history against the naive parse.

The corpus tiles the two complete real session files (`Journal.2025-04-08T215854.01.log` and
`Journal.2025-06-20T213114.01.log`) under distinct names with shifted timestamps (bench._corpus),
so the uploader sees ~150 consecutive game sessions. In one run:

(a) naive: read every file and `json.loads` every line, nothing else (the best of its passes, one
    before each (b) and one after the last, so a busy moment of the machine does not flatter the
    ratio);
(b) ours: a bot (`python -m bot run`, offline, a fresh SQLite file, default settings) is started
    and a token issued; then `colony-uploader backfill` runs as a subprocess with a fresh state
    folder, timed from its launch to its exit 0, which it reaches only once the bot has answered
    (after its commit) for every event. The bot's events table is then checked to hold exactly the
    events the reader and normaliser make of the corpus. This is done `--runs` times (3), each
    with a fresh bot, database and state folder, and the median counts: single runs on a shared
    2-CPU machine swing by a fifth, as three processes (reader, sender, bot) share its CPUs.

Prints both throughputs in MB/s of journal, each run's time, and the ratio b/a last.
Target: b/a >= 1.0.

    python -m bench.backfill [--mb 200] [--runs 3] [--samples ../shared/journals]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench._corpus import build_corpus
from bench._procs import STARTUP, BotProcess, clean_env, free_port, issue_token
from bench.normalise import ours

SESSIONS = ("Journal.2025-04-08T215854.01.log", "Journal.2025-06-20T213114.01.log")
TARGET_RATIO = 1.0
GUILD = 1


@dataclass(frozen=True)
class BackfillResult:
    mb: float
    files: int
    naive_s: float
    ours_s: float  # the median run
    events: int
    runs: tuple[float, ...] = ()

    @property
    def naive_mbs(self) -> float:
        return self.mb / self.naive_s

    @property
    def ours_mbs(self) -> float:
        return self.mb / self.ours_s

    @property
    def ratio(self) -> float:
        return self.naive_s / self.ours_s


def default_samples() -> Path:
    return Path(
        os.environ.get("COLONY_SAMPLES_DIR", Path(__file__).resolve().parents[2] / "shared" / "journals")
    )


def session_files(samples: Path) -> list[Path]:
    files = [samples / "ed-journals" / name for name in SESSIONS]
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"real session journals not found: {', '.join(missing)} (set COLONY_SAMPLES_DIR)"
        )
    return files


def naive(files: list[Path]) -> int:
    """json.loads on every line of every file; the count of lines parsed."""
    parsed = 0
    loads = json.loads
    for path in files:
        for line in path.read_bytes().splitlines():
            if not line.strip():
                continue
            try:
                loads(line)
            except ValueError:
                continue
            parsed += 1
    return parsed


def _timed_naive(files: list[Path]) -> float:
    started = time.perf_counter()
    naive(files)
    return time.perf_counter() - started


async def _backfill(files: list[Path], journal_dir: Path, work: Path) -> tuple[float, int]:
    """Seconds of `colony-uploader backfill` until every event is delivered; the events stored."""
    db = work / "colony.db"
    token = await issue_token(db, GUILD, 1, "backfill bench")
    bot = BotProcess(db, free_port(), log=work / "bot.log")
    await bot.start()
    try:
        env = clean_env(
            {
                "COLONY_UPLOADER_URL": bot.url,
                "COLONY_UPLOADER_TOKEN": token,
                "COLONY_UPLOADER_JOURNAL_DIR": str(journal_dir),
                "COLONY_UPLOADER_STATE_DIR": str(work / "uploader"),
                "COLONY_UPLOADER_CONFIG_FILE": str(work / "none.toml"),
            }
        )
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "uploader", "backfill", env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await asyncio.wait_for(proc.communicate(), 30 * STARTUP)
        seconds = time.perf_counter() - started
        if proc.returncode != 0:
            raise RuntimeError(f"backfill exited {proc.returncode}: {err.decode().strip()[-2000:]}")
    finally:
        await bot.stop()
    with sqlite3.connect(db) as conn:
        stored = int(conn.execute("SELECT count(*) FROM events WHERE guild_id = ?", (GUILD,)).fetchone()[0])
    return seconds, stored


def run(mb: int, samples: Path, runs: int = 3) -> BackfillResult:
    sources = session_files(samples)
    with tempfile.TemporaryDirectory(prefix="colony-backfill-") as tmp:
        work = Path(tmp)
        journal_dir = work / "journals"
        files = build_corpus(sources, journal_dir, mb * 1024 * 1024)
        size_mb = sum(p.stat().st_size for p in files) / (1024 * 1024)
        expected = ours(files)  # what the reader and normaliser make of it (not timed)
        naive_s = float("inf")
        times: list[float] = []
        for index in range(max(1, runs)):
            naive_s = min(naive_s, _timed_naive(files))
            folder = work / f"run{index + 1}"
            folder.mkdir()
            seconds, stored = asyncio.run(_backfill(files, journal_dir, folder))
            if stored != expected:
                raise RuntimeError(
                    f"run {index + 1}: the bot stored {stored} events; the corpus holds {expected}"
                )
            times.append(seconds)
        naive_s = min(naive_s, _timed_naive(files))
    return BackfillResult(size_mb, len(files), naive_s, statistics.median(times), expected, tuple(times))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--mb", type=int, default=200, help="corpus size in MB (default 200)")
    parser.add_argument("--samples", type=Path, default=default_samples())
    parser.add_argument(
        "--runs", type=int, default=3, help="backfills to time, each on a fresh bot; the median counts"
    )
    parser.add_argument(
        "--json", type=Path, help="also write the figures to this file (for `python -m bench`)"
    )
    args = parser.parse_args(argv)
    try:
        result = run(args.mb, args.samples, args.runs)
    except FileNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"corpus: {result.files} files, {result.mb:.1f} MB tiled from {', '.join(SESSIONS)}")
    print(f"(a) naive json.loads of every line:        {result.naive_mbs:8.1f} MB/s")
    print(f"(b) colony-uploader backfill to the bot:   {result.ours_mbs:8.1f} MB/s", end="")
    print(f" ({result.events} events stored; median of {len(result.runs)} runs: "
          f"{' / '.join(f'{s:.2f} s' for s in result.runs)})")
    if args.json is not None:
        figures = {
            "mb": result.mb,
            "files": result.files,
            "events": result.events,
            "naive_mbs": result.naive_mbs,
            "ours_mbs": result.ours_mbs,
            "ratio": result.ratio,
            "runs": list(result.runs),
        }
        args.json.write_text(json.dumps(figures))
    verdict = "met" if result.ratio >= TARGET_RATIO else "MISSED"
    print(f"ratio b/a: {result.ratio:.2f}x   target >= {TARGET_RATIO:.1f}   {verdict}")
    return 0 if result.ratio >= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
