"""Uploader tokens: issued once, stored as a hash, bound to one guild and one user, revocable."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import UTC, datetime

from bot.store.tokens import TokenRecord, TokenStore

TOKEN_PREFIX = "cbt_"
PREFIX_LENGTH = 12  # shown in `token list`; the rest of the token is never stored or shown again
MIN_REVOKE_PREFIX = 6


class TokenError(Exception):
    """A token operation that cannot be done; the message says why."""


def hash_token(token: str) -> str:
    # A plain hash is enough: tokens carry 256 random bits, so there is nothing to brute-force.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenService:
    def __init__(self, store: TokenStore, clock: Callable[[], datetime] | None = None) -> None:
        self.store = store
        self.clock = clock or (lambda: datetime.now(UTC))

    async def issue(self, guild_id: int, user_id: int, label: str | None = None) -> tuple[str, TokenRecord]:
        """A new token (returned once, never stored) and its record."""
        if guild_id <= 0 or user_id <= 0:
            raise TokenError("guild and user must be positive Discord ids")
        if label is not None and len(label) > 200:
            raise TokenError("label is longer than 200 characters")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        record = await self.store.insert(
            guild_id, user_id, label, token[:PREFIX_LENGTH], hash_token(token), self.clock()
        )
        return token, record

    async def authenticate(self, token: str) -> TokenRecord | None:
        """The live token's record, or None for an unknown or revoked one."""
        # Issued tokens are ASCII; a header's undecodable bytes (kept as surrogates) cannot be hashed.
        if not token or len(token) > 256 or not token.isascii():
            return None
        digest = hash_token(token)
        found = await self.store.by_hash(digest)
        if found is None:
            return None
        record, stored = found
        if not hmac.compare_digest(stored, digest) or record.revoked:
            return None
        return record

    async def list(self, guild_id: int) -> list[TokenRecord]:
        return await self.store.for_guild(guild_id)

    async def revoke(self, prefix: str) -> TokenRecord:
        prefix = prefix.strip()
        if len(prefix) < MIN_REVOKE_PREFIX:
            raise TokenError(f"give at least {MIN_REVOKE_PREFIX} characters of the token")
        matches = await self.store.by_prefix(prefix)
        if not matches:
            raise TokenError(f"no token starts with {prefix!r}")
        if len(matches) > 1:
            ids = ", ".join(m.prefix for m in matches)
            raise TokenError(f"{len(matches)} tokens match {prefix!r} ({ids}); give more characters")
        record = matches[0]
        if record.revoked:
            raise TokenError(f"token {record.prefix} was already revoked at {record.revoked_at}")
        await self.store.revoke(record.id, self.clock())
        return record.model_copy(update={"revoked_at": self.clock()})
