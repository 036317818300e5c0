"""Reading a journal file as bytes from an offset, consuming complete lines only.

Bytes, never text mode: offsets are file byte offsets, valid to seek to on every platform, and a
line the game is still writing (no `\\n` yet) is left for the next read (journals/README quirk 6).
"""

from __future__ import annotations

import hashlib
import operator
from dataclasses import dataclass
from functools import cached_property
from itertools import accumulate, repeat
from pathlib import Path
from typing import Any, NamedTuple, cast

DEFAULT_MAX_BYTES = 8 * 1024 * 1024
# How much more to read at a time when one line is longer than `max_bytes`.
_LONG_LINE_STEP = 1024 * 1024
_NUL = b"\x00"
_BLANK = b" \t\r\x00"


class RawLine(NamedTuple):
    """One complete journal line. A NamedTuple, not a dataclass: a backfill makes millions of
    them, and a tuple can be built without a Python-level __init__ (see `_fast_split`)."""

    offset: int  # byte offset in the file where this line starts (before any stripped NULs)
    data: bytes  # the line without leading NULs and without its LF / CRLF terminator


@dataclass(frozen=True)
class Chunk:
    """Complete lines read from one offset.

    Keeps the raw bytes: the normaliser scans them whole (`Normaliser.feed_chunk`) and never
    needs a Python object per line; `lines` splits them only for whoever asks.
    """

    data: bytes  # every complete line read, each ending in "\n" (empty when none)
    base: int  # file offset of data[0]
    next_offset: int  # where to resume: just after the last complete line (== base if none)

    @cached_property
    def lines(self) -> list[RawLine]:
        return split_lines(self.data, self.base) if self.data else []

    @cached_property
    def line_count(self) -> int:
        """Terminated lines in the chunk, blank ones included (no split; counted once, as both the
        normaliser and the tailer's progress want it)."""
        return self.data.count(b"\n")


_new_line = tuple.__new__


def _fast_split(buffer: bytes, base_offset: int) -> list[RawLine] | None:
    """`split_lines` for the common case, at C speed; None when the buffer needs the careful path.

    The common case: every line starts with `{` (so no NULs, no blank lines) and all end in LF, or
    all in CRLF. Then splitting is exact and offsets are running sums. Only C-level maps here:
    a Python loop per line would cost more than everything else the backfill does.
    """
    parts = buffer.split(b"\n")
    parts.pop()  # after the last newline: empty by the caller's contract
    if not parts or not all(map(bytes.startswith, parts, repeat(b"{"))):
        return None
    if parts[0].endswith(b"\r"):
        if not all(map(bytes.endswith, parts, repeat(b"\r"))):
            return None
        datas = cast("list[bytes]", list(map(operator.getitem, parts, repeat(slice(None, -1)))))
    elif any(map(bytes.endswith, parts, repeat(b"\r"))):
        return None
    else:
        datas = parts
    starts = accumulate(map(operator.add, map(len, parts), repeat(1)), initial=base_offset)
    return list(map(_new_line, repeat(RawLine), zip(starts, datas, strict=False)))


def split_lines(buffer: bytes, base_offset: int) -> list[RawLine]:
    """The lines of `buffer` (which must end with `\\n`, or be empty), blank ones left out.

    Leading NUL runs are stripped (quirk 7: up to 28,170 of them before a real line), as is the CR
    of a CRLF terminator.
    """
    fast = _fast_split(buffer, base_offset)
    if fast is not None:
        return fast
    parts = buffer.split(b"\n")
    parts.pop()  # what follows the last newline: empty by the caller's contract
    lines: list[RawLine] = []
    append = lines.append
    pos = base_offset
    for part in parts:
        size = len(part) + 1
        if part:
            if part[-1] == 0x0D:
                part = part[:-1]
            if part[:1] == _NUL:
                part = part.lstrip(_NUL)
            # Nearly every line starts with "{": only the rest pay for the blank test.
            if part and (part[0] == 0x7B or part.strip(_BLANK)):
                append(RawLine(pos, part))
        pos += size
    return lines


def read_complete_lines(
    path: Path,
    offset: int,
    max_bytes: int = DEFAULT_MAX_BYTES,
    *,
    final: bool = False,
    end: int | None = None,
) -> Chunk:
    """Complete lines of `path` from `offset`; a partial last line is not consumed.

    Reads about `max_bytes`; a single line longer than that is read on to its newline so the
    caller always makes progress. `final=True` says the file will not grow any more (a newer
    journal exists), so an unterminated last line is complete and is consumed too: the 2025-04
    sample files end without a newline. `end`: the file's size when that was judged; a file
    found longer now has been written since, and its tail is left for the next read.
    """
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset}")
    if max_bytes < 1:
        raise ValueError(f"max_bytes must be >= 1, got {max_bytes}")
    with path.open("rb") as f:
        f.seek(offset)
        buffer = f.read(max_bytes)
        last_nl = buffer.rfind(b"\n")
        at_eof = len(buffer) < max_bytes
        if last_nl < 0 and not at_eof:
            # One line longer than max_bytes: read on until its newline (or the end of the file).
            parts = [buffer]
            while True:
                more = f.read(_LONG_LINE_STEP)
                if not more:
                    at_eof = True
                    break
                nl = more.find(b"\n")
                if nl >= 0:
                    parts.append(more[: nl + 1])
                    break
                parts.append(more)
            buffer = b"".join(parts)
            last_nl = buffer.rfind(b"\n")
        if final and at_eof and buffer and not buffer.endswith(b"\n") and (
            end is None or offset + len(buffer) == end
        ):
            # Only when we saw the true end of the file: the tail is a whole (last) line.
            return Chunk(buffer + b"\n", offset, offset + len(buffer))
    if last_nl < 0:
        return Chunk(b"", offset, offset)
    return Chunk(buffer[: last_nl + 1], offset, offset + last_nl + 1)


def first_line(path: Path) -> bytes | None:
    """The file's first complete non-blank line (NULs and terminator stripped); None if none yet."""
    with path.open("rb") as f:
        pending = b""
        base = 0
        while True:
            block = f.read(4096)
            if not block:
                return None
            pending += block
            nl = pending.rfind(b"\n")
            if nl < 0:
                continue
            lines = split_lines(pending[: nl + 1], base)
            if lines:
                return lines[0].data
            base += nl + 1
            pending = pending[nl + 1 :]


def fingerprint(path: Path) -> str | None:
    """Hex digest of the file's first complete line (its Fileheader); None while it has none.

    Detects a file replaced at the same path, and seeds every event id of the file.
    """
    line = first_line(path)
    if line is None:
        return None
    return hashlib.sha256(line).hexdigest()


def id_seed(file_fingerprint: str) -> Any:
    """A blake2b that has read the file's part of every id; `.copy()` it per line (see event_id)."""
    return hashlib.blake2b(file_fingerprint.encode("ascii") + b"\x00", digest_size=16)


def event_id(file_fingerprint: str, offset: int, data: bytes, owner: str = "") -> str:
    """The wire event id of one line: the same line gives the same id however often it is read.

    blake2b(digest_size=16) over the file's fingerprint, the journal's owner, the line's byte
    offset and its bytes (NULs stripped), each of the first three followed by a NUL. The owner is
    the commander's FID (else name) once this file has named them, "" before: two commanders who
    started the game in the same second write identical Fileheaders, and an identical line at the
    same offset of their journals must still be two events.
    """
    h = id_seed(file_fingerprint)
    h.update(owner.encode("utf-8") + b"\x00")
    h.update(b"%d\x00" % offset)
    h.update(data)
    return str(h.hexdigest())
