"""The network between a commander's PC and the bot as deployed: a proxy as the only way out, a
slow uplink, answers from something that is not the bot (a proxy, a WAF, a TLS port spoken to in
plain HTTP), a redirect, a proxy whose bot is down. Real loopback servers and relays."""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.uploader_only

JUNE = "Journal.2025-06-20T213114.01.log"


class ForwardProxy:
    """A plain HTTP forward proxy (absolute-form requests), the only way out of a corporate LAN:
    it resolves `colony.internal` to the receiver; the PC itself cannot resolve that name."""

    def __init__(self, target_port: int) -> None:
        self.seen: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def _forward(self) -> None:
                proxy.seen.append(f"{self.command} {self.path}")
                parts = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
                conn = http.client.HTTPConnection("127.0.0.1", target_port, timeout=10)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-connection",)}
                conn.request(self.command, parts.path + (f"?{parts.query}" if parts.query else ""),
                             body=body or None, headers=headers)
                answer = conn.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for k, v in answer.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._forward()

            def do_POST(self) -> None:
                self._forward()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_https_proxy_from_the_environment_is_used_by_run_and_backfill_as_by_doctor(
    samples: Path, tmp_path: Path, tools: Any, receiver: Any
) -> None:
    folder = tools.copy_samples(samples, tmp_path / "journals", (JUNE,))
    proxy = ForwardProxy(receiver.port)
    try:
        settings: dict[str, Any] = {"url": "http://colony.internal", "token": "good-token",
                                    "journal_dir": folder, "give_up_after": 5, "backoff_cap": 1}
        env = tools.env(tmp_path, **settings)
        env["HTTP_PROXY"] = env["HTTPS_PROXY"] = f"http://127.0.0.1:{proxy.port}"
        import subprocess
        doctor = subprocess.run(tools.command("doctor"), env=env, cwd=tmp_path, capture_output=True,
                                text=True, timeout=60)
        assert "all good" in doctor.stdout, doctor.stdout  # doctor goes through the proxy
        backfill = subprocess.run(tools.command("backfill"), env=env, cwd=tmp_path, capture_output=True,
                                  text=True, timeout=120)
        # ... and so must the uploader itself, or doctor says "all good" while nothing is ever sent.
        assert backfill.returncode == 0, backfill.stderr[-600:]
        assert any(s.startswith("POST ") for s in proxy.seen), proxy.seen
    finally:
        proxy.close()


class SlowUplink:
    """A TCP relay in front of the receiver whose PC-to-server direction carries `rate` bytes/s
    (a throttled mobile plan, a saturated home uplink); answers come back at full speed."""

    def __init__(self, target_port: int, rate: int) -> None:
        self.rate = rate
        self.target_port = target_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        self.port = self.listener.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pump, args=(client, upstream, self.rate), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, None), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, rate: int | None) -> None:
        try:
            while True:
                data = src.recv(512 if rate else 65536)
                if not data:
                    break
                dst.sendall(data)
                if rate:
                    time.sleep(len(data) / rate)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def close(self) -> None:
        self.closed = True
        self.listener.close()


async def test_a_backfill_batch_slower_to_upload_than_the_timeout_is_eventually_delivered(
    tmp_path: Path, receiver: Any, events: Any
) -> None:
    """2,000 events (25 kB gzipped here, ~100 kB from real journals) over an uplink that needs
    longer than `http_timeout` for them: the uploader must get them through somehow (smaller
    batches, or a timeout that allows for the upload), not resend the same body forever."""
    import httpx

    from uploader.outbox import Outbox, QueuedEvent, SourceState
    from uploader.sender import Sender

    link = SlowUplink(receiver.port, rate=6_000)  # ~4 s for this body; the timeout is 1 s
    now = [1_000_000.0]
    try:
        with Outbox(tmp_path / "outbox.sqlite3", clock=lambda: now[0]) as outbox:
            evs = events(2000)
            outbox.commit_chunk(SourceState(evs[0].source, "fp", evs[-1].offset + 1, 0, 0),
                                [QueuedEvent(e.id, e.offset, e.model_dump_json()) for e in evs], None)
            async with httpx.AsyncClient(timeout=httpx.Timeout(1.0)) as client:
                sender = Sender(outbox, client, url=f"http://127.0.0.1:{link.port}", token="good-token",
                                clock=lambda: now[0], rand=lambda: 0.5)
                outcomes = []
                for _ in range(6):
                    step = await sender.step()
                    outcomes.append((step.outcome, step.message))
                    if outbox.pending_events() == 0:
                        break
                    now[0] += step.delay
            assert outbox.pending_events() == 0, outcomes
    finally:
        link.close()


# Go's net/http (so Caddy) answers plain HTTP on its TLS port with exactly this, byte for byte:
# `COLONY_UPLOADER_URL=http://colony.example.org:443`.
GO_PLAIN_HTTP_ON_TLS_PORT = (
    b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
)


