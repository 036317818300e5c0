"""Uploader test helpers: a real loopback HTTP receiver (stdlib only) and wire event factories.

The uploader-only venv has no aiohttp, so the receiver is a `ThreadingHTTPServer` speaking the
bot's intake contract (DESIGN section 4): gzip bodies, bearer token, dedupe by event id, and
scriptable answers (400/401/413/429 + Retry-After/500...) for the response classes.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from uploader.outbox import Outbox
from wire import Batch, FsdJumpEvent


@dataclass
class Answer:
    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    batch_id: str
    event_ids: list[str]
    events: list[dict[str, Any]]
    status: int
    headers: dict[str, str]
    at: float


class Receiver:
    """A loopback intake. `script` answers come first (one per request); then real behaviour."""

    def __init__(self, token: str = "good-token") -> None:
        self.token = token
        self.script: list[Answer] = []
        self.requests: list[Received] = []
        self.accepted: dict[str, str] = {}  # event id -> batch id that first delivered it
        self.accepted_new: list[str] = []  # every id accepted as new, in arrival order
        self.batches_seen: set[str] = set()
        self.on_batch: Callable[[Received], None] | None = None
        self.latency = 0.0  # seconds a POST takes to answer: a slow server, to stretch a backfill
        self._cond = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.start()

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (stdlib signature)
                return

            def do_GET(self) -> None:
                if self.path == "/api/v1/health":
                    self._reply(200, {"status": "ok"})
                elif self.path == "/api/v1/whoami":
                    if not receiver._authorised(self.headers.get("Authorization")):
                        self._reply(401, {"error": {"code": "unauthorized", "message": "bad token"}})
                    else:
                        self._reply(200, {"guild_id": 1, "user_id": 2, "label": "test"})
                else:
                    self._reply(404, {"error": {"code": "not_found", "message": "no such route"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                status, body, headers = receiver._handle(self.path, dict(self.headers.items()), raw)
                self._reply(status, body, headers)

            def _reply(self, status: int, body: dict[str, Any] | None, headers: dict[str, str] | None = None
                       ) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Go down (connections refused) until `start()` again, on the same port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- behaviour ------------------------------------------------------------------------------

    def _authorised(self, header: str | None) -> bool:
        return header == f"Bearer {self.token}"

    def _handle(self, path: str, headers: dict[str, str], raw: bytes
                ) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        if path != "/api/v1/events":
            return 404, {"error": {"code": "not_found", "message": "no such route"}}, {}
        if self.latency:
            time.sleep(self.latency)  # the server's own slowness, not a test waiting for something
        if headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        document = json.loads(raw)
        batch_id = str(document.get("batch_id"))
        events = list(document.get("events", []))
        with self._cond:
            answer = self.script.pop(0) if self.script else None
        if answer is None:
            answer = self._real_answer(headers, raw, batch_id, events)
        received = Received(batch_id, [str(e.get("id")) for e in events], events, answer.status, headers,
                            time.monotonic())
        with self._cond:
            self.requests.append(received)
            self._cond.notify_all()
        if self.on_batch is not None:
            self.on_batch(received)
        return answer.status, answer.body, answer.headers

    def _real_answer(self, headers: dict[str, str], raw: bytes, batch_id: str,
                     events: list[dict[str, Any]]) -> Answer:
        if not self._authorised(headers.get("Authorization")):
            return Answer(401, {"error": {"code": "unauthorized", "message": "unknown or revoked token"}})
        try:
            Batch.model_validate_json(raw)
        except ValueError as exc:
            return Answer(422, {"error": {"code": "invalid", "message": str(exc).splitlines()[0]}})
        accepted = duplicates = 0
        with self._cond:
            self.batches_seen.add(batch_id)
            for event in events:
                event_id = str(event["id"])
                if event_id in self.accepted:
                    duplicates += 1
                else:
                    self.accepted[event_id] = batch_id
                    self.accepted_new.append(event_id)
                    accepted += 1
        return Answer(200, {"accepted": accepted, "duplicates": duplicates, "ignored": 0})

    def answer(self, *statuses: int, body: dict[str, Any] | None = None,
               headers: dict[str, str] | None = None) -> None:
        """Script the next answers (one per request), before the real behaviour resumes."""
        for status in statuses:
            error = {"code": f"e{status}", "message": f"scripted {status}"}
            default = None if status < 300 else {"error": error}
            with self._cond:
                self.script.append(Answer(status, body if body is not None else default, dict(headers or {})))

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
        """Block until `predicate()` holds (checked on every request), or fail after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    n = len(self.requests)
                    raise AssertionError(f"condition not met within {timeout} s; {n} requests")
                self._cond.wait(min(remaining, 0.1))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


