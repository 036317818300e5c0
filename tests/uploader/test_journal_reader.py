"""The byte-level journal reader: complete lines only, offsets that resume exactly, quirks 5-7."""

from __future__ import annotations

from pathlib import Path

import pytest

from uploader.journal.reader import (
    RawLine,
    event_id,
    fingerprint,
    read_complete_lines,
)

pytestmark = pytest.mark.uploader_only

HEADER = b'{ "timestamp":"2025-06-20T19:31:07Z", "event":"Fileheader", "part":1 }'
MUSIC = b'{ "timestamp":"2025-06-20T19:31:08Z", "event":"Music", "MusicTrack":"MainMenu" }'


def _write(tmp_path: Path, data: bytes, name: str = "Journal.2025-06-20T213114.01.log") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_partial_last_line_is_not_consumed(tmp_path: Path) -> None:
    partial = b'{ "timestamp":"2025-06-20T19:31:09Z", "ev'
    path = _write(tmp_path, HEADER + b"\n" + partial)
    chunk = read_complete_lines(path, 0)
    assert chunk.lines == [RawLine(0, HEADER)]
    assert chunk.next_offset == len(HEADER) + 1
    # The game finishes the line: the next read from next_offset returns it whole.
    with path.open("ab") as f:
        f.write(b'ent":"Shutdown" }\n')
    again = read_complete_lines(path, chunk.next_offset)
    assert [line.data for line in again.lines] == [partial + b'ent":"Shutdown" }']
    assert again.lines[0].offset == len(HEADER) + 1
    assert again.next_offset == path.stat().st_size


def test_nothing_complete_leaves_the_offset(tmp_path: Path) -> None:
    path = _write(tmp_path, b'{ "timestamp":')
    assert read_complete_lines(path, 0) == read_complete_lines(path, 0)
    assert read_complete_lines(path, 0).next_offset == 0
    assert read_complete_lines(path, 0).lines == []


def test_final_consumes_an_unterminated_tail(tmp_path: Path) -> None:
    path = _write(tmp_path, HEADER + b"\n" + MUSIC)
    chunk = read_complete_lines(path, 0, final=True)
    assert [line.data for line in chunk.lines] == [HEADER, MUSIC]
    assert chunk.next_offset == path.stat().st_size


def test_crlf_and_lf_give_the_same_lines(tmp_path: Path) -> None:
    lf = _write(tmp_path, HEADER + b"\n" + MUSIC + b"\n", "a.log")
    crlf = _write(tmp_path, HEADER + b"\r\n" + MUSIC + b"\r\n", "b.log")
    lf_chunk = read_complete_lines(lf, 0)
    crlf_chunk = read_complete_lines(crlf, 0)
    assert (
        [line.data for line in lf_chunk.lines] == [line.data for line in crlf_chunk.lines] == [HEADER, MUSIC]
    )
    assert crlf_chunk.lines[1].offset == len(HEADER) + 2
    assert crlf_chunk.next_offset == crlf.stat().st_size


def test_a_lone_cr_in_the_middle_is_kept(tmp_path: Path) -> None:
    # Only the CR of a CRLF terminator goes; bytes inside a line are the game's.
    path = _write(tmp_path, b"a\rb\r\n")
    assert read_complete_lines(path, 0).lines == [RawLine(0, b"a\rb")]


def test_nul_runs_are_stripped_and_offsets_stay_file_offsets(tmp_path: Path) -> None:
    data = HEADER + b"\r\n" + b"\x00" * 28_170 + MUSIC + b"\r\n" + b"\x00" * 8 + b"\r\n"
    path = _write(tmp_path, data)
    chunk = read_complete_lines(path, 0)
    assert [line.data for line in chunk.lines] == [HEADER, MUSIC]
    assert chunk.lines[1].offset == len(HEADER) + 2  # where the NUL run starts
    assert chunk.next_offset == len(data)


