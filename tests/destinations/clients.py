"""Clients that talk through a real capture proxy: one that pins (trusts only the system store)."""

from __future__ import annotations

import socket
import ssl
import urllib.request
from pathlib import Path


def pinned_connect(proxy_port: int, host: str) -> str:
    """CONNECT through the proxy, then TLS with the default trust store (not the capture CA):
    the client refuses the proxy's certificate, as certificate pinning does. Returns the error."""
    with socket.create_connection(("127.0.0.1", proxy_port), timeout=10) as raw:
        raw.sendall(f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = raw.recv(4096)
            if not chunk:
                break
            head += chunk
        assert head.startswith(b"HTTP/1.1 200"), head
        ctx = ssl.create_default_context()
        try:
            with ctx.wrap_socket(raw, server_hostname=host):
                return "accepted"  # would mean the proxy's CA is trusted: not a pinning client
        except ssl.SSLCertVerificationError as e:
            return e.verify_message or str(e)


def post(proxy_url: str, url: str, ca: Path, body: bytes = b"{}") -> int:
    """A client that trusts the capture CA (as a test device does)."""
    ctx = ssl.create_default_context(cafile=str(ca))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy_url, "https": proxy_url}),
                                         urllib.request.HTTPSHandler(context=ctx))
    with opener.open(urllib.request.Request(url, data=body, method="POST"), timeout=10) as r:
        return r.status
