"""Shared building blocks of the wire contract: the strict base model and constrained field types."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Final

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

SCHEMA_VERSION: Final = 1

# Names (commanders, stations, systems, carriers) are stored as the game wrote them, markdown and
# all; the bound only stops abuse. Rendering code escapes them.
Name = Annotated[str, StringConstraints(min_length=1, max_length=512)]
OptName = Annotated[str, StringConstraints(max_length=512)] | None
# Canonical commodity symbol: lower case, no `$`, no `_name;` (journals/README quirk 13).
Commodity = Annotated[str, StringConstraints(min_length=1, max_length=80, pattern=r"^[a-z0-9_.\-]+$")]
EventId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
MarketId = Annotated[int, Field(ge=0, lt=2**53)]
SystemAddress = Annotated[int, Field(ge=0, lt=2**63)]
Tonnes = Annotated[int, Field(ge=0, le=10_000_000)]
# Any other whole number (offsets, credits, fuel): SQLite's INTEGER is 64-bit signed, so a larger
# one would be refused by the bot's store mid-transaction (a 500, retried forever) instead of here.
Int64 = Annotated[int, Field(ge=0, lt=2**63)]


# 9999-12-31T23:59:59-01:00 is a valid ISO time but has no UTC equivalent: refused here, it cannot
# fail later where times are compared or converted. Bounds a day inside the calendar's ends (no
# offset exceeds a day) are checked in pydantic's core: a Python validator per timestamp cost the
# bot's intake about a microsecond per event.
_EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
_LATEST = datetime(9999, 12, 30, tzinfo=UTC)
GameTime = Annotated[
    AwareDatetime,
    Field(
        gt=_EARLIEST,
        lt=_LATEST,
        # The bounds in the schema too (ajv-formats' keywords), for tools that validate by it.
        json_schema_extra={
            "formatExclusiveMinimum": _EARLIEST.isoformat(),
            "formatExclusiveMaximum": _LATEST.isoformat(),
        },
    ),
]


class WireModel(BaseModel):
    """Every model we own refuses unknown fields: a contract change must be a visible diff."""

    model_config = ConfigDict(extra="forbid", frozen=True)
