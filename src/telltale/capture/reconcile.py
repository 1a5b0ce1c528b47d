"""The packet record reconciled with the proxy's flows: every conversation the device opened is
accounted for, and what the proxy never examined is made a flow the usual readers can judge.

A flow is matched to a conversation by the device's side of it (the client address the proxy
saw is the device's own: transparent mode) and by time, so a client port used again later is
not taken for the earlier connection. Flows made here carry `UNEXAMINED_KEY` and are never
matched themselves.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from mitmproxy import connection, dns, http, tcp, udp
from mitmproxy.flow import Flow

from telltale.capture.packets import Conversation, PacketRecord
from telltale.capture.store import SERVER_IP_KEY, UNEXAMINED_KEY, WINDOW_KEY
from telltale.destinations.geo import normalise_ip

# Best first: when several flows share a connection, the one that read most names it.
HOWS = ("decrypted", "plaintext", "dns", "raw-tcp", "raw-udp", "tls-refused", "control", "not-examined")
PACKETS_KEY = "telltale.packets"
BYTES_KEY = "telltale.bytes"
TRUNCATED_KEY = "telltale.truncated"  # the payloads hold only the first packets.MAX_PAYLOAD bytes
SLACK = 2.0  # seconds between the record's and the proxy's view of one connection (one clock)


@dataclass(frozen=True)
class Accounted:
    """One conversation of the record and what the proxy made of it."""

    conversation: Conversation
    how: str  # one of HOWS
    flow_id: str | None = None  # the (first) flow that accounts for it


@dataclass(frozen=True)
class Reconciliation:
    """Every conversation of a packet record, accounted for; `damaged`: the record's own verdict
    (a damaged record cannot vouch that nothing else was sent)."""

    accounted: tuple[Accounted, ...]
    damaged: str | None = None

    @property
    def not_examined(self) -> tuple[Conversation, ...]:
        return tuple(a.conversation for a in self.accounted if a.how == "not-examined")

    def summary(self) -> dict[str, int]:
        """Conversations per way they were accounted for (every way named, for the evidence)."""
        counts = dict.fromkeys(HOWS, 0)
        for a in self.accounted:
            counts[a.how] += 1
        return counts


@dataclass(frozen=True)
class _Seen:
    """A flow (or TLS failure) on one client endpoint, during [start, end] (None: open)."""

    start: float | None
    end: float | None
    how: str
    flow_id: str | None


def _endpoint(ip: object, port: object) -> tuple[str, int] | None:
    ip = normalise_ip(str(ip)) if ip is not None else None
    try:
        return (ip, int(port)) if ip else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _how(f: Flow) -> str | None:
    if isinstance(f, http.HTTPFlow):
        return "decrypted" if f.request.scheme == "https" else "plaintext"
    if isinstance(f, dns.DNSFlow):
        return "dns"
    if isinstance(f, tcp.TCPFlow):
        return "raw-tcp"
    if isinstance(f, udp.UDPFlow):
        return "raw-udp"
    return None


def _index(flows: Sequence[Flow], tls_failures: Sequence[dict]) -> dict[tuple[str, str, int], list[_Seen]]:
    """(transport, client ip, client port) -> what the proxy saw there."""
    index: dict[tuple[str, str, int], list[_Seen]] = {}
    for f in flows:
        how = _how(f)
        peer = getattr(f.client_conn, "peername", None)
        if how is None or not peer or f.metadata.get(UNEXAMINED_KEY):
            continue
        ep = _endpoint(peer[0], peer[1])
        if ep is None:
            continue
        c = f.client_conn
        index.setdefault((c.transport_protocol, *ep), []).append(
            _Seen(c.timestamp_start, c.timestamp_end, how, f.id))
    for e in tls_failures:
        if e.get("event", "tls_failed_client") != "tls_failed_client" or not e.get("client"):
            continue
        host, _, port = str(e["client"]).rpartition(":")
        ep = _endpoint(host.strip("[]"), port)
        t = e.get("time")
        t = float(t) if isinstance(t, (int, float)) else None
        if ep is not None:
            index.setdefault(("tcp", *ep), []).append(_Seen(t, t, "tls-refused", None))
    return index


def _match(conv: Conversation, seen: list[_Seen]) -> _Seen | None:
    lo, hi = conv.first - SLACK, conv.last + SLACK
    during = [s for s in seen if (s.start is None or s.start <= hi) and (s.end is None or s.end >= lo)]
    return min(during, key=lambda s: (HOWS.index(s.how), s.start or 0.0), default=None)


def reconcile(record: PacketRecord, flows: Sequence[Flow], tls_failures: Sequence[dict] = (),
              control: Collection[tuple[str, int]] = ()) -> Reconciliation:
    """Each conversation of the record, accounted for by a flow, a TLS failure, as control, or not.

    `flows`: the proxy's flows of the run, or at least of the record's time span (a connection
    opened in an earlier window carries requests in this one). `control`: (ip, port) of the
    device's own listening services and of the harness's, whose conversations are the harness's.
    """
    index = _index(flows, tls_failures)
    ctl = {ep for ip, port in control if (ep := _endpoint(ip, port)) is not None}
    out = []
    for c in record.conversations:
        dev, peer = (c.device_ip, c.device_port), (c.peer_ip, c.peer_port)
        if not c.initiated_by_device:
            out.append(Accounted(c, "control"))
            continue
        seen = None
        if c.proto in ("tcp", "udp") and c.device_port is not None:
            seen = _match(c, index.get((c.proto, *dev), []))  # type: ignore[arg-type]
        if seen is not None:
            out.append(Accounted(c, seen.how, seen.flow_id))
        elif dev in ctl or peer in ctl:
            out.append(Accounted(c, "control"))
        else:
            out.append(Accounted(c, "not-examined"))
    return Reconciliation(tuple(out), record.damaged)


def _reason(c: Conversation) -> str:
    if c.proto == "tcp":
        return "a TCP connection the proxy has no flow of"
    if c.proto == "udp":
        if c.handshake == "quic":
            return "QUIC, which the proxy does not read"
        if c.peer_port == 53:
            return "a DNS query the proxy has no flow of"
        return "UDP, which the proxy does not read"
    if c.proto == "icmp":
        return f"ICMP type {c.icmp_type}, which the proxy does not read"
    return f"IP protocol {c.proto.partition(':')[2]}, which the proxy does not read"


def unexamined_label(c: Conversation) -> str:
    """`<proto>[ <port>] not examined: <reason>` (what `UNEXAMINED_KEY` holds)."""
    port = f" {c.peer_port}" if c.peer_port is not None else ""
    return f"{c.proto}{port} not examined: {_reason(c)}"


def unexamined_flow(c: Conversation, window: str | None) -> Flow:
    """A flow of what the device sent in a conversation the proxy never read.

    TCP becomes a TCPFlow; UDP, ICMP and other IP protocols a UDPFlow: the detector and the
    destination rules read client messages of TCP and UDP flows only, and a datagram flow is
    what ICMP is closest to. `UNEXAMINED_KEY` names the real protocol.
    """
    transport = "tcp" if c.proto == "tcp" else "udp"
    client = connection.Client(peername=(c.device_ip, c.device_port or 0), sockname=("", 0),
                               timestamp_start=c.first, transport_protocol=transport, sni=c.sni)
    client.timestamp_end = c.last
    addr = (c.peer_ip, c.peer_port or 0)
    server = connection.Server(address=addr, peername=addr, timestamp_start=c.first,
                               transport_protocol=transport, sni=c.sni)
    server.timestamp_end = c.last
    f: Flow
    if transport == "tcp":
        f = tcp.TCPFlow(client, server)
        f.messages = [tcp.TCPMessage(True, p, c.first) for p in c.payloads]
    else:
        f = udp.UDPFlow(client, server)
        f.messages = [udp.UDPMessage(True, p, c.first) for p in c.payloads]
    # The same conversation gives the same flow id, read after read.
    f.id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"telltale-unexamined:{c.proto}:{c.device_ip}:{c.device_port}:"
                                              f"{c.peer_ip}:{c.peer_port}:{c.icmp_type}:{c.first!r}"))
    f.timestamp_created = c.first
    f.metadata.update({WINDOW_KEY: window, UNEXAMINED_KEY: unexamined_label(c), SERVER_IP_KEY: c.peer_ip,
                       PACKETS_KEY: c.packets, BYTES_KEY: c.bytes_sent})
    if c.truncated:
        f.metadata[TRUNCATED_KEY] = True
    return f


def unexamined_flows(rec: Reconciliation, window: str | None) -> list[Flow]:
    """Flows of the not-examined conversations, for the detector and the destination rules."""
    return [unexamined_flow(c, window) for c in rec.not_examined]


def _hostport(ip: str, port: int | None) -> str:
    if port is None:
        return ip
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def describe(conv: Conversation, how: str = "not-examined") -> str:
    """One line for reports: `udp 47.241.10.20:443 (QUIC, SNI x) 3 packets, 1200 bytes, not examined`."""
    notes = [conv.handshake.upper()] if conv.handshake else []
    if conv.sni:
        notes.append(f"SNI {conv.sni}")
    if conv.icmp_type is not None:
        notes.append(f"type {conv.icmp_type}")
    paren = f" ({', '.join(notes)})" if notes else ""
    plural = "" if conv.packets == 1 else "s"
    kept = f" (first {sum(map(len, conv.payloads))} kept)" if conv.truncated else ""
    return (f"{conv.proto} {_hostport(conv.peer_ip, conv.peer_port)}{paren} {conv.packets} packet{plural}, "
            f"{conv.bytes_sent} bytes{kept}, {how.replace('-', ' ')}")
