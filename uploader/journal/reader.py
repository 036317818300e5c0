"""Reading a journal file as bytes from an offset, consuming complete lines only.

INTERFACE STUB: the signatures below are the contract other modules code against; the body is
being written (issue 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_MAX_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RawLine:
    offset: int  # byte offset in the file where this line starts (before any stripped NULs)
    data: bytes  # the line without leading NULs and without its LF / CRLF terminator


@dataclass(frozen=True, slots=True)
class Chunk:
    lines: list[RawLine]
    next_offset: int  # where to resume: just after the last complete line (== offset if none)


def read_complete_lines(path: Path, offset: int, max_bytes: int = DEFAULT_MAX_BYTES) -> Chunk:
    """Complete lines of `path` from `offset`; a partial last line is not consumed."""
    raise NotImplementedError


def fingerprint(path: Path) -> str | None:
    """Hex digest of the file's first complete line (its Fileheader); None while it has none.

    Detects a file replaced at the same path, and seeds every event id of the file.
    """
    raise NotImplementedError
