"""`colony-bot` / `python -m bot`."""

from __future__ import annotations

import sys


def main() -> int:
    try:
        import aiohttp  # noqa: F401
        import aiosqlite  # noqa: F401
    except ImportError as exc:
        print(
            f"colony-bot needs the bot's dependencies ({exc.name} is missing): "
            "pip install '.[bot]' in the project's folder",
            file=sys.stderr,
        )
        return 2
    from bot.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
