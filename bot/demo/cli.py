"""`colony-bot demo`."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from bot.settings import Settings

if TYPE_CHECKING:
    from bot.cli import Subparsers


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from bot.demo.scenario import DemoOptions, run_demo

    # The demo builds its own settings (temporary database, free port): `settings` is not used.
    del settings
    return asyncio.run(run_demo(DemoOptions(speed=args.speed, keep=args.keep)))


def _speed(text: str) -> float:
    value = float(text)
    if not 10 <= value <= 10_000:
        raise argparse.ArgumentTypeError("between 10 and 10000")
    return value


def add_commands(sub: Subparsers) -> None:
    demo = sub.add_parser(
        "demo", help="a self-contained squadron scenario: generated journals, real uploaders, offline bot"
    )
    demo.add_argument("--speed", type=_speed, default=100.0, help="game seconds per second (default 100)")
    demo.add_argument("--keep", type=Path, help="keep the journals, database and logs in this folder")
    demo.set_defaults(handler=_demo)
