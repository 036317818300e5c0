"""What the image does at run time, done here on the real bot without a container engine: the
Dockerfile's ENTRYPOINT and CMD with its ENV start the bot, its HEALTHCHECK command passes against
it (and fails once it is gone), colony-backup copies the live database, and the STOPSIGNAL stops
the bot cleanly."""

from __future__ import annotations

import os
import queue
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy._dockerfile import Stage, env_pairs, parse

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"
START_BOUND = 60.0  # seconds: generous for a cold interpreter on a slow CI machine


@pytest.fixture(scope="module")
def runtime_stage() -> Stage:
    return parse((DEPLOY / "Dockerfile").read_text(encoding="utf-8"))[-1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=5) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@dataclass
class RunningBot:
    process: subprocess.Popen[str]
    port: int
    db_path: Path
    output: list[str]


def image_command(stage: Stage) -> list[str]:
    """ENTRYPOINT + CMD, with the project's console script as installed beside this interpreter."""
    entrypoint, cmd = stage.last("ENTRYPOINT"), stage.last("CMD")
    assert entrypoint is not None
    assert entrypoint.exec_form
    assert cmd is not None
    assert cmd.exec_form
    program = Path(sys.executable).parent / entrypoint.args[0]
    return [str(program), *entrypoint.args[1:], *cmd.args]


@pytest.fixture
def running_bot(runtime_stage: Stage, tmp_path: Path) -> Iterator[RunningBot]:
    image_env: dict[str, str] = {}
    for instruction in runtime_stage.all("ENV"):
        image_env.update(env_pairs(instruction))
    port = free_port()
    volume = tmp_path / "data"  # stands for the image's /data volume
    volume.mkdir()
    db_path = volume / Path(image_env["COLONY_DB_PATH"]).name
    env = {k: v for k, v in os.environ.items() if not k.startswith("COLONY_")}
    env.update({k: v for k, v in image_env.items() if k.startswith(("COLONY_", "PYTHON"))})
    # The container's 0.0.0.0 would expose a test machine's port: loopback is what Caddy's side sees.
    env.update(COLONY_DB_PATH=str(db_path), COLONY_HTTP_HOST="127.0.0.1", COLONY_HTTP_PORT=str(port))
    process = subprocess.Popen(
        image_command(runtime_stage),
        cwd=volume,  # the image's WORKDIR
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    output: list[str] = []

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        # Every line the bot prints is a moment to look: it logs once it listens.
        deadline = time.monotonic() + START_BOUND
        while not healthy(port):
            try:
                line = lines.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                pytest.fail(f"the bot did not answer within {START_BOUND} s:\n{''.join(output)}")
            if line is None:
                pytest.fail(f"the bot exited ({process.wait()}) before answering:\n{''.join(output)}")
            output.append(line)
        yield RunningBot(process, port, db_path, output)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        reader.join(timeout=30)
        process.stdout.close()


def run_healthcheck(stage: Stage, port: int) -> subprocess.CompletedProcess[str]:
    check = stage.last("HEALTHCHECK")
    assert check is not None
    assert check.command is not None
    assert check.command.exec_form
    program, *args = check.command.args
    assert program == "python"  # the image's interpreter; here, this one
    env = {**os.environ, "COLONY_HTTP_PORT": str(port)}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=30, env=env, check=False
    )


def test_image_starts_passes_its_health_check_backs_up_and_stops_cleanly(
    running_bot: RunningBot, runtime_stage: Stage, tmp_path: Path
) -> None:
    bot = running_bot
    assert bot.db_path.is_file(), "the database is created on the volume"

    check = run_healthcheck(runtime_stage, bot.port)
    assert check.returncode == 0, check.stderr

    backup = subprocess.run(
        [sys.executable, str(DEPLOY / "colony-backup.py"), str(bot.db_path), str(tmp_path / "backups")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert backup.returncode == 0, backup.stderr
    copy = sqlite3.connect(backup.stdout.strip())
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert copy.execute("PRAGMA user_version").fetchone()[0] >= 1, "the migrated schema was copied"
    finally:
        copy.close()

    stop = runtime_stage.last("STOPSIGNAL")
    assert stop is not None
    bot.process.send_signal(signal.Signals[stop.args[0]])
    assert bot.process.wait(timeout=60) == 0, "".join(bot.output)

    after = run_healthcheck(runtime_stage, bot.port)
    assert after.returncode != 0, "the health check must fail when nothing answers"
