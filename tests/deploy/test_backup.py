"""deploy/colony-backup.py on real SQLite files: a consistent copy while a writer holds the database,
one self-contained file, retention, and a clear refusal (nothing written) for bad input."""

from __future__ import annotations

import importlib.util
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "deploy" / "colony-backup.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("colony_backup", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


backup_script = load_script()


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def live_db(tmp_path: Path) -> Iterator[tuple[Path, sqlite3.Connection]]:
    """A WAL database like the bot's, with its connection still open (the bot keeps running)."""
    path = tmp_path / "state" / "colony.db"
    path.parent.mkdir()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")  # keep the rows in the -wal file, as between checkpoints
    conn.execute("CREATE TABLE events (id TEXT PRIMARY KEY, body TEXT NOT NULL)")
    conn.executemany("INSERT INTO events VALUES (?, ?)", [(f"e{i}", "x" * 100) for i in range(500)])
    conn.execute("PRAGMA user_version = 3")
    yield path, conn
    conn.close()


def rows(path: Path) -> list[tuple[str]]:
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT id FROM events ORDER BY id").fetchall()
    finally:
        conn.close()


def test_backup_while_a_writer_holds_a_transaction(live_db: tuple[Path, sqlite3.Connection]) -> None:
    path, conn = live_db
    assert Path(f"{path}-wal").stat().st_size > 0, "the committed rows are still in the WAL"
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO events VALUES ('uncommitted', 'y')")

    result = run(path, path.parent / "backups")

    assert result.returncode == 0, result.stderr
    copy = Path(result.stdout.strip())
    assert copy.parent == path.parent / "backups"
    assert backup_script.is_backup_name(copy.name)
    assert rows(copy) == sorted((f"e{i}",) for i in range(500))  # committed: all; uncommitted: none
    check = sqlite3.connect(copy)
    try:
        assert check.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        assert check.execute("PRAGMA user_version").fetchone() == (3,)  # the migration level travels
    finally:
        check.close()
    assert sorted(p.name for p in copy.parent.iterdir()) == [copy.name], "one self-contained file"
    # The bot was never blocked: its transaction commits after the backup.
    conn.execute("COMMIT")
    assert len(rows(path)) == 501


def test_a_restored_copy_opens_without_its_companions(
    live_db: tuple[Path, sqlite3.Connection], tmp_path: Path
) -> None:
    path, _ = live_db
    copy = Path(run(path, tmp_path / "b").stdout.strip())
    restored = tmp_path / "restore" / "colony.db"
    restored.parent.mkdir()
    restored.write_bytes(copy.read_bytes())
    assert len(rows(restored)) == 500


def test_keep_deletes_only_the_oldest_backups(
    live_db: tuple[Path, sqlite3.Connection], tmp_path: Path
) -> None:
    path, _ = live_db
    dest = tmp_path / "backups"
    dest.mkdir()
    old = ["colony-20250101T000000Z.db", "colony-20250102T000000Z.db", "colony-20250103T000000Z.db"]
    for name in old:
        (dest / name).write_bytes(b"older backup")
    others = ["notes.txt", "colony-latest.db", "colony-20250101T000000Z.db.partial"]
    for name in others:
        (dest / name).write_bytes(b"not ours to delete")

    result = run(path, dest, "--keep", "2")

    assert result.returncode == 0, result.stderr
    new = Path(result.stdout.strip()).name
    assert sorted(p.name for p in dest.iterdir()) == sorted([*others, old[2], new])


def test_missing_database_writes_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "colony.db"
    result = run(missing, tmp_path / "backups")
    assert result.returncode == 1
    assert result.stderr == f"colony-backup: database not found: {missing}\n"
    assert result.stdout == ""
    assert not missing.exists(), "no empty database is created in its place"
    assert not (tmp_path / "backups").exists()


def test_a_file_that_is_not_a_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    junk = tmp_path / "colony.db"
    junk.write_bytes(b"this is not SQLite" * 100)
    result = run(junk, tmp_path / "backups")
    assert result.returncode == 1
    assert result.stderr == f"colony-backup: cannot back up {junk}: file is not a database\n"
    assert list((tmp_path / "backups").iterdir()) == [], "no partial copy is left behind"
    assert junk.read_bytes() == b"this is not SQLite" * 100


def test_keep_below_one_is_a_usage_error(tmp_path: Path) -> None:
    result = run(tmp_path / "colony.db", tmp_path / "backups", "--keep", "0")
    assert result.returncode == 2
    assert result.stderr.endswith("colony-backup: error: --keep must be at least 1\n")
    assert not (tmp_path / "backups").exists()


def test_a_second_backup_in_the_same_second_does_not_overwrite_the_first(
    live_db: tuple[Path, sqlite3.Connection], tmp_path: Path
) -> None:
    path, conn = live_db
    now = datetime(2026, 1, 1, 4, 15, tzinfo=UTC)
    first = backup_script.backup(path, tmp_path / "b", now)
    before = first.read_bytes()
    conn.execute("INSERT INTO events VALUES ('later', 'z')")
    with pytest.raises(backup_script.BackupError, match=f"^backup already exists: {first}$"):
        backup_script.backup(path, tmp_path / "b", now)
    assert first.read_bytes() == before
    assert sorted(os.listdir(tmp_path / "b")) == ["colony-20260101T041500Z.db"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("colony-20260101T041500Z.db", True),
        ("colony-20261301T041500Z.db", False),  # month 13
        ("colony-20260101T041500Z.db.partial", False),
        ("colony-latest.db", False),
        ("other-20260101T041500Z.db", False),
    ],
)
def test_only_our_own_names_count_as_backups(name: str, expected: bool) -> None:
    assert backup_script.is_backup_name(name) is expected
