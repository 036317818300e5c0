"""A large journal corpus tiled from the real sample files, for the benchmarks.

Each copy gets fresh timestamps (every `"timestamp"` value shifted so copies follow each other in
time, keeping each file's own rhythm and byte length) and a distinct, valid journal name dated by
its first line, so the copies look like consecutive game sessions to the uploader.

The copies are dated in the past, as any history a first run reads is: the uploader treats a line
dated within seconds of now (or later) as being written now, and a bare `Cargo` line then makes it
look for a fresh Cargo.json. A corpus dated in the future made every such line of the benchmarks'
history do so, which no real backfill does (about a tenth of the reader's time went on it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

_STAMP = re.compile(rb'("timestamp":\s*")(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(Z")')
_FORMAT = "%Y-%m-%dT%H:%M:%S"
# 200 MB spans about two months from here: only a corpus of over 10 GB would reach the present.
_START = datetime(2015, 1, 1, tzinfo=UTC)
_GAP = timedelta(minutes=5)


def _times(data: bytes) -> list[datetime]:
    return [
        datetime.strptime(m.group(2).decode(), _FORMAT).replace(tzinfo=UTC) for m in _STAMP.finditer(data)
    ]


def build_corpus(src_files: Sequence[Path], dest_dir: Path, target_bytes: int) -> list[Path]:
    """Write tiled copies of `src_files` into `dest_dir` until they hold `target_bytes`; oldest first."""
    if not src_files:
        raise ValueError("build_corpus needs at least one source file")
    dest_dir.mkdir(parents=True, exist_ok=True)
    sources: list[tuple[bytes, datetime, datetime]] = []
    for path in src_files:
        data = path.read_bytes()
        if not data.endswith(b"\n"):
            data += b"\r\n" if b"\r\n" in data else b"\n"  # a finished session's last line is whole
        times = _times(data)
        if times:
            sources.append((data, min(times), max(times)))
    if not sources:
        raise ValueError("no source file has a timestamp to shift")
    written: list[Path] = []
    total = 0
    cursor = _START
    while total < target_bytes:
        for data, first, last in sources:
            shift = cursor - first

            def shifted(m: re.Match[bytes], shift: timedelta = shift) -> bytes:
                when = datetime.strptime(m.group(2).decode(), _FORMAT) + shift
                return m.group(1) + when.strftime(_FORMAT).encode() + m.group(3)

            copy = _STAMP.sub(shifted, data)
            name = f"Journal.{cursor.strftime('%Y-%m-%dT%H%M%S')}.01.log"
            path = dest_dir / name
            path.write_bytes(copy)
            written.append(path)
            total += len(copy)
            cursor += (last - first) + _GAP
            if total >= target_bytes:
                break
    return written


def sample_files(samples_dir: Path) -> list[Path]:
    """Every journal-like sample file (`*.log`) under the samples folder, in a stable order."""
    return sorted(samples_dir.rglob("*.log"))


def real_journal_files(samples_dir: Path) -> list[Path]:
    """The samples that are journals as the game wrote them: whole files and contiguous excerpts.

    Left out: the timeline file, which its author filtered down to relevant events (no noise, no
    repeated snapshots), and the other folders, which hold fixture lines collected from projects'
    tests and comments. Neither has the make-up of a journal the uploader reads.
    """
    folder = samples_dir / "ed-journals"
    return sorted(p for p in folder.glob("*.log") if p.name.startswith(("Journal.", "excerpt_Journal.")))
