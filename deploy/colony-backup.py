#!/usr/bin/env python3
"""Copy the bot's SQLite file while the bot runs, using SQLite's online backup API.

    colony-backup DB_PATH DEST_DIR [--keep N]

Writes DEST_DIR/colony-YYYYMMDDTHHMMSSZ.db, a consistent single-file snapshot (journal mode DELETE,
so a restore is one file copy), checks it with `PRAGMA integrity_check`, then keeps the newest N
backups of that name pattern (default 14) and deletes older ones. Prints the new file's path.
Exit status: 0 done, 1 nothing written (the reason on stderr), 2 bad arguments.

Standard library only, so it runs on the host (systemd timer) and inside the container image
(installed as /usr/local/bin/colony-backup).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

PREFIX = "colony-"
SUFFIX = ".db"
PARTIAL = ".partial"
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"


class BackupError(Exception):
    """A reason no backup was written, worded for the operator."""


def backup_name(now: datetime) -> str:
    return f"{PREFIX}{now.strftime(STAMP_FORMAT)}{SUFFIX}"


def is_backup_name(name: str) -> bool:
    if not (name.startswith(PREFIX) and name.endswith(SUFFIX)):
        return False
    try:
        datetime.strptime(name[len(PREFIX) : -len(SUFFIX)], STAMP_FORMAT)
    except ValueError:
        return False
    return True


def backup(db_path: Path, dest_dir: Path, now: datetime) -> Path:
    """Snapshot `db_path` into `dest_dir`; the file appears under its final name only once checked."""
    if not db_path.is_file():
        raise BackupError(f"database not found: {db_path}")
    dest_dir.mkdir(parents=True, exist_ok=True)
    final = dest_dir / backup_name(now)
    if final.exists():
        raise BackupError(f"backup already exists: {final}")
    partial = final.with_name(final.name + PARTIAL)
    try:
        # mode=rw: never create an empty database where the real one is missing.
        source = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=rw", uri=True)
        try:
            target = sqlite3.connect(partial)
            try:
                source.backup(target)
                # One self-contained file: a WAL-mode copy would need its -wal/-shm companions.
                target.execute("PRAGMA journal_mode=DELETE")
                check = target.execute("PRAGMA integrity_check").fetchall()
            finally:
                target.close()
        finally:
            source.close()
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"cannot back up {db_path}: {exc}") from exc
    if check != [("ok",)]:
        partial.unlink(missing_ok=True)
        raise BackupError(f"integrity check of the copy failed: {check[:5]}")
    os.replace(partial, final)
    return final


def prune(dest_dir: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups (by the time in their names); return the deleted."""
    backups = sorted(p for p in dest_dir.iterdir() if p.is_file() and is_backup_name(p.name))
    doomed = backups[:-keep] if keep > 0 else backups
    for path in doomed:
        path.unlink()
    return doomed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="colony-backup", description="Online backup of the bot's SQLite file (safe while it runs)."
    )
    parser.add_argument("db_path", type=Path, help="the bot's SQLite file (COLONY_DB_PATH)")
    parser.add_argument("dest_dir", type=Path, help="folder for the backups (created when missing)")
    parser.add_argument("--keep", type=int, default=14, help="how many backups to keep (default 14)")
    args = parser.parse_args(argv)
    if args.keep < 1:
        parser.error("--keep must be at least 1")
    try:
        path = backup(args.db_path, args.dest_dir, datetime.now(UTC))
        prune(args.dest_dir, args.keep)
    except (BackupError, OSError) as exc:
        print(f"colony-backup: {exc}", file=sys.stderr)
        return 1
    with contextlib.suppress(BrokenPipeError):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
