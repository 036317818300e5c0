"""`colony-bot demo` as a user runs it: a subprocess, bounded, its output checked against the
numbers the generated journals imply."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.demo.journals import COMMANDERS, SITES, SYSTEM, generate

REPO = Path(__file__).resolve().parents[2]


def _demo(keep: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """`colony-bot demo --keep KEEP` as a user runs it, without this shell's COLONY_ settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COLONY_")}
    return subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--keep", str(keep)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    keep = tmp_path_factory.mktemp("demo")
    return _demo(keep, timeout=90), keep


def test_the_demo_exits_0(demo_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    done, _ = demo_run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "[demo] every event delivered" in done.stdout


def test_channel_updates_are_printed_as_they_happen(
    demo_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    out = demo_run[0].stdout
    orbital, planetary = SITES
    # One live message per site, posted once, then edited in place.
    assert out.count(f"  {orbital.name}\n  ====") >= 2
    assert "message 2 edited" in out or "message 1 edited" in out
    # A feed line per hand-in, in the brief's form.
    assert f"CMDR {COMMANDERS[0].name} delivered 784 t of Steel to {planetary.name}, 45.0% to 58.1%" in out
    feed = [line for line in out.splitlines() if line.startswith("  CMDR ") and " delivered " in line]
    assert len(feed) == sum(c.trips for c in COMMANDERS)
    assert f"\U0001f389 {planetary.name} in {SYSTEM} is complete!" in out
    assert f"{orbital.name} in {SYSTEM} reached 75%" in out
    # Announcements come after the deliveries that caused them.
    assert out.index("is complete!") > out.index(f"to {planetary.name}, 90.1% to 100.0%")


def test_the_final_status_matches_the_journals(
    demo_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    out = demo_run[0].stdout
    status = out.split(f"> /colony status {SYSTEM}\n", 1)[1]
    journals = generate(datetime.now(UTC))
    orbital, planetary = SITES
    required = sum(orbital.required.values())
    provided = sum(journals.final[orbital.market_id].values())
    assert f"## {orbital.name}\n" in status
    assert f"{provided / required * 100:.1f}% · {required - provided:,} t left" in status
    assert f"## {planetary.name}\n\u2588" in status
    assert "complete" in status.split(f"## {planetary.name}\n", 1)[1]
    assert "1 site in progress · 1 complete" in status


def test_the_uploaders_really_ran(demo_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, keep = demo_run
    for commander in COMMANDERS:
        state = keep / "uploader" / commander.name.replace(" ", "_")
        assert any(state.iterdir()), f"no uploader state for {commander.name}"
    assert (keep / "colony.db").is_file()


def test_a_second_demo_in_the_kept_folder_is_refused_at_once(
    demo_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    """Its events would add to the first demo's database, and it would wait out its deadline for
    numbers that can no longer add up; the user is told at once instead (exit 2)."""
    keep = demo_run[1]
    again = _demo(keep, timeout=30)
    assert again.returncode == 2, again.stdout[-1500:] + again.stderr[-1500:]
    assert f"--keep {keep} is not empty" in again.stderr
    assert again.stdout == ""


def test_live_messages_count_trips_in_the_hold_colony_site_uses(
    demo_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    out = demo_run[0].stdout
    updates = out.split("\n> /colony status", 1)[0]
    # `/colony site` counts trips in the squadron's biggest known hold (README); once the
    # commanders' Loadouts are in, the live progress message should say the same, not the
    # 794 t fallback for "no hold known".
    biggest = max(c.capacity for c in COMMANDERS)
    last = re.findall(r"trips? of ([\d,]+) t", updates)[-1]
    assert int(last.replace(",", "")) == biggest, updates[-2500:]
