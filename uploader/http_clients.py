"""The HTTP clients that talk to the bot: with this PC's proxies, as a browser would use them.

httpx takes the proxies from the environment (`HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`) and, on
Windows, from the system's settings. Two corrections: a bot on this PC or the local network is
reached directly (Windows' own bypass list, "<local>" and the LAN, never reaches httpx), and proxy
settings httpx cannot use (a SOCKS proxy without the optional socksio package, a `socks4://` one
from Windows' settings) mean connecting directly with a warning, not an uploader that cannot start.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

import httpx

logger = logging.getLogger(__name__)


def _direct(url: str) -> dict[str, None]:
    """No proxy for the bot's host when it is this PC or on the local network."""
    host = httpx.URL(url).host
    if not host:
        return {}
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        local = host == "localhost" or "." not in host  # a bare name: the LAN's, as "<local>"
    else:
        local = address.is_loopback or address.is_private or address.is_link_local
    return {f"all://{host}": None} if local else {}


def _fallback(exc: Exception) -> None:
    logger.warning("this PC's proxy settings cannot be used (%s); connecting to the bot directly", exc)


def async_client(url: str, **options: Any) -> httpx.AsyncClient:
    try:
        return httpx.AsyncClient(mounts=_direct(url), **options)
    except (ImportError, ValueError) as exc:
        _fallback(exc)
        return httpx.AsyncClient(trust_env=False, **options)


def sync_client(url: str, **options: Any) -> httpx.Client:
    try:
        return httpx.Client(mounts=_direct(url), **options)
    except (ImportError, ValueError) as exc:
        _fallback(exc)
        return httpx.Client(trust_env=False, **options)
