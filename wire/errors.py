"""How a validation error of the wire contract reads: `events[3].market_id: Field required`.

Shared by the bot's intake (a refused batch's 422) and its rebuild (a stored event this version
cannot read), so both name a field the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic_core import ErrorDetails

from wire.events import KNOWN_KINDS, UnknownEvent

MAX_ERRORS_SHOWN = 5


def _is_fallback(part: object) -> bool:
    """The unknown kinds' branch in pydantic's loc: `UnknownEvent`, or with its size check wrapped
    around it, `function-after[_bounded(), UnknownEvent]`."""
    name = UnknownEvent.__name__
    if not isinstance(part, str):
        return False
    return part == name or (part.startswith("function-") and part.endswith(f" {name}]"))


def _is_tag(previous: int | str | None, part: str) -> bool:
    """A union member's name in pydantic's loc: the known kinds' tagged union, its tag, or the
    fallback for unknown kinds (see wire.batch.AnyEvent)."""
    if isinstance(previous, int):
        return part.startswith("tagged-union[") or _is_fallback(part)
    return isinstance(previous, str) and previous.startswith("tagged-union[") and part in KNOWN_KINDS


def error_path(loc: Sequence[int | str]) -> str:
    """`events[3].market_id` from pydantic's loc, without the union parts ('tagged-union[...]', 'depot')."""
    out = ""
    previous: int | str | None = None
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _is_tag(previous, part):
            out += f".{part}" if out else part
        previous = part
    return out or "body"


def relevant_errors(errors: list[Any]) -> list[Any]:
    """One branch's errors per event: an event of a kind we know is judged as that kind; one of a
    kind we do not know (a newer uploader's) by the fallback's few rules (id, kind, timestamp)."""
    unknown_kind: set[object] = set()
    for e in errors:
        loc = e["loc"]
        # Its kind passed as an unknown one (an error past `kind`, or the size check, which runs once
        # its fields are valid; not "no object"): that branch speaks.
        if len(loc) > 2 and _is_fallback(loc[2]) and (
            loc[3] != "kind" if len(loc) > 3 else e["type"] == "value_error"
        ):
            unknown_kind.add(loc[1])
    kept = []
    for e in errors:
        loc = e["loc"]
        if len(loc) > 2 and isinstance(loc[1], int) and isinstance(loc[2], str):
            from_fallback = _is_fallback(loc[2])
            if from_fallback != (loc[1] in unknown_kind):
                continue
        kept.append(e)
    return kept or errors


def describe_errors(errors: list[ErrorDetails]) -> str:
    errors = relevant_errors(errors)
    shown = "; ".join(f"{error_path(e['loc'])}: {e['msg']}" for e in errors[:MAX_ERRORS_SHOWN])
    more = len(errors) - MAX_ERRORS_SHOWN
    return shown + (f"; and {more} more" if more > 0 else "")


def describe_event_errors(errors: list[ErrorDetails]) -> str:
    """`describe_errors` for one event validated alone (`AnyEvent`): `offset: ...`."""
    within = [{**e, "loc": ("events", 0, *e["loc"])} for e in errors]
    return describe_errors(within).replace("events[0].", "").replace("events[0]", "event")  # type: ignore[arg-type]
