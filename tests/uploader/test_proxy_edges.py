"""uploader.http_clients at its edges: IPv6 and VPN addresses, local names, and the direct
fallback keeping the certificates the environment names."""

from __future__ import annotations

import http.server
import ssl
import subprocess
import threading
from pathlib import Path

import httpx
import pytest

from uploader.http_clients import sync_client

pytestmark = pytest.mark.uploader_only


def _route(url: str) -> str:
    with sync_client(url, timeout=1) as client:
        chosen = client._transport_for_url(httpx.URL(url + "/api/v1/health"))
        return "direct" if chosen is client._transport else "proxy"


@pytest.mark.parametrize("url", ["http://[::1]:8750", "http://[fd12:3456::1]:8750"])
def test_an_ipv6_bot_address_builds_a_client(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert _route(url) == "direct"  # before 7609df4 httpx.Client() took this address


@pytest.mark.parametrize("url", ["http://100.101.102.103:8750", "http://localhost.localdomain:8750"])
def test_cgnat_tailscale_and_localhost_aliases_go_direct(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert _route(url) == "direct"


def test_the_fallback_still_trusts_ssl_cert_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key),
                    "-out", str(cert)], check=True, capture_output=True)
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"https://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # what doctor's advice says to set
    try:
        with sync_client(url, timeout=5) as client:
            assert client.get(url + "/").status_code in (200, 404)  # no proxy: verified
        monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:1080")  # socksio not installed
        with sync_client(url, timeout=5) as client:
            assert client.get(url + "/").status_code in (200, 404)
    finally:
        server.shutdown()
        server.server_close()
