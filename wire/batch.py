"""The unit the uploader POSTs to `/api/v1/events`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from wire._base import SCHEMA_VERSION, WireModel
from wire.events import KnownEvent, UnknownEvent

MAX_EVENTS_PER_BATCH = 5000

# Known kinds first (a tagged union on `kind`, validated straight from JSON), then the fallback for
# kinds a newer uploader sends. A callable discriminator would do the same routing but makes
# pydantic build a Python dict of every event first: three times the intake's validation cost.
AnyEvent = Annotated[KnownEvent | UnknownEvent, Field(union_mode="left_to_right")]


class Batch(WireModel):
    schema_version: Literal[1] = SCHEMA_VERSION
    batch_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")] = Field(
        description="Idempotency key, fixed when the batch is persisted and reused on every retry."
    )
    uploader_version: Annotated[str, Field(min_length=1, max_length=64)]
    platform: Annotated[str, Field(min_length=1, max_length=64)]
    events: Annotated[list[AnyEvent], Field(min_length=1, max_length=MAX_EVENTS_PER_BATCH)]


class BatchResult(WireModel):
    """The intake's answer to an accepted batch."""

    accepted: int = Field(ge=0)
    duplicates: int = Field(ge=0)
    ignored: int = Field(ge=0)
