"""The real `python -m uploader` as a subprocess: exit codes and one-line messages, never a traceback."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from uploader.runner import Runner
from uploader.sender import Sender, Step
from uploader.settings import Settings

pytestmark = pytest.mark.uploader_only

JUNE = "Journal.2025-06-20T213114.01.log"
APRIL = "Journal.2025-04-08T215854.01.log"


def _one_clear_line(stderr: str, text: str) -> None:
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("colony-uploader: error: ")]
    assert len(errors) == 1, stderr
    assert text in errors[0], stderr


def _pending(tmp_path: Path) -> int:
    db = sqlite3.connect(tmp_path / "state" / "outbox.sqlite3")
    try:
        (events,) = db.execute("SELECT COUNT(*) FROM events").fetchone()
        (batched,) = db.execute("SELECT COALESCE(SUM(n_events), 0) FROM batches").fetchone()
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return int(events) + int(batched)
    finally:
        db.close()


@contextmanager
def _polling_run(
    tools: Any, tmp_path: Path, receiver: Any, journal_dir: Path, **settings: object
) -> Iterator[subprocess.Popen[str]]:
    """`colony-uploader run --poll` as a subprocess, killed (and its pipes drained) on the way out
    if the test left it running."""
    process = subprocess.Popen(tools.command("run", "--poll"), env=tools.env(
        tmp_path, url=receiver.url, token="good-token", journal_dir=journal_dir, poll_interval=0.2,
        **settings), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def _stop(process: subprocess.Popen[str]) -> str:
    """SIGTERM, as a service manager stops it; what it wrote on stderr."""
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    return stderr


@pytest.fixture
def journals(samples: Path, tmp_path: Path, tools: Any) -> Path:
    folder: Path = tools.copy_samples(samples, tmp_path / "journals", (JUNE,))
    return folder


# The reader in a process of its own (fork is Linux's default, spawn everyone else's) or a thread.
READERS = ["auto", "spawn", "thread"] if sys.platform.startswith("linux") else ["auto", "thread"]


@pytest.mark.parametrize("reader", READERS)
def test_backfill_delivers_every_event_then_exits_zero(
    samples: Path, tmp_path: Path, tools: Any, receiver: Any, reader: str
) -> None:
    folder = tools.copy_samples(samples, tmp_path / "journals", (JUNE, APRIL))
    expected = [e.id for e in tools.expected_events(folder)]
    assert len(expected) > 100
    result = tools.run(tmp_path, "backfill", url=receiver.url, token="good-token", journal_dir=folder,
                       backfill_reader=reader)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert f"backfill complete: {len(expected)} event(s) delivered" in result.stderr
    assert receiver.accepted_new == expected  # every event, once, oldest journal first, in file order
    # A second run has nothing left to send.
    again = tools.run(tmp_path, "backfill", url=receiver.url, token="good-token", journal_dir=folder)
    assert again.returncode == 0
    assert "backfill complete: 0 event(s) delivered" in again.stderr
    assert len(receiver.accepted_new) == len(expected)


@pytest.mark.parametrize("reader", READERS)
def test_the_readers_warnings_reach_the_log_file_and_the_terminal(
    samples: Path, tmp_path: Path, tools: Any, receiver: Any, reader: str
) -> None:
    folder = tools.copy_samples(samples, tmp_path / "journals", (JUNE,))
    path = folder / JUNE
    data = path.read_bytes()
    middle = data.index(b"\n", len(data) // 2) + 1
    path.write_bytes(data[:middle] + b"garbage in the middle\n" + data[middle:])
    result = tools.run(tmp_path, "backfill", url=receiver.url, token="good-token", journal_dir=folder,
                       backfill_reader=reader)
    assert result.returncode == 0, result.stderr
    warning = f"skipping line of {JUNE} at byte {middle}: not a JSON object"
    assert warning in result.stderr
    log = (tmp_path / "state" / "logs" / "uploader.log").read_text(encoding="utf-8")
    assert f"WARNING uploader.normalise.normaliser: {warning}" in log
    assert log.count(warning) == 1  # one writer: the reader's records go through the parent


def _backfill_with_a_waiting_reader(
    samples: Path, tmp_path: Path, tools: Any, receiver: Any
) -> tuple[Path, subprocess.Popen[str], int]:
    """A backfill whose reader process is alive: a small outbox bound and a slow server keep it
    waiting for room. Its journal folder, the backfill process, the reader's pid (from /proc)."""
    folder: Path = tools.copy_samples(samples, tmp_path / "journals", (JUNE, APRIL))
    env = tools.env(tmp_path, url=receiver.url, token="good-token", journal_dir=folder, batch_max_events=5,
                    outbox_max_events=20)
    receiver.latency = 0.02
    process = subprocess.Popen(tools.command("backfill"), env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    try:
        receiver.wait_for(lambda: children.exists() and children.read_text().split() != [])
        (reader_pid,) = (int(pid) for pid in children.read_text().split())
        receiver.wait_for(lambda: len(receiver.requests) >= 3)
    except BaseException:
        receiver.latency = 0.0
        process.kill()  # its reader follows within its watch interval
        process.communicate()
        raise
    return folder, process, reader_pid


def _backfill_again(folder: Path, tmp_path: Path, tools: Any, receiver: Any) -> list[str]:
    """A new backfill to completion; the ids the journals hold."""
    after = tools.run(tmp_path, "backfill", url=receiver.url, token="good-token", journal_dir=folder)
    assert after.returncode == 0, after.stderr
    return [e.id for e in tools.expected_events(folder)]


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the reader through /proc")
def test_a_backfills_reader_stops_when_its_parent_is_killed(
    samples: Path, tmp_path: Path, tools: Any, receiver: Any
) -> None:
    folder, parent, reader_pid = _backfill_with_a_waiting_reader(samples, tmp_path, tools, receiver)
    try:
        assert Path(f"/proc/{reader_pid}").exists()
        parent.kill()
        parent.communicate(timeout=30)
        # Orphaned, it notices within its watch interval and exits after its chunk.
        receiver.wait_for(lambda: not Path(f"/proc/{reader_pid}").exists()
                          or Path(f"/proc/{reader_pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z")
    finally:
        receiver.latency = 0.0
        if parent.poll() is None:
            parent.kill()
            parent.wait()
    # What it committed is whole: a new backfill delivers every event once.
    expected = _backfill_again(folder, tmp_path, tools, receiver)
    assert sorted(set(receiver.accepted_new)) == sorted(expected)
    assert len(receiver.accepted_new) == len(expected)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the reader through /proc")
@pytest.mark.parametrize("signal_number", [9, 15], ids=["SIGKILL", "SIGTERM"])
def test_a_killed_reader_is_one_clear_error_and_loses_nothing(
    samples: Path, tmp_path: Path, tools: Any, receiver: Any, signal_number: int
) -> None:
    folder, process, reader_pid = _backfill_with_a_waiting_reader(samples, tmp_path, tools, receiver)
    try:
        os.kill(reader_pid, signal_number)
        _, stderr = process.communicate(timeout=60)
    finally:
        receiver.latency = 0.0
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 1, stderr
    _one_clear_line(stderr, f"the reading process ended unexpectedly (exit code -{signal_number}); "
                    "nothing was lost")
    expected = _backfill_again(folder, tmp_path, tools, receiver)
    assert sorted(set(receiver.accepted_new)) == sorted(expected)


def test_backfill_since_leaves_older_journals_out(samples: Path, tmp_path: Path, tools: Any,
                                                  receiver: Any) -> None:
    folder = tools.copy_samples(samples, tmp_path / "journals", (JUNE, APRIL))
    result = tools.run(tmp_path, "backfill", "--since", "2025-06-01", url=receiver.url, token="good-token",
                       journal_dir=folder)
    assert result.returncode == 0, result.stderr
    assert {e["source"] for r in receiver.requests for e in r.events} == {JUNE}


def test_bad_token(journals: Path, tmp_path: Path, tools: Any, receiver: Any) -> None:
    result = tools.run(tmp_path, "backfill", url=receiver.url, token="wrong-token", journal_dir=journals)
    assert result.returncode == 3
    _one_clear_line(result.stderr, "the server refused the token (401 unauthorized: unknown or revoked "
                    "token); sending paused, nothing is lost")
    assert _pending(tmp_path) == len(tools.expected_events(journals))  # data kept
    status = tools.run(tmp_path, "status", journal_dir=journals)
    assert status.returncode == 3
    assert "TOKEN REFUSED: the server refused the token" in status.stdout


def test_unreachable_server(journals: Path, tmp_path: Path, tools: Any, receiver: Any) -> None:
    receiver.stop()
    result = tools.run(tmp_path, "backfill", url=receiver.url, token="good-token", journal_dir=journals,
                       give_up_after=0.5)
    assert result.returncode == 4
    n = len(tools.expected_events(journals))
    _one_clear_line(result.stderr, f"cannot reach the server at {receiver.url} (")
    assert f"{n} event(s) kept in the outbox for the next run" in result.stderr
    assert _pending(tmp_path) == n
    status = tools.run(tmp_path, "status", journal_dir=journals)
    assert "last error: cannot reach the server" in status.stdout
    assert f"events queued: {n} " in status.stdout


def test_missing_journal_folder(tmp_path: Path, tools: Any, receiver: Any) -> None:
    missing = tmp_path / "no-such-folder"
    result = tools.run(tmp_path, "backfill", url=receiver.url, token="good-token", journal_dir=missing)
    assert result.returncode == 5
    _one_clear_line(result.stderr, f"journal folder not found: {missing} (set COLONY_UPLOADER_JOURNAL_DIR")
    doctor = tools.run(tmp_path, "doctor", url=receiver.url, token="good-token", journal_dir=missing)
    assert doctor.returncode == 5
    assert f"[FIX] journal folder {missing} (configured) does not exist" in doctor.stdout


def test_undetectable_journal_folder(tmp_path: Path, tools: Any, receiver: Any) -> None:
    env = tools.env(tmp_path, url=receiver.url, token="good-token")
    env["HOME"] = str(tmp_path / "empty-home")
    result = subprocess.run(tools.command("backfill"), env=env, cwd=tmp_path, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 5
    _one_clear_line(result.stderr, "no journal folder found (looked in: ")
    assert "set COLONY_UPLOADER_JOURNAL_DIR" in result.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
@pytest.mark.parametrize("reader", READERS)
def test_full_disk(journals: Path, tmp_path: Path, tools: Any, receiver: Any, reader: str) -> None:
    import resource

    def small_disk() -> None:
        # Any write past 96 KiB fails with EFBIG, as on a full disk (SIGXFSZ ignored, not fatal).
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (96 * 1024, 96 * 1024))

    result = subprocess.run(tools.command("backfill"), env=tools.env(tmp_path, url=receiver.url,
                            token="good-token", journal_dir=journals, batch_max_events=5,
                            backfill_reader=reader),
                            cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
                            preexec_fn=small_disk)
    assert result.returncode == 6, result.stderr
    _one_clear_line(result.stderr, "cannot write the outbox")
    assert "is the disk full? nothing was lost" in result.stderr
    # What was committed is intact, and a run with room delivers the rest: nothing lost, no duplicate.
    _pending(tmp_path)
    after = tools.run(tmp_path, "backfill", url=receiver.url, token="good-token", journal_dir=journals)
    assert after.returncode == 0, after.stderr
    expected = [e.id for e in tools.expected_events(journals)]
    assert sorted(receiver.accepted_new) == sorted(expected)
    assert len(receiver.accepted_new) == len(set(receiver.accepted_new))


def test_bad_setting_is_one_line(tmp_path: Path, tools: Any) -> None:
    result = tools.run(tmp_path, "status", url="ftp://example.org")
    assert result.returncode == 2
    _one_clear_line(result.stderr, "bad setting url: Value error, must start with http:// or https://")


def test_missing_url_and_token(journals: Path, tmp_path: Path, tools: Any) -> None:
    result = tools.run(tmp_path, "backfill", journal_dir=journals)
    assert result.returncode == 2
    _one_clear_line(result.stderr, "no server address or token: run `colony-uploader init`")


def test_bad_argument(tmp_path: Path, tools: Any) -> None:
    result = tools.run(tmp_path, "backfill", "--since", "yesterday")
    assert result.returncode == 2
    assert "argument --since: not a date (YYYY-MM-DD): 'yesterday'" in result.stderr
    assert "Traceback" not in result.stderr


def test_dead_letters_show_in_status(journals: Path, tmp_path: Path, tools: Any, receiver: Any) -> None:
    receiver.answer(400, body={"error": {"code": "malformed", "message": "events[3]: bad timestamp"}})
    result = tools.run(tmp_path, "backfill", url=receiver.url, token="good-token", journal_dir=journals,
                       batch_max_events=10)
    # Everything sent, not everything delivered (DESIGN section 2): exit 8, one clear line.
    assert result.returncode == 8, result.stderr
    delivered = len(tools.expected_events(journals)) - 10
    _one_clear_line(result.stderr, f"backfill done, but the server refused 10 event(s) as invalid "
                                   f"({delivered} delivered): they are kept as dead letters; "
                                   "`colony-uploader status` shows the server's message, and "
                                   "`colony-uploader resend` queues them again once the bot takes "
                                   "them")  # fmt: skip
    status = tools.run(tmp_path, "status", journal_dir=journals)
    assert status.returncode == 0
    assert "dead letters: 1 batch(es), 10 event(s)" in status.stdout
    assert "400 malformed: events[3]: bad timestamp" in status.stdout
    assert "the bot takes them (upgraded, fixed): `colony-uploader resend` queues them again" in status.stdout
    assert "files tracked: 1" in status.stdout
    assert "events queued: 0 " in status.stdout
    assert len(receiver.accepted_new) == len(tools.expected_events(journals)) - 10


def test_resend_queues_the_dead_letters_again(
    journals: Path, tmp_path: Path, tools: Any, receiver: Any
) -> None:
    """Once the bot takes what it refused (upgraded, fixed), `resend` puts the dead letters back in
    the queue and the next backfill delivers them: nothing refused once is lost for good."""
    nothing = tools.run(tmp_path, "resend", journal_dir=journals)
    assert (nothing.returncode, nothing.stdout) == (0, "no dead letters: no outbox yet\n")
    receiver.answer(422, body={"error": {"code": "invalid", "message": "events[0].kind: unknown"}})
    result = tools.run(tmp_path, "backfill", url=receiver.url, token="good-token", journal_dir=journals,
                       batch_max_events=10)
    assert result.returncode == 8, result.stderr
    expected = tools.expected_events(journals)
    assert len(receiver.accepted_new) == len(expected) - 10
    resend = tools.run(tmp_path, "resend", journal_dir=journals)
    assert resend.returncode == 0, resend.stderr
    assert resend.stdout.startswith("10 event(s) in 1 dead letter(s) queued again; ")
    status = tools.run(tmp_path, "status", journal_dir=journals)
    assert "dead letters: 0 batch(es), 0 event(s)" in status.stdout
    assert "events queued: 10 (1 batch(es) waiting)" in status.stdout
    again = tools.run(tmp_path, "backfill", url=receiver.url, token="good-token", journal_dir=journals)
    assert again.returncode == 0, again.stderr
    assert sorted(receiver.accepted_new) == sorted(e.id for e in expected)
    assert len(set(receiver.accepted_new)) == len(expected)
    # Sent as a new batch: a bot that remembered the refused batch's id must not answer from memory.
    refused_id = receiver.requests[0].batch_id
    assert receiver.requests[-1].batch_id != refused_id
    assert sorted(receiver.requests[-1].event_ids) == sorted(receiver.requests[0].event_ids)
    empty = tools.run(tmp_path, "resend", journal_dir=journals)
    assert (empty.returncode, empty.stdout) == (0, "no dead letters to send again\n")


def test_status_before_anything_ran(tmp_path: Path, tools: Any) -> None:
    result = tools.run(tmp_path, "status", journal_dir=tmp_path)
    assert result.returncode == 0
    assert f"journal folder: {tmp_path} (configured)\n" in result.stdout
    assert "nothing tracked yet" in result.stdout


def test_status_says_once_that_no_journal_folder_was_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from io import StringIO

    from uploader.cli import _status

    monkeypatch.setenv("HOME", str(tmp_path))  # no Steam, no game here
    out = StringIO()
    settings = Settings(state_dir=tmp_path / "state", _env_file=None)  # type: ignore[call-arg]
    assert _status(settings, out) == 0
    assert out.getvalue().splitlines()[0] == "journal folder: not found"


def test_doctor_all_good_and_bad_token(journals: Path, tmp_path: Path, tools: Any, receiver: Any) -> None:
    good = tools.run(tmp_path, "doctor", url=receiver.url, token="good-token", journal_dir=journals)
    assert good.returncode == 0, good.stdout
    assert f"[ok] journal folder {journals} (configured): 1 journal(s), newest {JUNE}" in good.stdout
    assert "[ok] token accepted (guild_id 1, user_id 2, label test)" in good.stdout
    assert good.stdout.rstrip().endswith("all good")
    bad = tools.run(tmp_path, "doctor", url=receiver.url, token="nope", journal_dir=journals)
    assert bad.returncode == 3
    assert "[FIX] the server refused the token (401 unauthorized: bad token)" in bad.stdout
    receiver.stop()
    down = tools.run(tmp_path, "doctor", url=receiver.url, token="good-token", journal_dir=journals)
    assert down.returncode == 4
    assert f"[FIX] cannot reach the server at {receiver.url}" in down.stdout


def test_init_writes_a_private_config_that_settings_read(tmp_path: Path, tools: Any) -> None:
    config = tmp_path / "cfg" / "config.toml"
    result = tools.run(tmp_path, "--config", str(config), "init", stdin="http://bot.example:8750/\nsecret-tok\n")
    assert result.returncode == 0, result.stderr
    assert f"wrote {config}" in result.stdout
    assert "secret-tok" not in result.stdout + result.stderr
    if os.name == "posix":
        assert config.stat().st_mode & 0o777 == 0o600
    settings = Settings(config_file=config)
    assert settings.url == "http://bot.example:8750"
    assert settings.token is not None
    assert settings.token.get_secret_value() == "secret-tok"
    bad = tools.run(tmp_path, "--config", str(config), "init", "--url", "bot.example", "--token", "t")
    assert bad.returncode == 2
    _one_clear_line(bad.stderr, "bad setting url")
    assert Settings(config_file=config).url == "http://bot.example:8750"  # the good file is untouched
    # Run again for a new token (the fix for a refused one): Enter keeps the address it has.
    again = tools.run(tmp_path, "--config", str(config), "init", stdin="\nnew-tok\n")
    assert again.returncode == 0, again.stderr
    assert "Bot address [http://bot.example:8750]: " in again.stderr
    renewed = Settings(config_file=config)
    assert renewed.url == "http://bot.example:8750"
    assert renewed.token is not None
    assert renewed.token.get_secret_value() == "new-tok"


def test_init_refuses_blank_answers_and_stores_an_absolute_journal_folder(tmp_path: Path, tools: Any) -> None:
    config = tmp_path / "cfg" / "config.toml"
    blank_token = tools.run(tmp_path, "--config", str(config), "init", stdin="http://bot.example:8750\n\n")
    # (The prompts go to stderr, on the error's line when stdin is not a terminal.)
    assert blank_token.returncode == 2
    assert blank_token.stderr.endswith("colony-uploader: error: no token given (did the paste take?): "
                                       "nothing written\n"), blank_token.stderr
    blank_url = tools.run(tmp_path, "--config", str(config), "init", stdin="\nsecret-tok\n")
    assert blank_url.returncode == 2
    assert blank_url.stderr.endswith("colony-uploader: error: no bot address given: nothing written\n")
    assert not config.exists()
    # A leftover temporary file (an earlier init killed mid-write) does not lend the config its mode.
    config.parent.mkdir()
    (config.parent / "config.tmp").write_text("old", encoding="utf-8")
    (config.parent / "config.tmp").chmod(0o644)
    (tmp_path / "jr").mkdir()
    done = tools.run(tmp_path, "--config", str(config), "init", "--url", "http://bot.example:8750",
                     "--token", "secret-tok", "--journal-dir", "jr")
    assert done.returncode == 0, done.stderr
    if os.name == "posix":
        assert config.stat().st_mode & 0o777 == 0o600
    # Stored absolute: the service starts in another folder than the shell that ran init.
    assert Settings(config_file=config).journal_dir == tmp_path / "jr"


def test_a_config_file_that_is_not_toml_is_exit_2_naming_the_file(tmp_path: Path, tools: Any) -> None:
    config = tmp_path / "config.toml"
    # As a Windows user types a path (TOML takes backslashes only in single quotes).
    config.write_text('journal_dir = "D:\\Games\\Journals"\n', encoding="utf-8")
    for command in ("status", "doctor", "init", "run"):
        result = tools.run(tmp_path, "--config", str(config), command)
        assert result.returncode == 2, (command, result.stderr)
        _one_clear_line(result.stderr, f"cannot read the config file {config}: Unescaped")
        assert "a Windows path goes in single quotes" in result.stderr
    missing = tools.run(tmp_path, "--config", str(tmp_path / "typo.toml"), "status")
    assert missing.returncode == 2
    _one_clear_line(missing.stderr, f"no config file at {tmp_path / 'typo.toml'} (--config)")
    config.write_bytes(b'\xef\xbb\xbfurl = "http://bot.example:8750"\n')  # Notepad's BOM
    result = tools.run(tmp_path, "--config", str(config), "status")
    assert result.returncode == 2
    _one_clear_line(result.stderr, "save it as UTF-8 without a byte order mark (BOM)")


@contextmanager
def _web_page_server() -> Iterator[str]:
    """A web server that answers every request with 200 and a page: not the bot."""

    class Page(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return

        def _page(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            body = b"<html><body>It works!</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._page()

        def do_POST(self) -> None:
            self._page()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_web_server_that_is_not_the_bot_is_not_taken_for_it(
    journals: Path, tmp_path: Path, tools: Any
) -> None:
    """A wrong address where some web server answers 200 to everything: doctor says so, and a
    backfill keeps every event (its batches were taken as delivered and deleted, unsent)."""
    with _web_page_server() as url:
        doctor = tools.run(tmp_path, "doctor", url=url, token="good-token", journal_dir=journals)
        assert doctor.returncode == 4, doctor.stdout
        assert "answers, but not as the bot does" in doctor.stdout
        assert "all good" not in doctor.stdout
        backfill = tools.run(tmp_path, "backfill", url=url, token="good-token", journal_dir=journals,
                             give_up_after=1, backoff_base=0.05, backoff_cap=0.1)
    assert backfill.returncode == 4, backfill.stderr
    assert "without the bot's counts" in backfill.stderr
    assert _pending(tmp_path) == len(tools.expected_events(journals))


def test_sigterm_stops_run_cleanly(journals: Path, tmp_path: Path, tools: Any, receiver: Any) -> None:
    n = len(tools.expected_events(journals))
    with _polling_run(tools, tmp_path, receiver, journals) as process:
        receiver.wait_for(lambda: len(receiver.accepted_new) == n, 60.0)
        stderr = _stop(process)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    # The stop may land between the server's answer and the outbox delete: then that batch is
    # re-sent (same batch_id) by the next run and the receiver counts it as duplicates only.
    assert re.search(r"colony-uploader: stopped; \d+ event\(s\) delivered this run", stderr), stderr
    after = tools.run(tmp_path, "backfill", url=receiver.url, token="good-token", journal_dir=journals)
    assert after.returncode == 0, after.stderr
    assert sorted(receiver.accepted_new) == sorted(e.id for e in tools.expected_events(journals))


def test_python_m_and_version(tmp_path: Path, tools: Any) -> None:
    result = tools.run(tmp_path, "--version")
    assert result.returncode == 0
    assert result.stdout.strip().startswith("colony-uploader ")
    helptext = tools.run(tmp_path, "--help")
    assert helptext.returncode == 0
    for command in ("run", "backfill", "status", "doctor", "init"):
        assert command in helptext.stdout


def test_progress_bar_and_plain_line_show_bytes_and_events() -> None:
    import io

    from uploader.cli import ProgressDisplay
    from uploader.runner import Progress

    display = ProgressDisplay(None, io.StringIO(), tty=True)  # type: ignore[arg-type]  # rendering only
    p = Progress(bytes_total=2_000_000, bytes_read=1_000_000, events_queued=10, events_delivered=5)
    assert display.line(p) == "1.0 MB of 2.0 MB read, 10 events queued, 5 delivered"
    assert display.bar(p, width=10) == f"\r[#####.....]  50% {display.line(p)}  "
    assert display.bar(Progress(), width=4).startswith("\r[####] 100% ")


@pytest.mark.parametrize("reader", READERS)
def test_sigint_during_a_backfill_stops_it_and_the_next_run_resumes(
    samples: Path, tmp_path: Path, tools: Any, receiver: Any, reader: str
) -> None:
    folder = tools.copy_samples(samples, tmp_path / "journals", (JUNE, APRIL))
    env = tools.env(tmp_path, url=receiver.url, token="good-token", journal_dir=folder, batch_max_events=5,
                    backfill_reader=reader)
    process = subprocess.Popen(tools.command("backfill"), env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)

    def interrupt(_received: Any) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)

    receiver.on_batch = interrupt
    try:
        _, stderr = process.communicate(timeout=60)
    finally:
        receiver.on_batch = None
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, stderr
    _one_clear_line(stderr, "interrupted; ")
    assert "event(s) kept in the outbox for next time" in stderr
    expected = [e.id for e in tools.expected_events(folder)]
    assert len(receiver.accepted_new) < len(expected)
    after = tools.run(tmp_path, "backfill", url=receiver.url, token="good-token", journal_dir=folder)
    assert after.returncode == 0, after.stderr
    assert receiver.accepted_new == expected


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads CPU time from /proc")
@pytest.mark.parametrize("mode", [(), ("--poll",)], ids=["watchdog", "poll"])
def test_idle_run_uses_no_measurable_cpu(journals: Path, tmp_path: Path, tools: Any, receiver: Any,
                                         mode: tuple[str, ...]) -> None:
    def cpu_seconds(pid: int) -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    n = len(tools.expected_events(journals))
    process = subprocess.Popen(tools.command("run", *mode), env=tools.env(
        tmp_path, url=receiver.url, token="good-token", journal_dir=journals),
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        receiver.wait_for(lambda: len(receiver.accepted_new) == n, 60.0)
        before = cpu_seconds(process.pid)
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=3.0)  # it must keep running, idle
        used = cpu_seconds(process.pid) - before
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert used < 0.3, f"{used:.2f} s of CPU in 3 s of idling"


def test_a_second_uploader_on_the_same_state_folder_is_refused(
    journals: Path, tmp_path: Path, tools: Any, receiver: Any
) -> None:
    n = len(tools.expected_events(journals))
    with _polling_run(tools, tmp_path, receiver, journals) as first:
        receiver.wait_for(lambda: len(receiver.accepted_new) == n, 60.0)
        second = tools.run(tmp_path, "backfill", url=receiver.url, token="good-token", journal_dir=journals)
        assert second.returncode == 7
        _one_clear_line(second.stderr, f"another uploader (pid {first.pid}, run) is already using "
                        f"{tmp_path / 'state'}; stop it first")
        assert _pending(tmp_path) == 0  # the second one queued nothing
        assert len(receiver.accepted_new) == n  # and sent nothing
    # Leaving the `with` killed the first one, not stopped cleanly: its lock must not outlive it.
    assert first.returncode == -signal.SIGKILL
    after = tools.run(tmp_path, "backfill", url=receiver.url, token="good-token", journal_dir=journals)
    assert after.returncode == 0, after.stderr
    assert "backfill complete: 0 event(s) delivered" in after.stderr


def test_a_lock_file_that_cannot_be_made_is_one_clear_error(
    journals: Path, tmp_path: Path, tools: Any, receiver: Any
) -> None:
    (tmp_path / "state" / "uploader.lock").mkdir(parents=True)  # in the way, whoever runs the test
    result = tools.run(tmp_path, "backfill", url=receiver.url, token="good-token", journal_dir=journals)
    assert result.returncode == 6
    _one_clear_line(result.stderr, f"cannot create the lock file {tmp_path / 'state' / 'uploader.lock'}: ")
    assert receiver.requests == []
    assert not (tmp_path / "state" / "outbox.sqlite3").exists()  # nothing was started


def _long_journal(folder: Path, jumps: int) -> Path:
    """One journal of `jumps` FSDJump lines of about 1 KB each: several of the reader's 1 MiB chunks."""
    folder.mkdir(parents=True)
    lines = [
        '{ "timestamp":"2025-04-08T20:00:00Z", "event":"Fileheader", "part":1, "gameversion":"4.1" }',
        '{ "timestamp":"2025-04-08T20:00:01Z", "event":"Commander", "FID":"F1", "Name":"Filler" }',
    ]
    pad = "x" * 900  # a field we do not send: only the line's size matters here
    for n in range(jumps):
        stamp = f"2025-04-08T{20 + n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z"
        lines.append(f'{{ "timestamp":"{stamp}", "event":"FSDJump", "StarSystem":"System {n}", '
                     f'"SystemAddress":{1000 + n}, "Padding":"{pad}" }}')
    (folder / "Journal.2025-04-08T200000.01.log").write_text("\n".join(lines) + "\n")
    return folder


@pytest.mark.parametrize("reader", READERS)
def test_a_backfill_sends_full_batches_while_its_reader_reads(
    tmp_path: Path, tools: Any, receiver: Any, reader: str
) -> None:
    folder = _long_journal(tmp_path / "journals", 6000)  # about 6 chunks of 1,000 events
    result = tools.run(tmp_path, "backfill", url=receiver.url, token="good-token", journal_dir=folder,
                       backfill_reader=reader, batch_max_events=2500, batch_max_bytes=64 * 1024 * 1024)
    assert result.returncode == 0, result.stderr
    sizes = [len(r.event_ids) for r in receiver.requests]
    assert sum(sizes) == 6001  # the jumps and the Commander line
    # Not one request per chunk read: full batches, the rest once the reader is done. (A reader
    # stalled for longer than the sender's linger would let a part go early: not here.)
    assert sizes == [2500, 2500, 1001], sizes


async def test_a_sender_that_dies_while_run_catches_up_ends_the_run_with_its_error(
    tmp_path: Path, receiver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader waits on a full outbox for the sender to drain it: were the sender's death not
    noticed, `run` would hang there for good, its error never said (the service looks alive)."""
    folder = _long_journal(tmp_path / "journals", 9000)  # over 8 MiB: caught up in a reader process
    settings = Settings(
        url=receiver.url,
        token="good-token",
        journal_dir=folder,
        state_dir=tmp_path / "state",
        config_file=tmp_path / "none.toml",
        outbox_max_events=1500,
        backfill_reader="spawn",  # this process runs threads (the receiver): no fork
        _env_file=None,  # type: ignore[call-arg]
    )

    async def broken(self: Sender) -> Step:
        raise RuntimeError("a bug in the sender")

    monkeypatch.setattr(Sender, "step", broken)
    run = Runner(settings, folder).run(asyncio.Event(), backfill=False, use_watchdog=False)
    with pytest.raises(RuntimeError, match="a bug in the sender"):
        await asyncio.wait_for(run, 60)
    assert receiver.requests == []


@pytest.mark.parametrize("reader", READERS)
def test_run_catches_up_a_long_backlog_in_a_reader_then_follows_live(
    tmp_path: Path, tools: Any, receiver: Any, reader: str
) -> None:
    folder = _long_journal(tmp_path / "journals", 9000)  # over 8 MiB: read as backfill reads
    journal = folder / "Journal.2025-04-08T200000.01.log"
    with _polling_run(tools, tmp_path, receiver, folder, backfill_reader=reader) as process:
        receiver.wait_for(lambda: len(receiver.accepted_new) == 9001, 60.0)
        # Then live: lines the game writes now are read from where the catch-up stopped.
        with journal.open("a") as f:
            f.write('{ "timestamp":"2025-04-08T23:00:00Z", "event":"FSDJump", "StarSystem":"Late", '
                    '"SystemAddress":99 }\n')
        receiver.wait_for(lambda: len(receiver.accepted_new) == 9002, 60.0)
        stderr = _stop(process)
    assert process.returncode == 0, stderr
    assert len(set(receiver.accepted_new)) == 9002
    assert sum(len(r.event_ids) for r in receiver.requests) == 9002  # none sent twice
    if reader == "thread":
        assert "catching up" not in stderr  # the setting keeps everything in one process
    else:
        assert "catching up 9 MB of journals in a reader process" in stderr
        assert "caught up: 9001 event(s) read" in stderr
        # Full batches while it read, not one per chunk.
        assert [len(r.event_ids) for r in receiver.requests[:4]] == [2000] * 4
    assert "another reader moved on" not in stderr  # the live tailer took over the reader's offsets
