"""The uploader with this PC's proxies (uploader.http_clients): used as a browser would, never a
reason not to start."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from uploader.http_clients import _direct, async_client, sync_client

pytestmark = pytest.mark.uploader_only
JUNE = "Journal.2025-06-20T213114.01.log"


def test_a_bot_on_this_pc_or_the_lan_is_reached_without_the_proxy() -> None:
    for url in ("http://127.0.0.1:8750", "http://localhost:8750", "http://192.168.1.20", "http://nas:8750",
                "http://169.254.3.4"):
        assert _direct(url) == {f"all://{httpx.URL(url).host}": None}, url
    assert _direct("http://[::1]:8750") == {"all://[::1]": None}  # an IPv6 literal, in brackets
    for url in ("https://colony.example.org", "http://8.8.8.8"):
        assert _direct(url) == {}, url


def test_proxy_settings_httpx_cannot_use_mean_a_direct_connection(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Windows' settings turn a SOCKS proxy into socks4://, a scheme httpx does not know.
    monkeypatch.setenv("HTTPS_PROXY", "socks4://127.0.0.1:1080")
    with sync_client("https://colony.example.org", timeout=1) as client:
        chosen = client._transport_for_url(httpx.URL("https://colony.example.org/api/v1/events"))
        assert chosen is client._transport  # direct
    assert "proxy settings cannot be used" in caplog.text


async def test_the_async_client_takes_the_proxy_but_not_for_a_local_bot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HTTPS_PROXY", "HTTP_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:3128")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    async with async_client("http://127.0.0.1:8750", timeout=1) as local:
        chosen = local._transport_for_url(httpx.URL("http://127.0.0.1:8750/api/v1/events"))
        assert chosen is local._transport  # direct
    async with async_client("https://colony.example.org", timeout=1) as remote:
        chosen = remote._transport_for_url(httpx.URL("https://colony.example.org/api/v1/events"))
        assert chosen is not remote._transport  # through the proxy


def test_backfill_starts_with_a_socks_proxy_in_the_environment(
    samples: Path, tmp_path: Path, tools: Any, receiver: Any
) -> None:
    """Without the optional socksio package httpx cannot use a SOCKS proxy; the uploader then
    connects directly (with a warning) rather than not starting at all."""
    folder = tools.copy_samples(samples, tmp_path / "journals", (JUNE,))
    env = tools.env(tmp_path, url=f"http://127.0.0.1:{receiver.port}", token="good-token",
                    journal_dir=folder, give_up_after=5, backoff_cap=1)
    env["ALL_PROXY"] = "socks5://127.0.0.1:1080"
    env["NO_PROXY"] = "127.0.0.1,localhost"
    done = subprocess.run(tools.command("backfill"), env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, (done.returncode, done.stdout[-400:], done.stderr[-1500:])
    assert receiver.accepted
