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


_LOCAL_NAMES = ("localhost", "localhost.localdomain")


def _direct(url: str) -> dict[str, None]:
    """No proxy for the bot's host when it is this PC or on a network of its own (the LAN, a VPN
    such as Tailscale's 100.64/10: nothing a proxy outside could reach)."""
    try:
        host = httpx.URL(url).host
    except httpx.InvalidURL:
        return {}
    if not host:
        return {}
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        # A bare name is the LAN's, as Windows' "<local>" bypass says.
        local = host in _LOCAL_NAMES or host.endswith(".localhost") or "." not in host
    else:
        local = not address.is_global
    pattern = f"all://[{host}]" if ":" in host else f"all://{host}"  # an IPv6 literal in brackets
    return {pattern: None} if local else {}


def _fallback(exc: Exception) -> None:
    logger.warning("this PC's proxy settings cannot be used (%s); connecting to the bot directly", exc)


# What a client's construction raises for proxy settings it cannot use (socksio missing: ImportError;
# an unknown scheme such as socks4://: ValueError; a proxy address it cannot parse: InvalidURL).
_UNUSABLE = (ImportError, ValueError, httpx.InvalidURL)


def async_client(url: str, **options: Any) -> httpx.AsyncClient:
    try:
        return httpx.AsyncClient(mounts=_direct(url), **options)
    except _UNUSABLE as exc:
        _fallback(exc)
        # A transport of our own: no proxies, but the environment's certificates (SSL_CERT_FILE).
        return httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(), **options)


def sync_client(url: str, **options: Any) -> httpx.Client:
    try:
        return httpx.Client(mounts=_direct(url), **options)
    except _UNUSABLE as exc:
        _fallback(exc)
        return httpx.Client(transport=httpx.HTTPTransport(), **options)
