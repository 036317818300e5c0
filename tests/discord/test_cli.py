"""`colony-bot commands`, `sync` and `console` through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.console import ConsoleError, parse
from bot.notify.channels import SettingsFollowStore
from bot.services.bundle import build_services
from bot.settings import Settings
from bot.store.db import Database
from bot.store.events import SettingsStore
from bot.store.lock import DatabaseLock
from tests.bot._helpers import make_settings
from tests.discord._fake_discord import FakeDiscord, free_port, point_discord_at
from tests.discord._filled import APRIL, Journal, fill


def settings(tmp_path: Path) -> Settings:
    return Settings(db_path=tmp_path / "colony.db", http_port=0)


def test_commands_prints_the_tree_discord_would_receive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["commands"], settings=settings(tmp_path)) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in payload] == ["colony", "haul"]
    assert len(payload[0]["options"]) == 10
    assert not (tmp_path / "colony.db").exists()  # a throwaway database, never the real one


def test_sync_without_a_token_says_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sync", "--guild", "123"], settings=settings(tmp_path)) == 2
    assert capsys.readouterr().err == (
        "colony-bot sync: COLONY_DISCORD_TOKEN is not set; sync pushes the /colony commands to Discord and "
        "needs the bot's token (see `colony-bot commands` for what would be sent)\n"
    )


def test_console_without_a_database_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["console", "-c", "/colony status"], settings=settings(tmp_path)) == 2
    assert "no database at" in capsys.readouterr().err
    assert not (tmp_path / "colony.db").exists()


@pytest.mark.samples
async def test_console_answers_through_the_same_replies(
    tmp_path: Path, samples: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = Database(tmp_path / "colony.db")
    await db.open()
    await fill(await build_services(db), samples / APRIL)
    await db.close()
    journal = Journal.read(samples / APRIL)
    ((market_id, depot),) = journal.depot.items()

    lines = ["/colony status", f"/colony site {market_id}", "/colony site", "/colony contributors period:all"]
    code = await _run_main(["console", *[arg for line in lines for arg in ("-c", line)]], settings(tmp_path))
    assert code == 0
    out = capsys.readouterr().out
    blocks = out.split("> /colony ")[1:]
    # No --guild: the one guild with data was chosen.
    assert blocks[0].startswith("status\nColony status: active sites\n")
    assert f"{depot['ConstructionProgress'] * 100:.1f}%" in blocks[0]
    assert blocks[1].startswith(f"site {market_id}\nSystem Colonisation Ship")
    assert "(only you can see this)" in blocks[2]
    assert "/colony site needs site: e.g. /colony site <site>." in blocks[2]
    total = sum(journal.delivered[market_id].values())
    assert f"CMDR {journal.commander} · {total:,} t" in blocks[3]


async def test_a_console_beside_a_running_bot_reads_but_does_not_change_follows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The running bot keeps its own copy of the follows and saves it whole: a follow saved by a
    console beside it was answered as made, then silently overwritten. Beside a bot the console
    says so and changes nothing; alone, it holds the database so that no bot starts under it."""
    db = Database(tmp_path / "colony.db")
    await db.open()
    await build_services(db)
    await db.close()
    running = DatabaseLock(tmp_path / "colony.db")
    running.acquire("colony-bot run")  # as the bot does
    try:
        code = await _run_main(
            ["console", "--channel", "2002", "-c", "/colony status", "-c", "/colony follow Sys"],
            settings(tmp_path),
        )
    finally:
        running.release()
    assert code == 0
    out = capsys.readouterr().out
    assert "Cannot change follows here: " in out
    assert "(colony-bot run), which keeps its own copy of them" in out
    store = SettingsStore()
    db = Database(tmp_path / "colony.db")
    await db.open()
    try:
        assert await store.named(db.conn, SettingsFollowStore.SETTING) == {}
    finally:
        await db.close()


async def _run_main(argv: list[str], s: Settings) -> int:
    # main() runs its own event loop: keep it off this test's loop.
    import asyncio

    return await asyncio.to_thread(main, argv, s)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("status", "Commands start with /colony, e.g. /colony status or /colony help."),
        (
            "/colony nope",
            "Unknown command /colony nope: one of carrier, contributors, follow, help, link, needs, "
            "site, status, unfollow, unlink.",
        ),
        ("/colony follow", "/colony follow needs target: e.g. /colony follow <target>."),
        ("/colony help me", "/colony help takes no options."),
        (
            "/colony contributors site:Vela sitee:Coelho",
            "/colony contributors has no option sitee: its options are site, period.",
        ),
    ],
)
def test_console_lines_that_cannot_run_say_how_to_write_them(line: str, message: str) -> None:
    with pytest.raises(ConsoleError) as caught:
        parse(line)
    assert str(caught.value) == message


def test_console_options_are_typed_like_discords() -> None:
    parsed = parse("/colony contributors site:Vela Vision period:7d")
    assert parsed.options == {"site": "Vela Vision", "period": "7d"}
    assert parse("/colony status Col 285 Sector GF-F b12-5").options == {
        "system": "Col 285 Sector GF-F b12-5"
    }
    assert parse("/COLONY Needs").options == {}
    # A word and a colon inside quotes is part of the value, not a misspelt option.
    assert parse('/colony contributors site:"Vela note:x" period:7d').options == {
        "site": "Vela note:x",
        "period": "7d",
    }


async def test_a_token_discord_refuses_is_a_startup_error_with_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reset or revoked bot token: one line saying so (exit 1 from `colony-bot run`), not a
    discord.py traceback, and not tried again (Discord played by a loopback app answering 401)."""
    from bot.app import StartupError, run

    fake = FakeDiscord(free_port(), refuse_token=True)
    point_discord_at(monkeypatch, fake.port)
    await fake.start()
    settings = make_settings(tmp_path, discord_token="revoked-token")
    refusal = r"Discord refused the bot token \(Improper token has been passed\.\); set COLONY_DISCORD_TOKEN"
    try:
        with pytest.raises(StartupError, match=refusal):
            await run(settings)
    finally:
        await fake.stop()
    assert fake.tokens == ["Bot revoked-token"]
    # The core it started for the intake was stopped: the database is free again.
    lock = DatabaseLock(settings.db_path)
    lock.acquire("test")
    lock.release()


async def test_sync_pushes_the_command_tree_to_discord(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`colony-bot sync --guild`: the login loads nothing twice and starts no second core; the
    tree Discord receives is the one `colony-bot commands` prints (Discord: a loopback app)."""
    from bot.discord.cli import _push, command_payload

    fake = FakeDiscord(free_port())
    point_discord_at(monkeypatch, fake.port)
    await fake.start()
    try:
        assert await _push(settings(tmp_path), "bot-token", 4321) == 0
    finally:
        await fake.stop()
    ((guild, pushed),) = fake.synced
    assert guild == 4321
    assert [c["name"] for c in pushed] == [c["name"] for c in await command_payload(settings(tmp_path))]
    out = capsys.readouterr().out
    assert out.startswith(f"synced {len(pushed)} command(s) to guild 4321 (at once): /colony")
