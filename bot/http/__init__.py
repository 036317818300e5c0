"""The intake and read API (DESIGN section 4): thin aiohttp handlers over the services."""

from bot.http.app import create_app

__all__ = ["create_app"]
