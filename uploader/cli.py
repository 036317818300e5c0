"""`colony-uploader run | backfill [--since DATE] | status | resend | doctor | init`
(also `python -m uploader`).

A thin edge: parse arguments, build the Settings once, set up logging, call the runner. Every
failure a user can meet ends in one clear line on stderr and an exit code (runner.ExitCode), never
a traceback; the traceback of an unexpected error goes to the log file only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import logging.handlers
import os
import signal
import sys
import time
import tomllib
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO

import httpx
from pydantic import ValidationError

from uploader import __version__
from uploader.http_clients import sync_client
from uploader.instance import AlreadyRunningError, InstanceLock
from uploader.journal.files import list_journals
from uploader.locate import Located, locate, windows_saved_games
from uploader.outbox import Outbox, OutboxError
from uploader.runner import ExitCode, Progress, Runner, UploadError, outbox_failure
from uploader.sender import error_message, json_object
from uploader.settings import Settings, config_file_path

logger = logging.getLogger(__name__)
_SWITCH_INTERVAL = 0.0005  # seconds; see main()

PROG = "colony-uploader"


# --- arguments -----------------------------------------------------------------------------------


def _since(value: str) -> datetime:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None
        return when if when.tzinfo else when.replace(tzinfo=UTC)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse's own exit code is 2 as well: keep it, one line
        self.print_usage(sys.stderr)
        self.exit(int(ExitCode.CONFIG), f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Send your journals to your squadron's ED Colony bot.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument("--config", type=Path, help="TOML config file (default: per-user config folder)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    run = commands.add_parser("run", help="send the history not yet sent, then tail live until stopped")
    run.add_argument("--poll", action="store_true", help="never use file-system events (network drives, WSL)")
    backfill = commands.add_parser("backfill", help="send the history and exit once every event is delivered")
    backfill.add_argument("--since", type=_since, metavar="DATE",
                          help="leave out journals started before DATE (remembered by later runs)")
    backfill.add_argument("--poll", action="store_true", help=argparse.SUPPRESS)
    commands.add_parser("status", help="files tracked, events queued, last success and error, dead letters")
    commands.add_parser("resend", help="queue the dead letters again (after the bot was upgraded or fixed)")
    commands.add_parser("doctor", help="check the journal folder, the server and the token")
    init = commands.add_parser("init", help="write the config file (asks for the server address and token)")
    init.add_argument("--url", help="the bot's address (else asked)")
    init.add_argument("--token", help="your uploader token (else asked, hidden)")
    init.add_argument("--journal-dir", type=Path, help="the journal folder, if not detected")
    return parser


# --- logging -------------------------------------------------------------------------------------


class _OneLineFormatter(logging.Formatter):
    """For the terminal: the message only, no traceback (that goes to the log file)."""

    def format(self, record: logging.LogRecord) -> str:
        record = logging.makeLogRecord(record.__dict__)
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return super().format(record)


def setup_logging(settings: Settings, *, quiet_console: bool, verbose: bool) -> None:
    # A log write that fails (full disk) must not print a traceback nor stop the program.
    logging.raiseExceptions = False
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else settings.log_level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(_OneLineFormatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    console.setLevel(logging.WARNING if quiet_console else logging.DEBUG)
    root.addHandler(console)
    try:
        settings.log_dir.mkdir(parents=True, exist_ok=True)
        file_handler = logging.handlers.RotatingFileHandler(
            settings.log_dir / "uploader.log", maxBytes=2 * 1024 * 1024, backupCount=3, encoding="utf-8"
        )
    except OSError as exc:
        logger.warning("no log file (%s); logging to the terminal only", exc)
    else:
        file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(file_handler)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("watchdog").setLevel(logging.WARNING)


# --- helpers -------------------------------------------------------------------------------------


def _fail(message: str) -> None:
    sys.stderr.write(f"{PROG}: error: {message}\n")


def _locate(settings: Settings) -> Located:
    return locate(settings.journal_dir, Path.home(), os.environ, sys.platform, windows_saved_games())


def _journal_dir_or_fail(settings: Settings) -> Path:
    found = _locate(settings)
    if found.path is None:
        looked = "; ".join(str(p) for p in found.candidates[:4]) or "nowhere"
        raise UploadError(ExitCode.NO_JOURNALS, f"no journal folder found (looked in: {looked}); "
                          "set COLONY_UPLOADER_JOURNAL_DIR to the folder holding Journal.*.log")
    return found.path


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "never"
    moment = datetime.fromtimestamp(epoch, UTC)
    ago = max(time.time() - epoch, 0)
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC ({_ago(ago)} ago)"


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


class ProgressDisplay:
    """A progress bar (bytes and events) on a terminal; a plain log line now and then otherwise."""

    def __init__(self, runner: Runner, stream: TextIO, *, tty: bool, every: float = 5.0) -> None:
        self._runner = runner
        self._stream = stream
        self._tty = tty
        self._every = every
        self._shown = False

    def line(self, p: Progress) -> str:
        return (f"{_mb(p.bytes_read)} of {_mb(p.bytes_total)} read, {p.events_queued} events queued, "
                f"{p.events_delivered} delivered")

    def bar(self, p: Progress, width: int = 28) -> str:
        share = p.bytes_read / p.bytes_total if p.bytes_total else 1.0
        filled = int(share * width)
        return f"\r[{'#' * filled}{'.' * (width - filled)}] {share:4.0%} {self.line(p)}  "

    async def run(self, stop: asyncio.Event) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            if not self._tty:  # the first line once there is something to say
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._every)
            while not stop.is_set():
                p = self._runner.snapshot()
                if self._tty:
                    self._stream.write(self.bar(p))
                    self._stream.flush()
                    self._shown = True
                else:
                    logger.info("backfill: %s", self.line(p))
                interval = 0.25 if self._tty else self._every
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval)

    def finish(self) -> None:
        if self._tty and self._shown:
            self._stream.write(self.bar(self._runner.snapshot()) + "\n")
            self._stream.flush()


def _install_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # Windows: no loop signal handlers
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))


# --- commands ------------------------------------------------------------------------------------


async def _upload(settings: Settings, *, backfill: bool, since: datetime | None, poll: bool) -> int:
    journal_dir = _journal_dir_or_fail(settings)
    lock = InstanceLock(settings.state_dir)
    try:
        lock.acquire("backfill" if backfill else "run")
    except AlreadyRunningError as exc:
        raise UploadError(ExitCode.ALREADY_RUNNING, str(exc)) from None
    except OSError as exc:
        raise UploadError(ExitCode.OUTBOX, f"cannot create the lock file {lock.path}: {exc}") from exc
    with lock:
        return await _upload_locked(settings, journal_dir, backfill=backfill, since=since, poll=poll)


async def _upload_locked(
    settings: Settings, journal_dir: Path, *, backfill: bool, since: datetime | None, poll: bool
) -> int:
    runner = Runner(settings, journal_dir, since=since)
    stop = asyncio.Event()
    _install_signals(stop)
    tty = sys.stderr.isatty()
    display = ProgressDisplay(runner, sys.stderr, tty=tty)
    display_stop = asyncio.Event()
    display_task = asyncio.create_task(display.run(display_stop)) if backfill else None
    logger.info("%s %s: journals in %s, sending to %s", "backfill" if backfill else "run", __version__,
                journal_dir, settings.url)
    try:
        summary = await runner.run(stop, backfill=backfill, use_watchdog=not (poll or settings.poll_only))
    finally:
        display_stop.set()
        if display_task is not None:
            await display_task
            display.finish()
    sys.stderr.write(f"{PROG}: {summary}\n")
    return int(ExitCode.OK)


def _status(settings: Settings, out: TextIO) -> int:
    found = _locate(settings)
    where = f"{found.path} ({found.how})" if found.path is not None else "not found"
    out.write(f"journal folder: {where}\n")
    out.write(f"server: {settings.url or 'not set'}\n")
    out.write(f"outbox: {settings.outbox_path}\n")
    if not settings.outbox_path.exists():
        out.write("nothing tracked yet: no outbox (run `colony-uploader run` or `backfill`)\n")
        return int(ExitCode.OK)
    with Outbox(settings.outbox_path) as outbox:
        stats = outbox.stats()
        letters = outbox.dead_letters(5)
    out.write(f"files tracked: {stats.files}\n")
    out.write(f"events queued: {stats.pending_events} ({stats.batches} batch(es) waiting)\n")
    out.write(f"last success: {_when(stats.last_success_at)}\n")
    if stats.last_error:
        out.write(f"last error: {stats.last_error} ({_when(stats.last_error_at)})\n")
    else:
        out.write("last error: none\n")
    if stats.token_refused:
        out.write(f"TOKEN REFUSED: {stats.token_refused}\n")
    out.write(f"dead letters: {stats.dead_letters} batch(es), {stats.dead_letter_events} event(s)\n")
    for letter in letters:
        out.write(f"  {letter.batch_id} ({letter.n_events} events, {_when(letter.created_at)}): "
                  f"{letter.reason}\n")
    if letters:
        out.write(f"  once the bot takes them (upgraded, fixed): `{PROG} resend` queues them again\n")
    return int(ExitCode.TOKEN_REFUSED if stats.token_refused else ExitCode.OK)


def _resend(settings: Settings, out: TextIO) -> int:
    """Dead letters back into the queue; `run` or `backfill` sends them (a running one within 30 s)."""
    if not settings.outbox_path.exists():
        out.write("no dead letters: no outbox yet\n")
        return int(ExitCode.OK)
    with Outbox(settings.outbox_path) as outbox:
        batches, events = outbox.requeue_dead_letters(__version__)
    if not batches:
        out.write("no dead letters to send again\n")
    else:
        logger.info("%d dead letter(s), %d event(s), queued again", batches, events)
        out.write(f"{events} event(s) in {batches} dead letter(s) queued again; a running uploader sends "
                  "them within 30 s, else the next `colony-uploader run` or `backfill`\n")
    return int(ExitCode.OK)


def _doctor(settings: Settings, out: TextIO) -> int:
    problems: list[ExitCode] = []

    def say(ok: bool, text: str, fix: str = "", code: ExitCode = ExitCode.ERROR) -> None:
        out.write(f"[{'ok' if ok else 'FIX'}] {text}\n")
        if not ok:
            if fix:
                out.write(f"      fix: {fix}\n")
            problems.append(code)

    found = _locate(settings)
    if found.path is None:
        looked = "".join(f"\n        {p}" for p in found.candidates)
        say(False, f"journal folder not found; looked in:{looked}",
            "set COLONY_UPLOADER_JOURNAL_DIR (or journal_dir in the config file)", ExitCode.NO_JOURNALS)
    elif not found.path.is_dir():
        say(False, f"journal folder {found.path} ({found.how}) does not exist",
            "check COLONY_UPLOADER_JOURNAL_DIR; `run` waits for it to appear", ExitCode.NO_JOURNALS)
    else:
        journals = list_journals(found.path)
        newest = f", newest {journals[-1].name}" if journals else ""
        say(True, f"journal folder {found.path} ({found.how}): {len(journals)} journal(s){newest}")
    try:
        with Outbox(settings.outbox_path) as outbox:
            outbox.put("doctor_checked_at", repr(time.time()))
        say(True, f"state folder {settings.state_dir} is writable")
    except OutboxError as exc:
        say(False, str(exc), "free disk space or set COLONY_UPLOADER_STATE_DIR", ExitCode.OUTBOX)
    if settings.url is None:
        say(False, "no server address", "run `colony-uploader init` or set COLONY_UPLOADER_URL",
            ExitCode.CONFIG)
    else:
        with sync_client(settings.url, timeout=min(settings.http_timeout, 10.0)) as client:
            try:
                health = client.get(settings.url + "/api/v1/health")
            except httpx.HTTPError as exc:
                say(False, f"cannot reach the server at {settings.url}: {exc or type(exc).__name__}",
                    _unreachable_fix(exc), ExitCode.UNREACHABLE)
            else:
                reached = health.status_code == 200 and (json_object(health) or {}).get("status") == "ok"
                if health.status_code != 200:
                    answer = f" {error_message(health)}"
                elif not reached:  # a web server, a proxy's page: not the bot
                    answer = ", but not as the bot does (no {\"status\": \"ok\"} at /api/v1/health)"
                else:
                    answer = ""
                say(reached, f"server {settings.url} answers{answer}", _answer_fix(health),
                    ExitCode.UNREACHABLE)
                if reached:
                    _doctor_token(settings, settings.url, client, say)
    if problems:
        out.write(f"{len(problems)} thing(s) to fix\n")
        return int(problems[0])
    out.write("all good\n")
    return int(ExitCode.OK)


def _unreachable_fix(exc: httpx.HTTPError) -> str:
    if "CERTIFICATE_VERIFY_FAILED" in str(exc) or "SSL" in type(exc).__name__:
        return ("check this PC's date and time (a wrong clock fails every certificate); a server with "
                "a self-signed certificate needs SSL_CERT_FILE pointing at it")
    return "check the address and that the bot is running"


def _answer_fix(health: httpx.Response) -> str:
    """What to do about an answer at /api/v1/health that is not the bot's."""
    if health.status_code >= 500:  # a proxy (Caddy) whose bot behind it does not answer
        return "the address is answered, but not by the bot: it is down or restarting (ask the operator)"
    if health.is_redirect:
        return "use the address the server sends to (see above)"
    if "html" in health.headers.get("Content-Type", ""):
        return ("check the address (the bot's base address, without /api), or open a web page first "
                "if this network has a login page (hotel, airport Wi-Fi)")
    return "check the address (it is the bot's base address, without /api)"