def test_real_nul_padding_sample(samples: Path) -> None:
    path = samples / "ed-journals" / "excerpt_Journal.2023-07-30T222321.01_lines27-31_nul_padding.log"
    raw = path.read_bytes()
    chunk = read_complete_lines(path, 0)
    assert len(chunk.lines) == 5
    assert chunk.next_offset == len(raw)
    assert all(line.data.startswith(b"{") and line.data.endswith(b"}") for line in chunk.lines)
    padded = [line for line in chunk.lines if raw[line.offset] == 0]
    assert len(padded) == 1
    assert raw[padded[0].offset : padded[0].offset + 28_171] == b"\x00" * 28_170 + b"{"


def test_blank_lines_are_skipped(tmp_path: Path) -> None:
    path = _write(tmp_path, b"\n\r\n  \n" + HEADER + b"\n\n")
    chunk = read_complete_lines(path, 0)
    assert chunk.lines == [RawLine(6, HEADER)]
    assert chunk.next_offset == path.stat().st_size


def test_max_bytes_bounds_a_read_and_resumes_exactly(tmp_path: Path) -> None:
    lines = [b'{"n":%d}' % i for i in range(100)]
    path = _write(tmp_path, b"\n".join(lines) + b"\n")
    got: list[RawLine] = []
    offset = 0
    reads = 0
    while True:
        chunk = read_complete_lines(path, offset, max_bytes=50)
        if chunk.next_offset == offset:
            break
        got.extend(chunk.lines)
        offset = chunk.next_offset
        reads += 1
    assert [line.data for line in got] == lines
    assert got == read_complete_lines(path, 0).lines
    assert reads > 10


def test_a_huge_line_longer_than_max_bytes_still_makes_progress(tmp_path: Path) -> None:
    huge = b'{"event":"Huge","x":"' + b"y" * 3_000_000 + b'"}'
    path = _write(tmp_path, HEADER + b"\n" + huge + b"\n" + MUSIC + b"\n")
    first = read_complete_lines(path, 0, max_bytes=100)
    assert [line.data for line in first.lines] == [HEADER]
    second = read_complete_lines(path, first.next_offset, max_bytes=100)
    assert second.lines == [RawLine(first.next_offset, huge)]
    third = read_complete_lines(path, second.next_offset, max_bytes=100)
    assert [line.data for line in third.lines] == [MUSIC]
    assert third.next_offset == path.stat().st_size


def test_a_huge_unterminated_line_is_not_consumed(tmp_path: Path) -> None:
    path = _write(tmp_path, HEADER + b"\n" + b"z" * 2_500_000)
    chunk = read_complete_lines(path, len(HEADER) + 1, max_bytes=1000)
    assert chunk.lines == []
    assert chunk.next_offset == len(HEADER) + 1


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, HEADER + b"\n")
    with pytest.raises(ValueError, match="offset must be >= 0, got -1"):
        read_complete_lines(path, -1)
    with pytest.raises(ValueError, match="max_bytes must be >= 1, got 0"):
        read_complete_lines(path, 0, max_bytes=0)


def test_fingerprint_is_the_first_complete_line(tmp_path: Path) -> None:
    path = _write(tmp_path, HEADER[:20])
    assert fingerprint(path) is None
    path.write_bytes(HEADER + b"\r\n")
    fp = fingerprint(path)
    assert fp is not None
    assert len(fp) == 64
    path.write_bytes(b"\x00\x00" + HEADER + b"\n" + MUSIC + b"\n")  # growth and NULs do not change it
    assert fingerprint(path) == fp
    path.write_bytes(HEADER.replace(b"19:31:07", b"19:31:08") + b"\n")
    assert fingerprint(path) != fp


def test_event_id_is_stable_and_sensitive() -> None:
    base = event_id("f" * 64, 100, MUSIC)
    assert len(base) == 32
    assert int(base, 16) >= 0
    assert event_id("f" * 64, 100, MUSIC) == base
    assert event_id("e" * 64, 100, MUSIC) != base
    assert event_id("f" * 64, 101, MUSIC) != base
    assert event_id("f" * 64, 100, MUSIC + b" ") != base