T0 = datetime(2025, 4, 8, 19, 58, 49, tzinfo=UTC)


def make_event(i: int, source: str = "Journal.2025-04-08T215854.01.log") -> FsdJumpEvent:
    """A valid wire event with a deterministic id, one per `i`."""
    return FsdJumpEvent(
        id=f"{i:032x}",
        timestamp=T0 + timedelta(seconds=i),
        source=source,
        offset=i * 100,
        commander="TEST",
        system_name=f"System {i}",
    )


@pytest.fixture
def events() -> Callable[..., list[FsdJumpEvent]]:
    def build(n: int, start: int = 0, source: str = "Journal.2025-04-08T215854.01.log") -> list[FsdJumpEvent]:
        return [make_event(i, source) for i in range(start, start + n)]

    return build


# --- running the real uploader -------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]


def uploader_env(tmp_path: Path, **settings: object) -> dict[str, str]:
    """A clean environment for a `python -m uploader` subprocess: only the given settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COLONY_UPLOADER_")}
    env["COLONY_UPLOADER_CONFIG_FILE"] = str(tmp_path / "no-config.toml")
    env["COLONY_UPLOADER_STATE_DIR"] = str(tmp_path / "state")
    env["PYTHONUNBUFFERED"] = "1"
    for key, value in settings.items():
        env[f"COLONY_UPLOADER_{key.upper()}"] = str(value)
    return env


def uploader_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "uploader", *args]


def run_uploader(tmp_path: Path, *args: str, timeout: float = 120.0, stdin: str | None = None,
                 **settings: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(uploader_command(*args), env=uploader_env(tmp_path, **settings), cwd=tmp_path,
                          capture_output=True, text=True, timeout=timeout, input=stdin, check=False)


def expected_events(folder: Path) -> list[Any]:
    """What a full backfill of `folder` must deliver, computed with the reader and normaliser alone."""
    from uploader.journal.files import list_journals
    from uploader.journal.reader import fingerprint, read_complete_lines
    from uploader.normalise.normaliser import Normaliser

    normaliser = Normaliser()
    out: list[Any] = []
    files = list_journals(folder)
    for index, journal in enumerate(files):
        digest = fingerprint(journal.path)
        assert digest is not None
        chunk = read_complete_lines(journal.path, 0, 1 << 30, final=index < len(files) - 1)
        out.extend(normaliser.feed(journal.name, digest, chunk.lines))
    return out


def copy_samples(samples: Path, dest: Path, names: tuple[str, ...]) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(samples / "ed-journals" / name, dest / name)
    return dest


class UploaderTools:
    """The helpers above, handed to tests as a fixture (test modules do not import conftest)."""

    env = staticmethod(uploader_env)
    command = staticmethod(uploader_command)
    run = staticmethod(run_uploader)
    expected_events = staticmethod(expected_events)
    copy_samples = staticmethod(copy_samples)


@pytest.fixture
def tools() -> type[UploaderTools]:
    return UploaderTools


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """An empty journal folder (test modules with their own `folder` use theirs)."""
    path = tmp_path / "journals"
    path.mkdir()
    return path


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    """A fresh outbox in a state folder of its own."""
    with Outbox(tmp_path / "state" / "outbox.sqlite3") as o:
        yield o