def _doctor_token(settings: Settings, url: str, client: httpx.Client, say: Any) -> None:
    if settings.token is None:
        say(False, "no token", "ask the bot for one (/colony link) and run `colony-uploader init`",
            ExitCode.CONFIG)
        return
    try:
        who = client.get(url + "/api/v1/whoami",
                         headers={"Authorization": f"Bearer {settings.token.get_secret_value()}"})
    except httpx.HTTPError as exc:
        say(False, f"cannot check the token: {exc or type(exc).__name__}", "", ExitCode.UNREACHABLE)
        return
    data = json_object(who) or {}  # the bot's answer names the guild; a web page's does not
    if who.status_code in (401, 403):
        say(False, f"the server refused the token ({error_message(who)})",
            "ask the bot for a new token (/colony link) and run `colony-uploader init`",
            ExitCode.TOKEN_REFUSED)
    elif who.status_code == 200 and data.get("guild_id") is not None:
        detail = ", ".join(f"{k} {data[k]}" for k in ("guild_id", "user_id", "label") if k in data)
        say(True, f"token accepted ({detail})")
    else:
        say(False, f"unexpected answer to the token check: {error_message(who)}", "", ExitCode.UNREACHABLE)


def _ask(prompt: str, *, secret: bool) -> str:
    if sys.stdin.isatty():
        return getpass.getpass(prompt) if secret else input(prompt)
    sys.stderr.write(prompt)
    line = sys.stdin.readline()
    if not line:
        raise UploadError(ExitCode.CONFIG, f"no answer for {prompt.strip()!r} (stdin closed)")
    return line.strip()


