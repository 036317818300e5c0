"""One sending uploader per state folder (`uploader/instance.py`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from uploader.instance import AlreadyRunningError, InstanceLock

pytestmark = pytest.mark.uploader_only


def test_a_second_lock_on_the_same_folder_is_refused_with_the_holder_named(tmp_path: Path) -> None:
    first = InstanceLock(tmp_path / "state")
    first.acquire("run")  # creates the folder
    try:
        with pytest.raises(AlreadyRunningError) as refused:
            InstanceLock(tmp_path / "state").acquire("backfill")
        message = str(refused.value)
        assert f"another uploader (pid {os.getpid()}, run) is already using {tmp_path / 'state'}" in message
        assert "COLONY_UPLOADER_STATE_DIR" in message
        # Another folder is another uploader's: not refused.
        with InstanceLock(tmp_path / "other") as other:
            other.acquire("run")
    finally:
        first.release()
    # Released: the next one takes it, and says who it is.
    with InstanceLock(tmp_path / "state") as second:
        second.acquire("backfill")
        assert (tmp_path / "state" / "uploader.lock").read_text() == f"pid {os.getpid()}, backfill"
    assert (tmp_path / "state" / "uploader.lock").read_text() == ""


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from pathlib import Path; from uploader.instance import InstanceLock; "
         "lock = InstanceLock(Path(sys.argv[1])); lock.acquire('run'); print('held', flush=True); "
         "sys.stdin.read()",
         str(tmp_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2],
    ) as holder:  # fmt: skip
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == "held"
            with pytest.raises(AlreadyRunningError, match=rf"\(pid {holder.pid}, run\)"):
                InstanceLock(tmp_path).acquire("backfill")
        finally:
            holder.kill()
            holder.wait()
    with InstanceLock(tmp_path) as lock:
        lock.acquire("backfill")  # the operating system dropped the dead holder's lock