class RawAnswer:
    """A loopback server that reads a request and answers fixed bytes, then closes."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(65536)
                    conn.sendall(self.answer)
                except OSError:
                    pass

    def close(self) -> None:
        self.listener.close()


def _queued(tmp_path: Path, events: Any, n: int) -> Any:
    from uploader.outbox import Outbox, QueuedEvent, SourceState

    outbox = Outbox(tmp_path / "outbox.sqlite3")
    evs = events(n)
    outbox.commit_chunk(SourceState(evs[0].source, "fp", evs[-1].offset + 1, 0, 0),
                        [QueuedEvent(e.id, e.offset, e.model_dump_json()) for e in evs], None)
    return outbox


async def _one_step_against(answer: bytes, tmp_path: Path, events: Any) -> tuple[Any, Any]:
    """One sender step of 3 queued events against a server answering `answer`: (the step, the
    outbox's stats after it)."""
    import httpx

    from uploader.sender import Sender

    server = RawAnswer(answer)
    outbox = _queued(tmp_path, events, 3)
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            url = f"http://127.0.0.1:{server.port}"
            step = await Sender(outbox, client, url=url, token="t", rand=lambda: 0.5).step()
        return step, outbox.stats()
    finally:
        server.close()
        outbox.close()


async def test_a_400_that_is_not_the_bots_answer_is_retried_not_dead_lettered(
    tmp_path: Path, events: Any
) -> None:
    """The bot's 400 is `{"error": {"code": "malformed", ...}}`. A 400 from something else (Caddy's
    TLS port spoken to in plain HTTP, a WAF, a middlebox) says nothing about the events: they must
    stay queued and go once the address or the network is right, not sit in the dead letters
    (which only `resend` brings back, and which `status` says to report to the operator)."""
    from uploader.sender import Outcome

    step, stats = await _one_step_against(GO_PLAIN_HTTP_ON_TLS_PORT, tmp_path, events)
    assert step.outcome is Outcome.WAIT, step
    assert stats.dead_letters == 0
    assert stats.pending_events == 3


async def test_a_403_page_from_a_proxy_or_waf_is_not_a_refused_token(
    tmp_path: Path, receiver: Any, events: Any
) -> None:
    """The bot never answers 403 (bot/http/middleware.py: 401 with `unauthorized`). A 403 HTML page
    (Cloudflare, a WAF rule, a corporate or hotel filter) is not the token: `status` must not say
    TOKEN REFUSED and send the commander for a new token, and a backfill must not stop on it."""
    from uploader.sender import Outcome

    page = b"<html><head><title>Access denied</title></head><body>Blocked by policy</body></html>"
    answer = (b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/html\r\nContent-Length: "
              + str(len(page)).encode() + b"\r\nConnection: close\r\n\r\n" + page)
    step, stats = await _one_step_against(answer, tmp_path, events)
    assert step.outcome is not Outcome.TOKEN_REFUSED, step.message
    assert stats.token_refused is None


async def test_following_the_redirect_advice_reaches_the_bot(
    tmp_path: Path, receiver: Any, events: Any
) -> None:
    """Caddy's automatic HTTP->HTTPS redirect is `Location: https://{host}{uri}`, i.e. the full
    events URL. The uploader says "set the bot's address to that": doing so must work."""
    import httpx

    from uploader.sender import Sender
    from uploader.settings import Settings

    redirect = RawAnswer(b"HTTP/1.1 308 Permanent Redirect\r\nLocation: " + receiver.url.encode()
                         + b"/api/v1/events\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    outbox = _queued(tmp_path, events, 3)
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            sender = Sender(outbox, client, url=f"http://127.0.0.1:{redirect.port}", token="good-token")
            await sender.step()
            advice = sender.failure or ""
            told = advice.split("sends the uploader to ", 1)[1].split(";", 1)[0]
            fixed = Settings(url=told, token="good-token", config_file=tmp_path / "none.toml")
            assert fixed.url is not None
            sender = Sender(outbox, client, url=fixed.url, token="good-token", clock=lambda: 1e12)
            step = await sender.step()
        assert outbox.pending_events() == 0, (advice, step.message)
    finally:
        redirect.close()
        outbox.close()


def test_doctor_on_a_proxys_502_says_the_bot_is_down_not_that_the_address_is_wrong(
    tmp_path: Path, tools: Any
) -> None:
    """Caddy answers 502 (empty body) while the bot restarts or is down: the address is right."""
    import subprocess

    proxy = RawAnswer(b"HTTP/1.1 502 Bad Gateway\r\nServer: Caddy\r\nContent-Length: 0\r\n"
                      b"Connection: close\r\n\r\n")
    try:
        env = tools.env(tmp_path, url=f"http://127.0.0.1:{proxy.port}", token="t", journal_dir=tmp_path)
        doctor = subprocess.run(tools.command("doctor"), env=env, cwd=tmp_path, capture_output=True,
                                text=True, timeout=60)
        assert "502" in doctor.stdout
        assert "check the address" not in doctor.stdout, doctor.stdout
    finally:
        proxy.close()