def _init(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    import tomli_w

    # Run again for a new token (the guide's fix for a refused one), Enter keeps the address.
    known = settings.url
    prompt = f"Bot address [{known}]: " if known else "Bot address (e.g. https://colony.example.org): "
    url = args.url or _ask(prompt, secret=False).strip() or known or ""
    if not url:
        raise UploadError(ExitCode.CONFIG, "no bot address given: nothing written")
    token = args.token or _ask("Uploader token (from /colony link, hidden): ", secret=True).strip()
    if not token:
        raise UploadError(ExitCode.CONFIG, "no token given (did the paste take?): nothing written")
    try:
        checked = Settings(url=url, token=token, config_file=settings.config_file,
                           journal_dir=args.journal_dir or settings.journal_dir)
    except ValidationError as exc:
        raise UploadError(ExitCode.CONFIG, _validation_message(exc)) from exc
    path = settings.config_file
    document: dict[str, Any] = {}
    if path.exists():
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise UploadError(ExitCode.CONFIG, f"cannot read the existing config {path}: {exc}") from exc
    document["url"] = checked.url
    assert checked.token is not None
    document["token"] = checked.token.get_secret_value()
    if args.journal_dir:
        # Absolute: the service starts in another folder than this shell.
        document["journal_dir"] = str(args.journal_dir.expanduser().absolute())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        # Created private (0600): it holds the token. A leftover would keep its own mode.
        temporary.unlink(missing_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with open(fd, "w", encoding="utf-8") as f:
            f.write(tomli_w.dumps(document))
        os.replace(temporary, path)
    except OSError as exc:
        raise UploadError(ExitCode.OUTBOX, f"cannot write the config file {path}: {exc}") from exc
    out.write(f"wrote {path}\nnext: `{PROG} doctor` to check, then `{PROG} run`\n")
    return int(ExitCode.OK)


def _unreadable_config(path: Path, exc: Exception) -> str:
    """One line naming the config file and what is wrong with it, with the usual cause's fix."""
    text = f"cannot read the config file {path}: {exc}"
    if "Unescaped '\\'" in str(exc):
        text += "; a Windows path goes in single quotes in TOML ('D:\\Games\\Journals')"
    else:
        try:
            if path.read_bytes().startswith(b"\xef\xbb\xbf"):
                text += "; save it as UTF-8 without a byte order mark (BOM)"
        except OSError:
            pass
    return text


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(x) for x in error["loc"]) or "settings"
        parts.append(f"{where}: {error['msg']}")
    return "bad setting " + "; ".join(parts)


# --- entry point ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Until the settings are known: one-line messages on stderr, never a traceback.
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(_OneLineFormatter("%(levelname)s %(message)s"))
    logging.getLogger().addHandler(console)
    try:
        overrides: dict[str, Any] = {}
        if args.config is not None:
            overrides["config_file"] = args.config
            # Named on purpose: a file that is not there is a mistake, not "use the defaults"
            # (`init` is what writes it). The environment's COLONY_UPLOADER_CONFIG_FILE naming a
            # file that is not there means no config file: how services and tests run on the
            # environment alone.
            if args.command != "init" and not args.config.expanduser().is_file():
                raise UploadError(ExitCode.CONFIG, f"no config file at {args.config} (--config); "
                                  f"`{PROG} --config {args.config} init` writes one")
        try:
            settings = Settings(**overrides)
        except ValidationError as exc:
            raise UploadError(ExitCode.CONFIG, _validation_message(exc)) from exc
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            path = config_file_path(args.config)
            raise UploadError(ExitCode.CONFIG, _unreadable_config(path, exc)) from exc
        # A backfill's progress bar owns the terminal line: only warnings print beside it.
        quiet = args.command == "backfill" and sys.stderr.isatty()
        setup_logging(settings, quiet_console=quiet, verbose=args.verbose)
        if args.command == "status":
            return _status(settings, sys.stdout)
        if args.command == "resend":
            return _resend(settings, sys.stdout)
        if args.command == "doctor":
            return _doctor(settings, sys.stdout)
        if args.command == "init":
            return _init(settings, args, sys.stdout)
        # The tailer's thread is CPU-bound (reading, normalising); every time the event loop's
        # thread returns from I/O it waits for the GIL for up to the switch interval (5 ms by
        # default), several times per batch sent. 0.5 ms keeps sending in step with reading.
        sys.setswitchinterval(_SWITCH_INTERVAL)
        return asyncio.run(_upload(settings, backfill=args.command == "backfill",
                                   since=getattr(args, "since", None), poll=args.poll))
    except UploadError as exc:
        _fail(exc.message)
        return int(exc.code)
    except OutboxError as exc:
        failure = outbox_failure(exc)
        _fail(failure.message)
        return int(failure.code)
    except KeyboardInterrupt:
        _fail("interrupted")
        return int(ExitCode.INTERRUPTED)
    except Exception as exc:
        logger.exception("unexpected error")
        _fail(f"unexpected error: {type(exc).__name__}: {exc} (details in the log file)")
        return int(ExitCode.ERROR)
