"""Flows reduced to contacts (who was talked to, how, how much) and what the proxy could not see.

Sizes come from `raw_content` (what went over the wire): mitmproxy's `.content`
decodes without a cap, and a captured body may be a decompression bomb.
The server address is the one the proxy connected to (live), the one the offline
host map gave (offline), or the host itself when it is an IP literal; otherwise it
is unknown, and rules that need it say so.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mitmproxy import dns, http, tcp, udp
from mitmproxy.flow import Flow

from telltale.capture.store import SERVER_IP_KEY, UNEXAMINED_KEY, raw_destination
from telltale.destinations.geo import normalise_ip
from telltale.errors import CaptureFileError


@dataclass(frozen=True)
class Contact:
    """One flow as the destination rules see it."""

    flow_id: str
    protocol: str  # http, https, ws, wss, tcp, udp, dns
    host: str | None
    ip: str | None
    port: int | None
    plaintext: bool | None  # None: raw TCP/UDP, the proxy cannot tell
    examined: bool  # False: the proxy passed the bytes through without reading them
    requests: int
    bytes_sent: int
    url: str = ""
    escaped: str = ""  # traffic only the packet record saw (dropped at a sealed boundary): why


@dataclass(frozen=True)
class Unexamined:
    """Traffic that went past the proxy unread: a TLS handshake the client refused (pinning)."""

    kind: str  # "tls-refused"
    host: str | None  # the SNI the client sent, if any
    ip: str | None
    detail: str
    window: str | None = None


def _server_ip(f: Flow, host: str | None) -> str | None:
    peer = getattr(f.server_conn, "peername", None)
    if peer:
        return normalise_ip(peer[0])
    if f.metadata.get(SERVER_IP_KEY):
        return normalise_ip(f.metadata[SERVER_IP_KEY])
    return normalise_ip(host)  # an IP literal is its own address


def _head_size(req: http.Request) -> int:
    line = len(req.method) + len(req.path) + len(req.http_version) + 4
    return line + sum(len(k) + len(v) + 4 for k, v in req.headers.fields) + 2


def contact(f: Flow) -> Contact | None:
    """The flow as a contact; None for flows that are not traffic to a destination (CONNECT)."""
    if isinstance(f, http.HTTPFlow):
        req = f.request
        if req.method == "CONNECT":
            return None
        host = (req.pretty_host or "").lower().rstrip(".") or None
        sent = _head_size(req) + len(req.raw_content or b"")
        scheme = req.scheme
        protocol = scheme
        if f.websocket is not None:
            protocol = "wss" if scheme == "https" else "ws"
            sent += sum(len(m.content) for m in f.websocket.messages if m.from_client)
        return Contact(f.id, protocol, host, _server_ip(f, host), req.port, scheme == "http", True, 1,
                       sent, req.pretty_url)
    if isinstance(f, (tcp.TCPFlow, udp.UDPFlow)):
        host, ip, port = raw_destination(f)
        sent = sum(len(m.content) for m in f.messages if m.from_client)
        proto = "tcp" if isinstance(f, tcp.TCPFlow) else "udp"
        escaped = str(f.metadata.get(UNEXAMINED_KEY) or "")
        if escaped and not escaped.startswith(proto):
            proto = escaped.split()[0]  # ICMP and other protocols are carried as a UDP flow
        return Contact(f.id, proto, host.lower() if host else None, normalise_ip(ip), port, None, False, 0,
                       sent, escaped=escaped)
    if isinstance(f, dns.DNSFlow):
        # Judged by the name it asks: the destination the device is about to contact. The
        # capture is the device's resolver (its system resolver, as a network's would be).
        names = [q.name.lower().rstrip(".") for q in f.request.questions]
        host = names[0] if names else None
        ip = normalise_ip(f.metadata.get(SERVER_IP_KEY)) if f.metadata.get(SERVER_IP_KEY) else None
        return Contact(f.id, "dns", host, ip, 53, False, True, 1,
                       len(f.request.packed), f"dns:{','.join(names)}")
    return None


def contacts(flows: Iterable[Flow]) -> tuple[Contact, ...]:
    return tuple(c for f in flows if (c := contact(f)) is not None)


def tls_refusals(events: Iterable[dict]) -> tuple[Unexamined, ...]:
    """The capture addon's `tls_failed_client` events (WindowSpan.tls_failures) as unexamined traffic."""
    out = []
    for e in events:
        if e.get("event", "tls_failed_client") != "tls_failed_client":
            continue
        server = e.get("server") or ""
        ip = normalise_ip(server.rsplit(":", 1)[0]) if server else None
        sni = (e.get("sni") or "").lower() or None
        out.append(Unexamined("tls-refused", sni, ip, str(e.get("error") or "client refused TLS"),
                              e.get("window")))
    return tuple(out)


def events_file(capture: Path) -> Path:
    """`<device>-events.jsonl` beside `<device>-<n>.mitm` (the capture addon writes both)."""
    stem = capture.stem.rsplit("-", 1)[0] if capture.stem.rsplit("-", 1)[-1].isdigit() else capture.stem
    return capture.with_name(f"{stem}-events.jsonl")


def read_events(path: Path) -> tuple[dict, ...]:
    """Events of a capture's JSON-lines file; a missing file is no events, a bad line an error."""
    if not path.is_file():
        return ()
    out = []
    with open(path, encoding="utf-8") as fo:
        for n, line in enumerate(fo, 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise CaptureFileError(str(path), f"line {n}", f"not JSON: {e.msg}") from None
    return tuple(out)
