"""Typed reads of one parsed journal object: a wrong type is a `BadLineError`, never a silent default."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


class BadLineError(ValueError):
    """The line is not what its event name promises; the message says why (it is logged)."""


JsonObject = dict[str, Any]


def req_str(obj: JsonObject, key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise BadLineError(f"{key!r} must be a string, got {type(value).__name__}")
    return value


def opt_str(obj: JsonObject, key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadLineError(f"{key!r} must be a string, got {type(value).__name__}")
    return value


def req_int(obj: JsonObject, key: str) -> int:
    value = obj.get(key)
    # bool is an int subclass in Python; the game never writes true for a number.
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadLineError(f"{key!r} must be an integer, got {type(value).__name__}")
    return value


def opt_int(obj: JsonObject, key: str) -> int | None:
    if obj.get(key) is None:
        return None
    return req_int(obj, key)


def opt_number(obj: JsonObject, key: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise BadLineError(f"{key!r} must be a number, got {type(value).__name__}")
    return float(value)


def opt_bool(obj: JsonObject, key: str) -> bool | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise BadLineError(f"{key!r} must be true or false, got {type(value).__name__}")
    return value


def req_list(obj: JsonObject, key: str) -> list[JsonObject]:
    value = obj.get(key)
    if not isinstance(value, list):
        raise BadLineError(f"{key!r} must be a list, got {type(value).__name__}")
    for item in value:
        if not isinstance(item, dict):
            raise BadLineError(f"{key!r} must hold objects, got {type(item).__name__}")
    return value


def opt_object(obj: JsonObject, key: str) -> JsonObject | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadLineError(f"{key!r} must be an object, got {type(value).__name__}")
    return value


def parse_time(value: str, key: str = "timestamp") -> datetime:
    """ISO 8601 as the game writes it ("2025-04-08T21:46:09Z"); a naive stamp is taken as UTC."""
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise BadLineError(f"{key!r} is not an ISO 8601 time: {value[:40]!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when
