"""The real `colony-bot` program: token commands, restart after a kill, refusals at start."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from bot.settings import Settings
from bot.store.db import migrations
from tests.bot._helpers import Journal, batch

SITE = 3958981890
STARTUP = 30.0


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COLONY_")}
    return env | {"COLONY_DB_PATH": str(tmp_path / "colony.db"), "COLONY_HTTP_PORT": "0"} | extra


async def _cli(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, env=_env(tmp_path), cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), STARTUP)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@asynccontextmanager
async def _bot(tmp_path: Path) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", env=_env(tmp_path), cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        while True:
            line = (await asyncio.wait_for(proc.stdout.readline(), STARTUP)).decode()
            assert line, "the bot exited before listening"
            if "intake at " in line:
                url = line.split("intake at ")[1].split("/api/v1/events")[0]
                break
        yield proc, url
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_token_commands(tmp_path: Path) -> None:
    code, out, err = await _cli(
        tmp_path, "token", "issue", "--guild", "42", "--user", "7", "--label", "Alice"
    )
    assert code == 0
    token = out.strip().splitlines()[-1]
    assert token.startswith("cbt_")
    assert len(token) >= 4 + 43  # 32 random bytes, URL-safe base64
    assert "shown only this once" in err
    stored = (
        sqlite3.connect(tmp_path / "colony.db").execute("SELECT token_hash, prefix FROM tokens").fetchall()
    )
    assert token not in str(stored)  # only its hash and prefix are kept
    code, out, _ = await _cli(tmp_path, "token", "list", "--guild", "42")
    assert code == 0
    assert token[:12] in out
    assert "active" in out
    assert token[12:] not in out
    code, _, err = await _cli(tmp_path, "token", "revoke", "cbt_")
    assert (code, err.strip()) == (1, "colony-bot: give at least 6 characters of the token")
    code, _, err = await _cli(tmp_path, "token", "revoke", "cbt_zzzzzzzz")
    assert (code, err.strip()) == (1, "colony-bot: no token starts with 'cbt_zzzzzzzz'")
    code, out, _ = await _cli(tmp_path, "token", "revoke", token[:10])
    assert (code, out.strip()) == (0, f"revoked {token[:12]} (user 7, guild 42)")
    code, out, _ = await _cli(tmp_path, "token", "list", "--guild", "42")
    assert "revoked" in out


async def _post(session: aiohttp.ClientSession, url: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    async with session.post(
        f"{url}/api/v1/events", json=body, headers={"Authorization": f"Bearer {token}"}
    ) as r:
        assert r.status == 200
        result: dict[str, Any] = await r.json()
        return result


async def test_a_killed_bot_restarts_with_everything_it_acknowledged(tmp_path: Path) -> None:
    code, out, _ = await _cli(tmp_path, "token", "issue", "--guild", "1", "--user", "2")
    assert code == 0
    token = out.strip().splitlines()[-1]
    alice = Journal("Alice")
    batches = [
        batch([alice.docked(0, SITE, "Site"), alice.depot(0, SITE, {"steel": (1000, 0)})], "k1"),
        *(batch([alice.contribution(i, SITE, {"steel": 10})], f"k{i + 1}") for i in range(1, 20)),
    ]
    async with aiohttp.ClientSession() as session:
        async with _bot(tmp_path) as (proc, url):
            for body in batches:
                await _post(session, url, token, body)
            proc.send_signal(signal.SIGKILL)  # no goodbye: only what was committed survives
            await proc.wait()
        async with _bot(tmp_path) as (proc, url):
            headers = {"Authorization": f"Bearer {token}"}
            async with session.get(f"{url}/api/v1/sites/{SITE}", headers=headers) as resp:
                site = await resp.json()
            assert site["contributions"] == [{"commander": "Alice", "commodity": "steel", "tonnes": 190}]
            # A batch the uploader never saw acknowledged is answered the same way again.
            assert await _post(session, url, token, batches[-1]) == {
                "accepted": 1,
                "duplicates": 0,
                "ignored": 0,
            }
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), STARTUP) == 0


async def test_refuses_a_database_newer_than_it_knows(tmp_path: Path) -> None:
    assert (await _cli(tmp_path, "token", "list", "--guild", "1"))[0] == 0  # creates the schema
    with sqlite3.connect(tmp_path / "colony.db") as conn:
        conn.execute("PRAGMA user_version = 99")
    code, _, err = await _cli(tmp_path, "run")
    assert code == 1
    assert f"has schema version 99, newer than this bot knows ({len(migrations())})" in err


async def test_refuses_a_port_in_use(tmp_path: Path) -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", env=_env(tmp_path, COLONY_HTTP_PORT=str(port)), cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await asyncio.wait_for(proc.communicate(), STARTUP)
    finally:
        server.close()
        await server.wait_closed()
    assert proc.returncode == 1
    assert f"colony-bot: cannot start: cannot listen on 127.0.0.1:{port}" in err.decode()


@pytest.mark.parametrize("args", [["token", "issue", "--guild", "x", "--user", "1"], ["nonsense"]])
async def test_usage_errors_exit_2(tmp_path: Path, args: list[str]) -> None:
    code, _, err = await _cli(tmp_path, *args)
    assert code == 2
    assert "usage: colony-bot" in err


async def test_one_bot_per_database_and_no_rebuild_under_a_running_bot(tmp_path: Path) -> None:
    async with _bot(tmp_path) as (proc, _url):
        # A second bot on the same file would keep its own state and overwrite the first's.
        code, _, err = await _cli(tmp_path, "run")
        assert code != 0
        assert f"{tmp_path / 'colony.db'} is in use by pid {proc.pid} (colony-bot run); stop it first" in err
        code, out, err = await _cli(tmp_path, "rebuild")
        assert (code, out) == (1, "")
        assert err.strip() == (
            f"colony-bot: cannot rebuild: {tmp_path / 'colony.db'} is in use by pid {proc.pid} "
            "(colony-bot run); stop it first"
        )
        proc.kill()  # SIGKILL: the operating system drops the lock with the process
        await proc.wait()
    code, out, _ = await _cli(tmp_path, "rebuild")
    assert code == 0
    assert out.startswith("rebuilt the projections of")


async def test_a_bad_setting_or_log_file_is_one_line_and_exit_1(tmp_path: Path) -> None:
    """As every other failure: one line on stderr naming what to fix, never a traceback."""
    cases = {
        "COLONY_HTTP_PORT": ("abc", "colony-bot: bad setting http_port: Input should be a valid integer"),
        "COLONY_DB_SYNCHRONOUS": ("sometimes", "colony-bot: bad setting db_synchronous: Input should be"),
        "COLONY_LOG_FILE": ("missing/bot.log", "colony-bot: cannot open the log file missing/bot.log: "),
    }
    for name, (value, message) in cases.items():
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "token", "list", "--guild", "1", env=_env(tmp_path, **{name: value}),
            cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await asyncio.wait_for(proc.communicate(), STARTUP)
        assert proc.returncode == 1, err
        assert err.decode().startswith(message), err
        assert "Traceback" not in err.decode()
        assert err.decode().count("\n") == 1


def test_a_blank_discord_token_is_offline_mode_and_the_log_level_any_case(tmp_path: Path) -> None:
    settings = Settings(discord_token=" ", log_level="info", _env_file=None)  # type: ignore[call-arg]
    assert settings.discord_token is None
    assert settings.log_level == "INFO"


def test_a_blank_log_file_is_no_log_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """`COLONY_LOG_FILE=` (an .env line emptied rather than commented out) is no log file, not the
    folder "." the bot then cannot open (exit 1)."""
    monkeypatch.setenv("COLONY_LOG_FILE", "")
    assert Settings(_env_file=None).log_file is None  # type: ignore[call-arg]
    monkeypatch.setenv("COLONY_LOG_FILE", "colony.log")
    assert Settings(_env_file=None).log_file == Path("colony.log")  # type: ignore[call-arg]


async def test_a_bot_started_beside_a_console_waits_for_it_then_serves(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A console left open holds the database alone (it may change follows): the bot waits, with
    one warning, instead of failing (a service manager would give up restarting it)."""
    from bot.app import ColonyCore
    from bot.store.lock import DatabaseLock
    from tests.bot._helpers import BOUND, make_settings, until

    settings = make_settings(tmp_path, http_host="127.0.0.1")
    console = DatabaseLock(settings.db_path)
    console.acquire("colony-bot console")
    core = ColonyCore(settings)
    starting = asyncio.create_task(core.start())
    try:
        await until(lambda: "starting once it ends" in caplog.text, "the bot said it waits")
        assert not starting.done()
        assert caplog.text.count("starting once it ends") == 1
        console.release()
        await asyncio.wait_for(starting, BOUND)
        async with httpx.AsyncClient() as http:
            answer = await http.get(f"http://127.0.0.1:{core.port}/api/v1/health")
        assert answer.status_code == 200
    finally:
        console.release()
        if not starting.done():
            starting.cancel()
        await core.stop()


