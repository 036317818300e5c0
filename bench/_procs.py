"""The real programs as subprocesses, for the end-to-end benchmarks and the soak test.

`BotProcess` runs `python -m bot run` (offline mode) on a fixed loopback port, so uploaders keep
their address across a SIGKILL and restart. `issue_token` calls `python -m bot token issue`.
`peak_rss_kib` reads a live process's high-water mark of resident memory from /proc.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Mapping
from pathlib import Path

STARTUP = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This environment without any COLONY_* setting, plus `extra`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("COLONY_")}
    return base | dict(extra)


def bot_env(db: Path, port: int, **extra: str) -> dict[str, str]:
    return clean_env({"COLONY_DB_PATH": str(db), "COLONY_HTTP_PORT": str(port)} | extra)


async def issue_token(db: Path, guild: int, user: int, label: str | None = None) -> str:
    args = ["token", "issue", "--guild", str(guild), "--user", str(user)]
    if label:
        args += ["--label", label]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, env=bot_env(db, 0),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), STARTUP)
    if proc.returncode != 0:
        raise RuntimeError(f"token issue failed ({proc.returncode}): {err.decode().strip()}")
    return out.decode().strip().splitlines()[-1]


def peak_rss_kib(pid: int) -> int:
    """VmHWM of a live process (0 when /proc has no such figure: not Linux, or already gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


class BotProcess:
    """`python -m bot run` on a fixed port over one database file; kill, restart, stop."""

    def __init__(self, db: Path, port: int, *, log: Path | None = None, **env: str) -> None:
        self.db = db
        self.port = port
        self.log = log
        self.env = bot_env(db, port, **env)
        self.proc: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None
        self.peak_kib = 0
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        stderr = self.log.open("ab") if self.log is not None else None
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", env=self.env,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr if stderr is not None else asyncio.subprocess.DEVNULL,
            )  # fmt: skip
        finally:
            if stderr is not None:
                stderr.close()
        self.proc = proc
        self.starts += 1
        assert proc.stdout is not None
        while True:
            line = (await asyncio.wait_for(proc.stdout.readline(), STARTUP)).decode()
            if not line:
                raise RuntimeError(f"the bot exited ({await proc.wait()}) before listening")
            if "intake at " in line:
                break
        # The offline notifier prints every change: keep its pipe drained.
        self._drain = asyncio.create_task(_drain(proc.stdout))

    def sample_memory(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.peak_kib = max(self.peak_kib, peak_rss_kib(self.proc.pid))

    async def kill(self) -> None:
        """SIGKILL: no goodbye; only what was committed survives."""
        await self._end(signal.SIGKILL)

    async def stop(self) -> int:
        """SIGTERM: a clean stop; returns the exit code."""
        return await self._end(signal.SIGTERM)

    async def _end(self, sig: signal.Signals) -> int:
        proc, self.proc = self.proc, None
        if proc is None:
            return 0
        if proc.returncode is None:
            self.peak_kib = max(self.peak_kib, peak_rss_kib(proc.pid))
            proc.send_signal(sig)
        code = await asyncio.wait_for(proc.wait(), STARTUP)
        if self._drain is not None:
            await self._drain
            self._drain = None
        return code


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.read(65536):
        pass
