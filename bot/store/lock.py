"""One bot per database: an advisory lock on `<db>.lock`, held by a running bot and by `rebuild`.

Two bots on one SQLite file would each keep their own in-memory colony state and overwrite each
other's projections; `rebuild` while the bot runs would do the same. The operating system drops
the lock when its process dies (even by SIGKILL), so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO

# The byte locked on Windows, where a lock is mandatory and covers a byte range from the file's
# current position: always the same byte (else a second process, opening the file at its end,
# would lock another byte and succeed), and far past the holder line, which stays readable.
_LOCKED_BYTE = 1 << 20

if sys.platform == "win32":
    import msvcrt

    def _try_lock(handle: IO[bytes]) -> None:
        handle.seek(_LOCKED_BYTE)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)

    def _unlock(handle: IO[bytes]) -> None:
        handle.seek(_LOCKED_BYTE)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(handle: IO[bytes]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(handle: IO[bytes]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class DatabaseInUseError(Exception):
    """Another process (a running bot, a rebuild, a console) holds the database."""

    def __init__(self, message: str, holder: str) -> None:
        super().__init__(message)
        self.holder = holder  # "pid 123 (colony-bot console)"


class DatabaseLock:
    def __init__(self, db_path: Path) -> None:
        # The file itself, whatever name it is reached by (a symlink): one lock per database.
        db_path = db_path.resolve()
        self.path = db_path.with_name(db_path.name + ".lock")
        self._file: IO[bytes] | None = None

    def acquire(self, purpose: str) -> None:
        """Take the lock or raise DatabaseInUseError naming the holder's pid and purpose; OSError
        when the lock file cannot be created."""
        handle = self.path.open("a+b")  # OSError (no folder, no permission) is the caller's to word
        try:
            _try_lock(handle)
        except OSError:
            handle.seek(0)
            holder = handle.read(200).decode("utf-8", "replace").strip() or "another process"
            handle.close()
            raise DatabaseInUseError(
                f"{self.path.with_suffix('')} is in use by {holder}; stop it first", holder
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} ({purpose})".encode())
        handle.flush()
        self._file = handle

    def release(self) -> None:
        handle, self._file = self._file, None
        if handle is not None:
            handle.seek(0)
            handle.truncate()
            _unlock(handle)
            handle.close()
