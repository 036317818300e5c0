"""`Normaliser.feed_chunk` (whole-buffer scan) gives exactly what `feed` (line by line) gives.

The tailer uses `feed_chunk`; `feed` is the reference. Equality covers events, their order and ids,
the carried state and the counters, on the real journals and on buffers built to push the scan
off its fast path (NUL runs, blank lines, cut lines, nested "event" keys, spacing variants).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from uploader.journal.reader import Chunk, fingerprint, read_complete_lines
from uploader.normalise.normaliser import Normaliser

pytestmark = pytest.mark.uploader_only

FP = "f" * 64
DOCKED = (
    b'{ "timestamp":"2025-04-08T21:44:00Z", "event":"Docked", "StationName":"Coelho Hub", '
    b'"StationType":"Coriolis", "StarSystem":"Col 285 Sector GF-F b12-5", "SystemAddress":1, '
    b'"MarketID":3228000000 }'
)
MUSIC = b'{ "timestamp":"2025-04-08T21:44:01Z", "event":"Music", "MusicTrack":"Starport" }'
BUY = (
    b'{ "timestamp":"2025-04-08T21:44:02Z", "event":"MarketBuy", "MarketID":3228000000, '
    b'"Type":"steel", "Count":700, "BuyPrice":5000, "TotalCost":3500000 }'
)
SPACED_BUY = BUY.replace(b'"event":"MarketBuy"', b'"event" : "MarketBuy"').replace(b"21:44:02", b"21:44:03")
NESTED = (
    b'{ "timestamp":"2025-04-08T21:44:04Z", "event":"Music", "Extra":{ "event":"MarketBuy", '
    b'"MarketID":1, "Type":"steel", "Count":1 } }'
)
NO_EVENT = b'{ "timestamp":"2025-04-08T21:44:05Z", "Thing":1 }'
CUT = b'{ "timestamp":"2025-04-08T21:44:06Z", "event":"FSDJump", "StarSystem":"An'
CUT_NOISE = b'{ "timestamp":"2025-04-08T21:44:06Z", "event":"Music", "MusicTrack":"Sta'
UNDOCKED = (
    b'{ "timestamp":"2025-04-08T21:45:00Z", "event":"Undocked", "StationName":"Coelho Hub", '
    b'"MarketID":3228000000 }'
)


def _both(chunk: Chunk) -> None:
    by_line, by_chunk = Normaliser(), Normaliser()
    expected = by_line.feed("Journal.test.log", FP, chunk.lines)
    got = by_chunk.feed_chunk("Journal.test.log", FP, chunk)
    assert [e.model_dump() for e in got] == [e.model_dump() for e in expected]
    assert by_chunk.state == by_line.state
    assert by_chunk.stats == by_line.stats


def _chunk(*lines: bytes, newline: bytes = b"\n", base: int = 0) -> Chunk:
    data = b"".join(line + newline for line in lines)
    return Chunk(data, base, base + len(data))


@pytest.mark.parametrize(
    "lines",
    [
        (DOCKED, MUSIC, BUY, UNDOCKED),
        (DOCKED, SPACED_BUY, NESTED, UNDOCKED),
        (DOCKED, NO_EVENT, BUY),
        (DOCKED, CUT, BUY),
        (DOCKED, CUT_NOISE, BUY),
        (DOCKED, b"", b"   ", BUY),
        (DOCKED, b"\x00" * 40 + BUY, UNDOCKED),
        (MUSIC, MUSIC),
    ],
    ids=["plain", "spacing-and-nested", "no-event", "cut-relevant", "cut-noise", "blank", "nul-run", "noise"],
)
@pytest.mark.parametrize("newline", [b"\n", b"\r\n"], ids=["lf", "crlf"])
def test_crafted_buffers_agree(
    lines: tuple[bytes, ...], newline: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    _both(_chunk(*lines, newline=newline, base=1234))


def test_fast_path_really_finds_the_relevant_lines() -> None:
    # Guards the scan itself, not only its agreement with `feed`: two events out, noise skipped.
    events = Normaliser().feed_chunk("J.log", FP, _chunk(DOCKED, MUSIC, SPACED_BUY, newline=b"\r\n", base=10))
    assert [e.kind for e in events] == ["docked", "market_buy"]
    assert events[1].offset == 10 + len(DOCKED) + 2 + len(MUSIC) + 2


@pytest.mark.parametrize("max_bytes", [4096, 65536, 8 << 20])
def test_real_journals_agree_chunk_by_chunk(samples: Path, max_bytes: int) -> None:
    files = sorted((samples / "ed-journals").glob("*.log"))
    assert files
    by_line, by_chunk = Normaliser(), Normaliser()
    for path in files:
        fp = fingerprint(path)
        assert fp is not None
        offset = 0
        while True:
            chunk = read_complete_lines(path, offset, max_bytes, final=True)
            if chunk.next_offset == offset:
                break
            expected = by_line.feed(path.name, fp, chunk.lines)
            got = by_chunk.feed_chunk(path.name, fp, chunk)
            assert [e.model_dump() for e in got] == [e.model_dump() for e in expected], (path.name, offset)
            offset = chunk.next_offset
    assert by_chunk.state == by_line.state
    assert by_chunk.stats == by_line.stats
    assert by_chunk.stats.events > 100
