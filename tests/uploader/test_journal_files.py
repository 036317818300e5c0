"""Which files are journals and their true order (quirks 1-4)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from uploader.journal.files import is_journal_name, list_journals

pytestmark = pytest.mark.uploader_only


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("Journal.2025-04-08T215854.01.log", True),
        ("Journal.231231160210.01.log", True),
        ("Journal.200920073149.02.log", True),
        ("JournalBeta.2025-04-08T215854.01.log", False),
        ("JournalAlpha.231231160210.01.log", False),
        ("Journal.2015-01-02T123456-01.log", False),  # invalid name seen in the wild (quirk 4)
        ("Journal.2025-13-08T215854.01.log", False),  # month 13
        ("Journal.2025-04-08T215854.01.log.bak", False),
        ("Journal.2025-04-08T215854.1.log", False),
        ("Cargo.json", False),
        ("journal.2025-04-08T215854.01.log", False),
    ],
)
def test_is_journal_name(name: str, ok: bool) -> None:
    assert is_journal_name(name) is ok


def _header(stamp: str, part: int = 1) -> bytes:
    return b'{ "timestamp":"%s", "event":"Fileheader", "part":%d }\r\n' % (stamp.encode(), part)


def test_order_is_by_header_time_then_part_not_by_name(tmp_path: Path) -> None:
    # Lexically Journal.23... sorts after Journal.2025...; by header it is older.
    (tmp_path / "Journal.231231160210.01.log").write_bytes(_header("2023-12-31T15:02:10Z"))
    (tmp_path / "Journal.2025-04-08T215854.01.log").write_bytes(_header("2025-04-08T19:58:49Z"))
    (tmp_path / "Journal.2025-04-08T235900.01.log").write_bytes(_header("2025-04-08T21:59:00Z"))
    # Part 2 of the first 2025 session: same header time as the later file would sort by name.
    (tmp_path / "Journal.2025-04-08T215854.02.log").write_bytes(_header("2025-04-08T19:58:49Z", 2))
    (tmp_path / "JournalBeta.2025-04-08T215854.01.log").write_bytes(_header("2020-01-01T00:00:00Z"))
    (tmp_path / "Journal.2015-01-02T123456-01.log").write_bytes(_header("2015-01-02T12:34:56Z"))
    (tmp_path / "Journal.2025-04-09T000000.01.log").mkdir()  # a folder with a journal's name
    journals = list_journals(tmp_path)
    assert [j.name for j in journals] == [
        "Journal.231231160210.01.log",
        "Journal.2025-04-08T215854.01.log",
        "Journal.2025-04-08T215854.02.log",
        "Journal.2025-04-08T235900.01.log",
    ]
    assert journals[0].started == datetime(2023, 12, 31, 15, 2, 10, tzinfo=UTC)
    assert [j.part for j in journals] == [1, 1, 2, 1]


def test_header_time_not_name_time_decides(tmp_path: Path) -> None:
    # Names say a < b, headers say b < a (e.g. a PC clock/timezone change between sessions).
    (tmp_path / "Journal.2025-04-08T100000.01.log").write_bytes(_header("2025-04-08T12:00:00Z"))
    (tmp_path / "Journal.2025-04-08T110000.01.log").write_bytes(_header("2025-04-08T11:00:00Z"))
    assert [j.name for j in list_journals(tmp_path)] == [
        "Journal.2025-04-08T110000.01.log",
        "Journal.2025-04-08T100000.01.log",
    ]


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b'{ "timestamp":"2025-04-0',
        b"not json\n",
        b'{"event":"Music","timestamp":"2025-01-01T00:00:00Z"}\n',
        b'{"event":"Fileheader","timestamp":"yesterday"}\n',
        b'["Fileheader"]\n',
    ],
)
def test_unreadable_header_falls_back_to_the_names_local_stamp(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "Journal.2025-04-08T215854.01.log"
    path.write_bytes(content)
    (journal,) = list_journals(tmp_path)
    assert journal.started == datetime(2025, 4, 8, 21, 58, 54).astimezone(UTC)
    assert journal.started.tzinfo is not None


def test_real_samples_are_dated_by_their_headers(samples: Path, tmp_path: Path) -> None:
    for name in (
        "Journal.2025-04-08T215854.01.log",
        "Journal.2025-06-20T213114.01.log",
    ):
        shutil.copy(samples / "ed-journals" / name, tmp_path / name)
    legacy = samples / "ed-journals" / "excerpt_Journal.231231160210.01_lines1-3_legacy_3.8.log"
    shutil.copy(legacy, tmp_path / "Journal.231231160210.01.log")
    journals = list_journals(tmp_path)
    assert [(j.name, j.started) for j in journals] == [
        ("Journal.231231160210.01.log", datetime(2023, 12, 31, 15, 2, 10, tzinfo=UTC)),
        ("Journal.2025-04-08T215854.01.log", datetime(2025, 4, 8, 19, 58, 49, tzinfo=UTC)),
        ("Journal.2025-06-20T213114.01.log", datetime(2025, 6, 20, 19, 31, 7, tzinfo=UTC)),
    ]
