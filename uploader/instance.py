"""One sending uploader per state folder: an advisory lock on `<state folder>/uploader.lock`.

Two uploaders on one outbox (the autostart entry plus a manual `run`, a `backfill` started while
`run` is going) stay correct, since every chunk of a journal commits only over the offset its
reader loaded, but both would read and send the same journals and each would report half the
progress. The second one is refused with a message naming the first. The operating system drops
the lock when its process dies (even when killed), so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO

# The byte locked on Windows, where a lock is mandatory and per byte range: far past the holder
# line at the start of the file, so a refused uploader can still read who holds it.
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


class AlreadyRunningError(Exception):
    """Another uploader holds this state folder; the message names it and says what to do."""


class InstanceLock:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "uploader.lock"
        self._file: IO[bytes] | None = None

    def acquire(self, purpose: str) -> None:
        """Take the lock, or raise AlreadyRunningError naming the holder's pid and command; OSError
        when the lock file cannot be created (the caller words it)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+b")
        try:
            _try_lock(handle)
        except OSError:
            holder = _holder(handle)
            handle.close()
            raise AlreadyRunningError(
                f"another uploader ({holder}) is already using {self.path.parent}; stop it first, "
                "or give this one a state folder of its own (COLONY_UPLOADER_STATE_DIR)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, {purpose}".encode())
        handle.flush()
        self._file = handle

    def release(self) -> None:
        handle, self._file = self._file, None
        if handle is not None:
            handle.seek(0)
            handle.truncate()
            handle.flush()
            _unlock(handle)
            handle.close()

    def __enter__(self) -> InstanceLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _holder(handle: IO[bytes]) -> str:
    try:
        handle.seek(0)
        text = handle.read(200).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return text or "another process"