async def test_a_bot_waiting_for_a_console_stops_on_sigterm(tmp_path: Path) -> None:
    """A service manager's stop (SIGTERM) ends a bot that waits for a console at once, with exit 0,
    instead of after the operator closes the console."""
    from bot.store.lock import DatabaseLock

    console = DatabaseLock(tmp_path / "colony.db")
    console.acquire("colony-bot console")
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", env=_env(tmp_path), cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            assert proc.stderr is not None
            while True:
                line = (await asyncio.wait_for(proc.stderr.readline(), STARTUP)).decode()
                assert line, "the bot exited instead of waiting for the console"
                if "starting once it ends" in line:
                    break
            proc.send_signal(signal.SIGTERM)
            out, _ = await asyncio.wait_for(proc.communicate(), STARTUP)
            assert proc.returncode == 0
            assert b"intake at" not in out  # it never started serving
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    finally:
        console.release()


def test_the_one_bot_lock_also_holds_through_a_symlinked_database_path(tmp_path: Path) -> None:
    """README: one bot per database. A second bot (or a rebuild) given the same file under another
    name (a symlink, e.g. COLONY_DB_PATH=/srv/colony.db -> /var/lib/colony-bot/colony.db) takes a
    different lock file (`<name>.lock`) and runs beside the first on the same SQLite file."""
    real = tmp_path / "colony.db"
    real.write_bytes(b"")
    link = tmp_path / "link.db"
    os.symlink(real, link)
    from bot.store.lock import DatabaseInUseError, DatabaseLock

    first, second = DatabaseLock(real), DatabaseLock(link)
    first.acquire("colony-bot run")
    try:
        with pytest.raises(DatabaseInUseError):
            second.acquire("colony-bot rebuild")
    finally:
        second.release()
        first.release()


@pytest.mark.parametrize("args", [["run"], ["rebuild"], ["token", "list", "--guild", "1"]])
async def test_a_file_that_is_not_a_database_is_one_line_and_exit_1(tmp_path: Path, args: list[str]) -> None:
    """README (exit codes): 1 with a clear one-line failure on stderr (cannot open the database...).
    A wrong file restored at COLONY_DB_PATH (deploy/README section 8) gives a traceback instead."""
    (tmp_path / "colony.db").write_text("this is a restored file that is not a SQLite database\n" * 20)
    code, _, err = await _cli(tmp_path, *args)
    assert code == 1
    assert "Traceback" not in err, err[-600:]
    assert err.count("\n") == 1
    assert "colony.db" in err
