"""No token, nor its hash, in any log line of a full run of the real programs at DEBUG level.

The run: `colony-bot token issue`, `colony-bot run`, `colony-uploader backfill` and `doctor` with
the good token, then failures: a wrong token, the token revoked (`token revoke`) while the uploader
has more to send, and a malformed upload. Every line the programs log (stderr and their log files)
is then searched for the token, its secret part and its SHA-256.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from bench._procs import BotProcess, bot_env, clean_env, free_port
from bot.demo.journals import generate

TIMEOUT = 60.0


async def _run(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _uploader_env(tmp: Path, url: str, token: str, journals: Path) -> dict[str, str]:
    return clean_env(
        {
            "COLONY_UPLOADER_URL": url,
            "COLONY_UPLOADER_TOKEN": token,
            "COLONY_UPLOADER_JOURNAL_DIR": str(journals),
            "COLONY_UPLOADER_STATE_DIR": str(tmp / "uploader"),
            "COLONY_UPLOADER_CONFIG_FILE": str(tmp / "none.toml"),
            "COLONY_UPLOADER_LOG_LEVEL": "DEBUG",
            "COLONY_UPLOADER_GIVE_UP_AFTER": "5",
        }
    )


def _read_logs(tmp_path: Path, bot_log: Path) -> str:
    paths = (tmp_path / "bot.stderr", bot_log, *sorted(tmp_path.rglob("uploader.log*")))
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in paths)


async def test_no_secret_in_any_log_line_of_a_full_run(tmp_path: Path) -> None:
    db = tmp_path / "colony.db"
    bot_log = tmp_path / "bot.log"
    env = bot_env(db, 0, COLONY_LOG_LEVEL="DEBUG", COLONY_LOG_FILE=str(bot_log))
    code, out, issue_err = await _run("-m", "bot", "token", "issue", "--guild", "5", "--user", "6", env=env)
    assert code == 0
    token = out.strip().splitlines()[-1]
    logs: list[str] = [issue_err]

    journals = generate(datetime(2026, 3, 1, 18, 0, tzinfo=UTC))
    commander = next(iter(journals.files))
    lines = [jl.text for jl in journals.lines if jl.commander == commander]
    folder = tmp_path / "journals"
    folder.mkdir()
    journal = folder / journals.files[commander]
    half = len(lines) // 2
    journal.write_bytes("".join(f"{t}\r\n" for t in lines[:half]).encode())

    bot = BotProcess(db, free_port(), log=tmp_path / "bot.stderr", COLONY_LOG_LEVEL="DEBUG",
                     COLONY_LOG_FILE=str(bot_log))  # fmt: skip
    await bot.start()
    try:
        good = _uploader_env(tmp_path, bot.url, token, folder)
        code, _, err = await _run("-m", "uploader", "-v", "backfill", env=good)
        assert code == 0, err
        logs.append(err)
        code, out, err = await _run("-m", "uploader", "-v", "doctor", env=good)
        assert code == 0, out + err
        logs += [out, err]

        wrong = _uploader_env(tmp_path / "wrong", bot.url, token[:-3] + "zzz", folder)
        code, _, err = await _run("-m", "uploader", "-v", "backfill", env=wrong)
        assert code == 3, err  # token refused
        logs.append(err)

        code, out, err = await _run("-m", "bot", "token", "revoke", token[:12], env=env)
        assert code == 0, err
        logs += [out, err]
        with journal.open("ab") as f:
            f.write("".join(f"{t}\r\n" for t in lines[half:]).encode())
        code, _, err = await _run("-m", "uploader", "-v", "backfill", env=good)
        assert code == 3, err
        logs.append(err)

        async with aiohttp.ClientSession() as session:
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            async with session.post(
                f"{bot.url}/api/v1/events", data=b"{" + token.encode(), headers=headers
            ) as r:
                assert r.status == 401
    finally:
        assert await bot.stop() == 0

    logs += [_read_logs(tmp_path, bot_log)]
    text = "\n".join(logs)
    # The run did log what happened, so the search below searched something.
    assert "colony bot (offline) listening" in text
    assert "backfill complete" in text
    assert "revoked" in text or "refused" in text
    assert len(text.splitlines()) > 30
    digest = hashlib.sha256(token.encode()).hexdigest()
    for secret in (token, token[12:], token[12:30], digest, token[:-3] + "zzz"):
        assert secret not in text, f"a log line holds {secret[:6]}…"
