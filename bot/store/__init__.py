"""The bot's data-access layer: the only code that speaks SQL (parameterized, no ORM)."""

from bot.store.db import Database, StoreError

__all__ = ["Database", "StoreError"]
