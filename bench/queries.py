"""Read-side speed on a big store: one million events over 50 sites in 5 guilds.

The store is filled through the real intake service (validation, state, projections, one
transaction per group of batches), then:

1. a bot process (`python -m bot run`) starts on it: the time to load the state, then
   `GET /api/v1/systems/{name}` over loopback HTTP, beside `GET /api/v1/health` as the baseline
   (same process, same connection: the HTTP floor);
2. in this process, on the state the bot loads at start: the `/colony status` data
   (`QueryService.status`), warm (views cached) and cold (every site changed since it was last
   shown), beside serialising that same data to JSON as the baseline (work any answer does).

Targets: status data under 20 ms. (No target is set for the HTTP figure; it is printed beside the
baseline.)

    python -m bench.queries [--events 1000000] [--keep PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import quote

import aiohttp

from bench._squadron import Commander, batch, squadron_sites
from bench._stats import percentile
from bot.services.bundle import build_services
from bot.store.db import Database
from wire import Batch

GUILDS = 5
SITES_PER_GUILD = 10
COMMANDERS_PER_GUILD = 4
BATCH = 2000
TARGET_STATUS_MS = 20.0


async def fill(db_path: Path, total: int) -> tuple[float, list[str]]:
    db = Database(db_path, synchronous="NORMAL")  # filling only: the bench does not measure this
    await db.open()
    services = await build_services(db)
    tokens = []
    streams = []
    for guild in range(1, GUILDS + 1):
        sites = squadron_sites(guild, SITES_PER_GUILD)
        for n in range(COMMANDERS_PER_GUILD):
            token, record = await services.tokens.issue(guild, 100 * guild + n + 1)
            if n == 0:
                tokens.append(token)
            cmdr = Commander(f"CMDR G{guild} N{n}", f"Journal.2025-04-08T20000{n}.01.log", sites)
            streams.append((record, cmdr.events()))
    per_stream = total // len(streams)
    started = time.perf_counter()
    done = 0
    for round_no in range((per_stream + BATCH - 1) // BATCH):
        size = min(BATCH, per_stream - round_no * BATCH)
        pending = []
        for index, (record, stream) in enumerate(streams):
            body = batch([next(stream) for _ in range(size)], f"s{index}-r{round_no}")
            pending.append(services.intake.submit(record, Batch.model_validate(body)))
        await asyncio.gather(*pending)
        done += size * len(streams)
        if round_no % 10 == 0:
            rate = done / (time.perf_counter() - started)
            print(f"  {done:,} events stored ({rate:,.0f}/s)", flush=True)
    await services.intake.close()
    await db.close()
    return time.perf_counter() - started, tokens


async def timed(call: Callable[[], Awaitable[object]], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def env(db: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("COLONY_")}
    return base | {"COLONY_DB_PATH": str(db), "COLONY_HTTP_PORT": "0", "COLONY_LOG_LEVEL": "WARNING",
                   "COLONY_RATE_LIMIT_PER_MINUTE": "1000000",
                   "COLONY_RATE_LIMIT_BURST": "100000"}  # fmt: skip


async def http_figures(
    db_path: Path, token: str, system: str, repeat: int
) -> tuple[float, list[float], list[float]]:
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", env=env(db_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        while True:
            line = (await asyncio.wait_for(proc.stdout.readline(), 600)).decode()
            if not line:
                raise RuntimeError("the bot exited before listening")
            if "intake at " in line:
                url = line.split("intake at ")[1].split("/api/v1/events")[0]
                break
        startup = time.perf_counter() - started
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession(headers=headers) as session:

            async def get(path: str) -> None:
                async with session.get(url + path) as resp:
                    assert resp.status == 200, await resp.text()
                    await resp.read()

            await timed(lambda: get("/api/v1/health"), 20)  # warm the connection
            health = await timed(lambda: get("/api/v1/health"), repeat)
            system_ms = await timed(lambda: get(f"/api/v1/systems/{quote(system)}"), repeat)
    finally:
        proc.terminate()
        await proc.wait()
    return startup, health, system_ms


async def status_figures(db_path: Path, repeat: int) -> tuple[list[float], list[float], list[float], int]:
    db = Database(db_path)
    await db.open()
    try:
        services = await build_services(db)
        queries = services.queries
        events = sum(g.events_stored for g in services.state.guilds.values())
        status = await queries.status(1)

        async def dump() -> None:
            status.model_dump_json()

        baseline = await timed(dump, repeat)
        warm = await timed(lambda: queries.status(1), repeat)
        guild = services.state.get(1)
        cold = []
        for _ in range(repeat):
            for market_id in list(guild.sites):
                guild._site_changed(market_id)  # as if a batch had touched every site
            guild.take_changes()
            cold.extend(await timed(lambda: queries.status(1), 1))
        return baseline, warm, cold, events
    finally:
        await db.close()


def line(label: str, ms: list[float], extra: str = "") -> str:
    return f"  {label:<46} p50 {statistics.median(ms):7.2f} ms   p99 {percentile(ms, 99):7.2f} ms{extra}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--keep", type=Path, help="reuse (or create) the store at this path")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="colony-bench-") as folder:
        db_path = args.keep or Path(folder) / "colony.db"
        if not db_path.exists():
            print(
                f"filling a store with {args.events:,} events over {GUILDS * SITES_PER_GUILD} sites"
                f" in {GUILDS} guilds..."
            )
            fill_s, tokens = await fill(db_path, args.events)
            print(
                f"  filled in {fill_s:.0f} s"
                f" ({args.events / fill_s:,.0f} events/s through the intake service)"
            )
        else:
            db = Database(db_path)
            await db.open()
            services = await build_services(db)
            tokens = [(await services.tokens.issue(1, 999))[0]]
            await db.close()
        system = squadron_sites(1, SITES_PER_GUILD)[0].system
        startup, health, system_ms = await http_figures(db_path, tokens[0], system, args.repeat)
        baseline, warm, cold, events = await status_figures(db_path, args.repeat)

    print()
    print(
        f"queries on a store of {events:,} events in {GUILDS} guilds (guild 1 asked), {os.cpu_count()} CPUs"
    )
    print(f"  bot start-up (state loaded from the projections): {startup:.1f} s")
    print(line("GET /api/v1/health (baseline)", health))
    ratio = statistics.median(system_ms) / statistics.median(health)
    print(
        line(
            "GET /api/v1/systems/{name} (3 sites)",
            system_ms,
            f"   {ratio:.1f}x baseline",
        )
    )
    print(line("status data to JSON (baseline)", baseline))
    for label, ms in (("status data, warm", warm), ("status data, every site changed", cold)):
        p99 = percentile(ms, 99)
        verdict = "OK" if p99 < TARGET_STATUS_MS else "MISSED"
        times = statistics.median(ms) / statistics.median(baseline)
        extra = f"   target < {TARGET_STATUS_MS:.0f} ms {verdict}   {times:.1f}x baseline"
        print(line(label, ms, extra))


if __name__ == "__main__":
    asyncio.run(main())
