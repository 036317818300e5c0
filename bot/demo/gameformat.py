"""JSON the way Elite: Dangerous writes its journal: `{ "key":value, "key":value }`, one object
per line, terminated by CRLF (journals/README quirk 5). Floats carry the game's fixed decimals."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class Fixed:
    """A float written with a fixed number of decimals (`1.000000`, `27.272`)."""

    value: float
    decimals: int = 6


Json = None | bool | int | str | Fixed | list["Json"] | dict[str, "Json"]


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def encode(value: Json) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, Fixed):
        return f"{value.value:.{value.decimals}f}"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[ " + ", ".join(encode(v) for v in value) + " ]" if value else "[ ]"
    return "{ " + ", ".join(f"{json.dumps(k)}:{encode(v)}" for k, v in value.items()) + " }"


def line(at: datetime, event: str, **fields: Json) -> str:
    """One journal line without its CRLF."""
    return encode({"timestamp": stamp(at), "event": event, **fields})
