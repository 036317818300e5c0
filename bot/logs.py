"""Logging set-up for the bot process: stderr, optionally a rotated file; quiet discord.http."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from typing import TextIO

from aiohttp.http_exceptions import HttpProcessingError

from bot.settings import Settings

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def _without_raw_request(record: logging.LogRecord) -> bool:
    """aiohttp logs a request its parser refuses with the offending raw line, which may be an
    Authorization header, token and all: one warning without the request's bytes instead."""
    error = record.exc_info[1] if record.exc_info else None
    if isinstance(error, HttpProcessingError):
        record.msg = "refused a malformed HTTP request (%s, HTTP %s)"
        record.args = (type(error).__name__, error.code)
        record.exc_info = None
        record.exc_text = None
        if record.levelno > logging.WARNING:  # lowered, never raised (aiohttp's DEBUG ones stay)
            record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
    return True


class _Stderr(logging.StreamHandler[TextIO]):
    """Writes to stderr as it is when a record is written, not as it was when the handler was made:
    set up once per process, it must follow a swapped sys.stderr (tests call `main` again and
    again, each capturing stderr) rather than write to a closed one."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def setup_logging(settings: Settings) -> None:
    # Before the "already set up" return below: the filter is what keeps tokens out of the log.
    server = logging.getLogger("aiohttp.server")
    if _without_raw_request not in server.filters:
        server.addFilter(_without_raw_request)
    root = logging.getLogger()
    root.setLevel(settings.log_level)
    if any(getattr(h, "colony", False) for h in root.handlers):
        return  # already set up in this process (tests call `main` more than once)
    formatter = logging.Formatter(FORMAT)
    handlers: list[logging.Handler] = [_Stderr(sys.stderr)]
    if settings.log_file is not None:
        handlers.append(
            logging.handlers.RotatingFileHandler(
                settings.log_file, maxBytes=5 * 1024 * 1024, backupCount=5, encoding="utf-8"
            )
        )
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.colony = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    # discord.py logs every HTTP request at DEBUG/INFO; only problems matter here.
    logging.getLogger("discord.http").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # aiosqlite logs every statement with its parameters at DEBUG: token hashes, whole events.
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
