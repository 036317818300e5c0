"""An unconnected ColonyBot over a real, started core (temporary SQLite file, loopback port 0)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bot.app import ColonyCore
from bot.discord_client import EXTENSIONS, ColonyBot
from bot.settings import Settings


def settings_for(tmp_path: Path) -> Settings:
    return Settings(
        db_path=tmp_path / "colony.db",
        http_host="127.0.0.1",
        http_port=0,
        public_url="https://colony.example.org",
    )


@asynccontextmanager
async def unconnected_bot(tmp_path: Path, *, load: bool = True) -> AsyncIterator[ColonyBot]:
    settings = settings_for(tmp_path)
    core = ColonyCore(settings, mode="discord")
    bot = ColonyBot(settings, core)
    await core.start()
    try:
        if load:
            for extension in EXTENSIONS:
                await bot.load_extension(extension)
        yield bot
    finally:
        for extension in list(bot.extensions):
            await bot.unload_extension(extension)
        await bot.close()
