"""`make bench` / `python -m bench [--quick]`: every benchmark, then one table of figures and targets.

Each benchmark runs as its own subprocess, one after the other (they would skew each other on a
small machine), with its usual output shown as it goes; its figures are then read from that output
(or, for the soak and the backfill, from the JSON they write) and set beside their targets.
`--quick` runs each one small, to check the whole chain works; its figures are not the measurement.
A benchmark that fails to run or to print its figures shows as an error row, and the others go on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Row:
    bench: str
    figure: str
    value: str
    target: str
    verdict: str  # "pass", "FAIL", or "-" where there is no target


@dataclass(frozen=True)
class Bench:
    name: str
    module: str
    full: list[str]
    quick: list[str]
    rows: Callable[[str, dict[str, Any] | None], list[Row]]
    uses_json: bool = False


def _num(pattern: str, text: str) -> float:
    match = re.search(pattern, text, re.MULTILINE)
    if match is None:
        raise ValueError(f"no figure matching {pattern!r} in the output")
    return float(match.group(1).replace(",", ""))


def _check(ok: bool) -> str:
    return "pass" if ok else "FAIL"


def normalise_rows(out: str, _: dict[str, Any] | None) -> list[Row]:
    ratio = _num(r"ratio \(ours / naive\): ([\d.]+)x", out)
    floor = _num(r"floor: .*, ([\d.]+)x naive", out)
    return [Row("normalise", "reader+normaliser vs naive json.loads+filter", f"{ratio:.2f}x", ">= 4.0x",
                _check(ratio >= 4.0)),
            Row("normalise", "floor: find + parse the lines sent, nothing built", f"{floor:.2f}x", "-",
                "-")]  # fmt: skip


def latency_rows(out: str, _: dict[str, Any] | None) -> list[Row]:
    rows = []
    for mode, p50_target, p99_target in (
        ("watchdog", 100.0, 1000.0), ("poll", None, 1500.0), ("watchdog/write", 100.0, 1000.0),
        ("poll/write", None, 1500.0),
    ):  # fmt: skip
        match = re.search(rf"^{mode}\s+\d+\s+([\d.]+) ms\s+(?:< \d+ ms|-)\s+([\d.]+) ms", out, re.MULTILINE)
        if match is None:
            raise ValueError(f"no {mode} line in the output")
        p50, p99 = float(match.group(1)), float(match.group(2))
        what = "write -> its last line" if mode.endswith("/write") else "line written -> batch"
        mode = mode.removesuffix("/write")
        if p50_target is not None:
            target = f"< {p50_target:.0f} ms"
            rows.append(
                Row(
                    "live latency",
                    f"{mode}: {what} received p50",
                    f"{p50:.0f} ms",
                    target,
                    _check(p50 < p50_target),
                )
            )
        target = f"< {p99_target:.0f} ms"
        rows.append(
            Row(
                "live latency",
                f"{mode}: {what} received p99",
                f"{p99:.0f} ms",
                target,
                _check(p99 < p99_target),
            )
        )
    return rows


def intake_rows(out: str, _: dict[str, Any] | None) -> list[Row]:
    rate = _num(r"sustained.*?:\s+([\d,]+) events/s stored", out)
    p99 = _num(r"paced .*?p99\s+([\d.]+) ms", out)
    return [
        Row(
            "intake",
            "sustained events stored per second",
            f"{rate:,.0f}/s",
            ">= 20,000/s",
            _check(rate >= 20_000),
        ),
        Row("intake", "POST p99 at 2,000 events/s", f"{p99:.1f} ms", "< 100 ms", _check(p99 < 100)),
    ]


def queries_rows(out: str, _: dict[str, Any] | None) -> list[Row]:
    warm = _num(r"status data, warm\s+p50\s+[\d.]+ ms\s+p99\s+([\d.]+) ms", out)
    cold = _num(r"status data, every site changed\s+p50\s+[\d.]+ ms\s+p99\s+([\d.]+) ms", out)
    system = _num(r"GET /api/v1/systems/\{name\}.*?p99\s+([\d.]+) ms", out)
    return [
        Row("queries", "/colony status data p99, warm", f"{warm:.2f} ms", "< 20 ms", _check(warm < 20)),
        Row(
            "queries",
            "/colony status data p99, every site changed",
            f"{cold:.2f} ms",
            "< 20 ms",
            _check(cold < 20),
        ),
        Row("queries", "GET /api/v1/systems/{name} p99", f"{system:.2f} ms", "-", "-"),
    ]


def haul_rows(out: str, _: dict[str, Any] | None) -> list[Row]:
    one = _num(r"one haul board\s+p50\s+([\d.]+) ms", out)
    every = _num(r"every site's boards\s+p50\s+([\d.]+) ms", out)
    return [
        Row("haul board", "/haul board of one site, p50", f"{one:.2f} ms", "< 50 ms", _check(one < 50)),
        Row("haul board", "every site's boards, p50", f"{every:.2f} ms", "-", "-"),
    ]


def soak_rows(_: str, data: dict[str, Any] | None) -> list[Row]:
    assert data is not None

    def zero(figure: str, key: str) -> Row:  # a count whose target is 0
        return Row("soak", figure, str(data[key]), "0", _check(data[key] == 0))

    who = f"{data['commanders']} cmdrs, {data['seconds']:.0f} s"
    chaos = f"bot killed {data['bot_kills']}x, uploaders {data['uploader_kills']}x"
    return [
        zero(f"{who}: events lost ({chaos})", "lost"),
        zero("events lost to id collisions between commanders", "collided"),
        zero("events stored that no journal holds", "extra"),
        zero("events stored with other content than the journals' (same id)", "altered"),
        Row(
            "soak",
            "commanders / bot kills / uploader kills",
            f"{data['commanders']} / {data['bot_kills']} / {data['uploader_kills']}",
            ">= 50 / 5 / 20",
            _check(data["commanders"] >= 50 and data["bot_kills"] >= 5 and data["uploader_kills"] >= 20),
        ),
        Row(
            "soak",
            "sites and leaderboard equal to the journals'",
            "yes" if data["sites_equal"] and data["leaderboard_equal"] else "no",
            "yes",
            _check(data["sites_equal"] and data["leaderboard_equal"]),
        ),
        Row(
            "soak",
            "events: journals / received / stored / duplicates",
            f"{data['expected']:,} / {data['received']:,} / {data['stored']:,} / {data['duplicates']:,}",
            "-",
            "-",
        ),
        Row("soak", "line written -> accepted p99 (outages included)", f"{data['p99_ms']:,.0f} ms", "-", "-"),
        Row(
            "soak",
            "line written -> accepted p99, outside start-up/outages",
            f"{data['calm_p99_ms']:,.0f} ms",
            "-",  # no target set: 50 uploaders, the writers and the bot share this machine's CPUs
            "-",
        ),
        Row(
            "soak",
            "peak memory: bot / largest uploader",
            f"{data['bot_peak_mb']:.0f} MB / {data['uploader_peak_mb']:.0f} MB",
            "-",
            "-",
        ),
    ]


def backfill_rows(_: str, data: dict[str, Any] | None) -> list[Row]:
    assert data is not None
    return [
        Row(
            "backfill",
            f"naive json.loads, {data['mb']:.0f} MB of real sessions (a)",
            f"{data['naive_mbs']:.1f} MB/s",
            "-",
            "-",
        ),
        Row(
            "backfill",
            f"colony-uploader backfill until stored (b), median of {len(data['runs'])}",
            f"{data['ours_mbs']:.1f} MB/s",
            "-",
            "-",
        ),
        Row(
            "backfill",
            "first run end to end, b/a",
            f"{data['ratio']:.2f}x",
            ">= 1.0x",
            _check(data["ratio"] >= 1.0),
        ),
    ]


BENCHES = [
    Bench("normalise", "bench.normalise", [], ["--mb", "20", "--runs", "1"], normalise_rows),
    Bench("live latency", "bench.live_latency", [], ["--seconds", "4"], latency_rows),
    Bench("intake", "bench.intake", [], ["--seconds", "3", "--runs", "1"], intake_rows),
    Bench("queries", "bench.queries", [], ["--events", "50000", "--repeat", "50"], queries_rows),
    Bench("haul board", "bench.haul_board", [], ["--events", "30000", "--repeat", "10"], haul_rows),
    Bench(
        "soak",
        "bench.soak",
        [],
        [
            "--commanders",
            "8",
            "--seconds",
            "20",
            "--game-seconds",
            "1200",
            "--bot-kills",
            "2",
            "--uploader-kills",
            "5",
        ],
        soak_rows,
        uses_json=True,
    ),
    Bench("backfill", "bench.backfill", [], ["--mb", "20", "--runs", "1"], backfill_rows, uses_json=True),
]


def run_one(bench: Bench, quick: bool, work: Path) -> tuple[list[Row], float]:
    args = list(bench.quick if quick else bench.full)
    result_file = work / f"{bench.module}.json"
    if bench.uses_json:
        args += ["--json", str(result_file)]
    print(f"\n=== {bench.name}: python -m {bench.module} {' '.join(args)}", flush=True)
    started = time.monotonic()
    command = [sys.executable, "-m", bench.module, *args]
    proc = subprocess.run(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False
    )
    seconds = time.monotonic() - started
    print(proc.stdout, end="", flush=True)
    try:
        data = json.loads(result_file.read_text()) if bench.uses_json else None
        return bench.rows(proc.stdout, data), seconds
    except (ValueError, OSError, KeyError, AssertionError) as exc:
        reason = f"exit {proc.returncode}; {exc}" if str(exc) else f"exit {proc.returncode}"
        return [Row(bench.name, "did not give its figures", "error", "-", f"FAIL ({reason[:60]})")], seconds


def machine() -> str:
    memory = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return (f"{os.cpu_count()} CPUs (nproc), {memory} memory, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}")  # fmt: skip


def table(rows: list[Row]) -> str:
    header = Row("benchmark", "figure", "measured", "target", "result")
    widths = [
        max(len(getattr(r, f)) for r in [header, *rows]) for f in ("bench", "figure", "value", "target")
    ]
    lines = []
    for r in [header, *rows]:
        cells = [r.bench, r.figure, r.value, r.target]
        lines.append(
            "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + f" | {r.verdict:<6} |"
        )
        if r is header:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|--------|")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small runs: check the chain, not the figures")
    parser.add_argument(
        "--only", action="append", help="run only these benchmarks (by name), e.g. --only soak"
    )
    args = parser.parse_args(argv)
    chosen = [b for b in BENCHES if not args.only or b.name in args.only]
    rows: list[Row] = []
    durations = []
    with tempfile.TemporaryDirectory(prefix="colony-bench-all-") as tmp:
        for bench in chosen:
            got, seconds = run_one(bench, args.quick, Path(tmp))
            rows += got
            durations.append(f"{bench.name} {seconds:.0f} s")
    print()
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"ED Colony benchmarks{' (--quick: not the measurement)' if args.quick else ''}, {when}")
    print(f"machine: {machine()}")
    print(table(rows))
    print(f"(run times: {', '.join(durations)})")
    return 0 if all(r.verdict in ("pass", "-") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
