"""Flows as the capture would record them, built in memory."""

from __future__ import annotations

from mitmproxy import http
from mitmproxy.test import tflow


def request(url: str, ip: str | None = None, body: bytes = b"", method: str = "POST") -> http.HTTPFlow:
    """An HTTP(S) flow to `url` whose server was `ip` (live: the connection's peer address)."""
    f = tflow.tflow(resp=True)
    f.request = http.Request.make(method, url, body, {"content-type": "application/octet-stream"})
    f.server_conn.peername = (ip, f.request.port) if ip else None
    f.server_conn.address = (f.request.pretty_host, f.request.port)
    return f


def offline(url: str, ip: str) -> http.HTTPFlow:
    """As the offline upstream leaves it: the host map's address in the flow's metadata only."""
    f = request(url)
    f.metadata["telltale.server_ip"] = ip
    return f
