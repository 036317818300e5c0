"""Which files in a folder are journals, and their true order (by Fileheader time, not by name).

Two name formats exist (journals/README quirk 1) and the name's stamp is local time while the
contents are UTC (quirk 2), so names neither sort nor date the files reliably; the Fileheader does.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from uploader.journal.reader import first_line

logger = logging.getLogger(__name__)

# Live 4.x: Journal.2025-04-08T215854.01.log; legacy / pre-2021: Journal.231231160210.01.log.
# `Journal\.` rejects JournalBeta / JournalAlpha.
_NEW_NAME = re.compile(r"^Journal\.(\d{4}-\d{2}-\d{2}T\d{6})\.(\d{2})\.log$")
_OLD_NAME = re.compile(r"^Journal\.(\d{12})\.(\d{2})\.log$")


@dataclass(frozen=True, slots=True)
class JournalFile:
    path: Path
    started: datetime  # Fileheader timestamp (UTC); from the name's stamp when the header is unreadable
    part: int  # the `.NN` part
    dated: bool = True  # False: `started` is the name's stamp (no readable Fileheader, or not yet)
    # `path.name`, kept: pathlib works it out at each call, and a tailer's poll asks thousands of
    # journals for it.
    name: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", self.path.name)  # (frozen)


def _parse_name(name: str) -> tuple[datetime, int] | None:
    """(the name's stamp as a naive local time, part), or None for anything not a journal name."""
    m = _NEW_NAME.match(name)
    fmt = "%Y-%m-%dT%H%M%S"
    if m is None:
        m = _OLD_NAME.match(name)
        fmt = "%y%m%d%H%M%S"
    if m is None:
        return None
    try:
        stamp = datetime.strptime(m.group(1), fmt)
    except ValueError:  # e.g. month 13: matches the pattern, is no date
        return None
    return stamp, int(m.group(2))


def previous_part(name: str) -> str | None:
    """`Journal.X.01.log` for `Journal.X.02.log`: the part a `Continued` part carries on (the game
    keeps the session's stamp); None for a first part or a name that is not a journal's."""
    match = _NEW_NAME.match(name) or _OLD_NAME.match(name)
    if match is None or int(match.group(2)) <= 1:
        return None
    return f"Journal.{match.group(1)}.{int(match.group(2)) - 1:02d}.log"


def is_journal_name(name: str) -> bool:
    """`Journal.YYYY-MM-DDThhmmss.NN.log` or `Journal.YYMMDDhhmmss.NN.log`; not Beta/Alpha, not invalid."""
    return _parse_name(name) is not None


def header_time(path: Path) -> datetime | None:
    """The Fileheader's timestamp (aware, UTC), or None when the first line is missing or not one."""
    try:
        line = first_line(path)
    except OSError as exc:
        logger.warning("cannot read the header of %s: %s", path, exc)
        return None
    if line is None:
        return None
    try:
        obj = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(obj, dict) or obj.get("event") != "Fileheader":
        return None
    stamp = obj.get("timestamp")
    if not isinstance(stamp, str):
        return None
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def name_time(local_stamp: datetime) -> datetime:
    """A name's stamp is the PC's local time (quirk 2): the fallback start time, in UTC."""
    return local_stamp.astimezone(UTC)


def journal_file(path: Path) -> JournalFile | None:
    """The JournalFile for `path`, or None when its name is not a journal's."""
    parsed = _parse_name(path.name)
    if parsed is None:
        return None
    local_stamp, part = parsed
    started = header_time(path)
    if started is None:
        return JournalFile(path=path, started=name_time(local_stamp), part=part, dated=False)
    return JournalFile(path=path, started=started, part=part)


def oldest_first(journals: list[JournalFile]) -> list[JournalFile]:
    """`journals` in their true order: by Fileheader time, then part (then name, to be stable)."""
    return sorted(journals, key=lambda j: (j.started, j.part, j.name))


def list_journals(folder: Path) -> list[JournalFile]:
    """Every journal in `folder`, oldest first by Fileheader time, then part."""
    found: list[JournalFile] = []
    for path in folder.iterdir():
        if not path.is_file():
            continue
        journal = journal_file(path)
        if journal is not None:
            found.append(journal)
    return oldest_first(found)
