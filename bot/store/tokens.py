"""SQL for uploader tokens."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from bot.store.db import Database


class TokenRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: int
    guild_id: int
    user_id: int
    label: str | None
    prefix: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


_COLUMNS = "id, guild_id, user_id, label, prefix, created_at, revoked_at"


def _record(row: tuple[object, ...]) -> TokenRecord:
    return TokenRecord.model_validate(dict(zip(_COLUMNS.split(", "), row, strict=True)))


class TokenStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(
        self, guild_id: int, user_id: int, label: str | None, prefix: str, token_hash: str, now: datetime
    ) -> TokenRecord:
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO tokens (guild_id, user_id, label, prefix, token_hash, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (guild_id, user_id, label, prefix, token_hash, now.isoformat()),
            )
            token_id = cursor.lastrowid
        assert token_id is not None
        return TokenRecord(
            id=token_id,
            guild_id=guild_id,
            user_id=user_id,
            label=label,
            prefix=prefix,
            created_at=now,
            revoked_at=None,
        )

    async def by_hash(self, token_hash: str) -> tuple[TokenRecord, str] | None:
        """The token row and its stored hash (the caller compares them timing-safely)."""
        # The reader: a token check must not wait behind an upload being written.
        async with self.db.reader.execute(
            f"SELECT {_COLUMNS}, token_hash FROM tokens WHERE token_hash = ?", (token_hash,)
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        return _record(tuple(row[:-1])), str(row[-1])

    async def for_guild(self, guild_id: int) -> list[TokenRecord]:
        async with self.db.conn.execute(
            f"SELECT {_COLUMNS} FROM tokens WHERE guild_id = ? ORDER BY id", (guild_id,)
        ) as cursor:
            return [_record(tuple(row)) for row in await cursor.fetchall()]

    async def by_prefix(self, prefix: str) -> list[TokenRecord]:
        # Prefixes are matched in Python: LIKE would treat `_` and `%` in the argument as wildcards.
        async with self.db.conn.execute(f"SELECT {_COLUMNS} FROM tokens ORDER BY id") as cursor:
            rows = [_record(tuple(row)) for row in await cursor.fetchall()]
        return [r for r in rows if r.prefix.startswith(prefix) or prefix.startswith(r.prefix)]

    async def revoke(self, token_id: int, now: datetime) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (now.isoformat(), token_id),
            )
