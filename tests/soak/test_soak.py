"""A short squadron soak: real uploader processes tailing growing journal folders, the real bot on
loopback, the bot SIGKILLed and restarted, uploaders SIGKILLed and restarted; at the end the bot
holds exactly the journals' events and its sites and leaderboard equal the state computed straight
from the journal files. (`python -m bench.soak` is the long version with 50 commanders.)"""

from __future__ import annotations

from pathlib import Path

from bench.soak import SoakConfig, report, run_soak


async def test_nothing_lost_nothing_counted_twice_through_kills(tmp_path: Path) -> None:
    cfg = SoakConfig(commanders=4, seconds=12.0, game_seconds=1200.0, bot_kills=1, uploader_kills=3, seed=3,
                     settle_timeout=90.0)  # fmt: skip
    lines: list[str] = []
    result = await run_soak(cfg, tmp_path, say=lines.append)
    summary = "\n".join(report(result))
    assert (result.bot_kills, result.uploader_kills) == (1, 3), summary
    assert result.lines_written > 500
    assert result.expected > 150  # the journals mean something: hand-ins, snapshots, dockings
    assert result.lost == 0, summary
    assert result.extra == 0, summary
    assert result.altered == 0, summary  # every stored event as the journals say, not only its id
    assert result.stored == result.expected
    assert result.sites_equal, summary
    assert result.sites >= 1
    assert result.tonnes > 1000
    assert result.leaderboard_equal, summary
    assert result.ok
