"""Reconciling the packet record with the proxy's flows: every conversation accounted for, and what
the proxy never read made into flows the detector and the destination rules judge."""

import base64
import io as pyio
import json
import socket

import dpkt
from mitmproxy import io, tcp, udp
from mitmproxy.test import tflow

from telltale.capture import packets, reconcile
from telltale.capture.packets import Conversation, PacketRecord
from telltale.capture.store import SERVER_IP_KEY, UNEXAMINED_KEY, WINDOW_KEY
from telltale.destinations import transport
from telltale.detect import Canary, scan_flows

DEV = "10.201.0.2"
T0 = 1_700_000_000.0
CANARY = Canary("visited_url", "https://tt-abc.example.net/read/x", "canary")


def conv(proto="tcp", dport=40000, peer="93.184.216.34", pport=443, payloads=(b"x",), opened=True, **kw):
    base = dict(first=T0, last=T0 + 1, packets=4, bytes_sent=sum(map(len, payloads)),
                payloads=tuple(payloads), truncated=False, initiated_by_device=opened)
    base.update(kw)
    return Conversation(proto, DEV, dport, peer, pport, **base)


def on(f, port, t=T0, transport_protocol="tcp"):
    """The flow as the proxy saw it: the device's address and port, opened at t, still open."""
    f.client_conn.peername = (DEV, port)
    f.client_conn.timestamp_start, f.client_conn.timestamp_end = t, None
    f.client_conn.transport_protocol = transport_protocol
    return f


def record(*convs):
    return PacketRecord("d.pcap", tuple(convs), 0)


def test_each_way_a_conversation_is_accounted_for():
    https, http_, dns_tcp = tflow.tflow(), tflow.tflow(), tflow.tdnsflow()
    https.request.scheme = "https"
    keep_alive = tflow.tflow()  # a second request on the https connection
    keep_alive.request.scheme = "https"
    flows = [on(https, 40001), on(keep_alive, 40001, T0 + 0.5), on(http_, 40002), on(tflow.ttcpflow(), 40003),
             on(tflow.tdnsflow(), 50000, transport_protocol="udp"), on(dns_tcp, 40006)]
    failure = {"event": "tls_failed_client", "client": f"{DEV}:40004", "sni": "pinned.example.com",
               "server": "1.2.3.4:443", "window": "w1", "time": T0 + 0.2}
    convs = [conv(dport=40001), conv(dport=40002, pport=80), conv(dport=40003, pport=5222),
             conv("udp", 50000, "10.201.0.1", 53), conv(dport=40006, pport=53), conv(dport=40004),
             conv(dport=4723, peer="10.201.0.1", pport=51000, opened=False),  # the harness to Appium
             conv(dport=40005, peer="10.201.0.1", pport=4724),  # to a control service
             conv("udp", 50001, "47.241.10.20", 443), conv("icmp", None, "8.8.8.8", None, icmp_type=8)]
    rec = reconcile.reconcile(record(*convs), flows, [failure], control=[("10.201.0.1", 4724)])
    hows = [(a.conversation.device_port, a.how) for a in rec.accounted]
    assert hows == [(40001, "decrypted"), (40002, "plaintext"), (40003, "raw-tcp"), (50000, "dns"),
                    (40006, "dns"), (40004, "tls-refused"), (4723, "control"), (40005, "control"),
                    (50001, "not-examined"), (None, "not-examined")]
    assert rec.accounted[0].flow_id == https.id  # the connection's first flow names it
    assert [c.proto for c in rec.not_examined] == ["udp", "icmp"]
    assert rec.damaged is None
    assert rec.summary() == {"decrypted": 1, "plaintext": 1, "dns": 2, "raw-tcp": 1, "raw-udp": 0,
                             "tls-refused": 1, "control": 2, "not-examined": 2}


def test_a_flow_is_matched_by_transport_and_time_too():
    old = on(tflow.tflow(), 40001, t=T0 - 100)
    old.client_conn.timestamp_end = T0 - 90  # an earlier connection from the same port
    udp_dns = on(tflow.tdnsflow(), 40002, transport_protocol="udp")
    rec = reconcile.reconcile(record(conv(dport=40001), conv(dport=40002, pport=53)), [old, udp_dns])
    assert [a.how for a in rec.accounted] == ["not-examined", "not-examined"]


def test_a_damaged_record_says_so():
    assert reconcile.reconcile(PacketRecord("d.pcap", (), 0, "d.pcap: byte 0: not a pcap"), []).damaged


def test_ipv4_mapped_client_address_matches():
    f = on(tflow.tflow(), 40001)
    f.client_conn.peername = (f"::ffff:{DEV}", 40001, 0, 0)
    assert reconcile.reconcile(record(conv(dport=40001)), [f]).accounted[0].how == "plaintext"


def _pcap(path, frames):
    with open(path, "wb") as fo:
        w = dpkt.pcap.Writer(fo)
        for ts, (src, sport, dst, dport, data) in frames:
            u = dpkt.udp.UDP(sport=sport, dport=dport, data=data)
            u.ulen = len(u)
            ip = dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=17, data=u)
            ip.len = len(ip)
            w.writepkt(bytes(dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, data=ip)), ts=ts)
    return path


def _udp_flows(tmp_path, url: str):
    payload = base64.b64encode(json.dumps({"event": "page", "url": url}).encode())
    p = _pcap(tmp_path / f"{len(url)}.pcap", [(T0, (DEV, 50000, "47.241.10.20", 443, payload)),
                                              (T0 + 1, (DEV, 50000, "47.241.10.20", 443, b"second"))])
    rec = reconcile.reconcile(packets.read(p, DEV), [])
    return rec, reconcile.unexamined_flows(rec, "w1")


def test_plant_and_find_in_udp_the_proxy_never_read(tmp_path):
    rec, flows = _udp_flows(tmp_path, CANARY.value)
    (f,) = flows
    assert isinstance(f, udp.UDPFlow) and len(f.messages) == 2 and all(m.from_client for m in f.messages)
    assert f.metadata[WINDOW_KEY] == "w1" and f.metadata[SERVER_IP_KEY] == "47.241.10.20"
    assert f.metadata[UNEXAMINED_KEY] == "udp 443 not examined: UDP, which the proxy does not read"
    assert f.metadata[reconcile.PACKETS_KEY] == 2
    assert f.metadata[reconcile.BYTES_KEY] == rec.not_examined[0].bytes_sent
    result = scan_flows(flows, [CANARY])
    assert [(x.canary, x.server_ip) for x in result.findings] == [("visited_url", "47.241.10.20")]
    c = transport.contact(f)
    assert (c.protocol, c.ip, c.port, c.examined) == ("udp", "47.241.10.20", 443, False)
    # the same conversation gives the same flow, read after read
    assert reconcile.unexamined_flows(rec, "w1")[0].id == f.id


def test_clean_twin_finds_nothing(tmp_path):
    _, flows = _udp_flows(tmp_path, "https://www.example.org/read/x")
    result = scan_flows(flows, [CANARY])
    assert result.findings == () and result.errors == ()


def test_unexamined_flows_per_protocol_and_they_are_not_matched_again():
    convs = [conv(dport=40001, payloads=(b"hello",), sni="t.example.com", handshake="tls"),
             conv("icmp", None, "8.8.8.8", None, payloads=(b"ping",), icmp_type=8),
             conv("other:47", None, "8.8.4.4", None, payloads=(b"gre",))]
    rec = reconcile.reconcile(record(*convs), [])
    flows = reconcile.unexamined_flows(rec, None)
    assert [type(f) for f in flows] == [tcp.TCPFlow, udp.UDPFlow, udp.UDPFlow]
    assert flows[0].server_conn.sni == "t.example.com" and flows[0].messages[0].content == b"hello"
    assert flows[1].server_conn.address == ("8.8.8.8", 0) and flows[1].client_conn.peername == (DEV, 0)
    assert [f.metadata[UNEXAMINED_KEY] for f in flows] == [
        "tcp 443 not examined: a TCP connection the proxy has no flow of",
        "icmp not examined: ICMP type 8, which the proxy does not read",
        "other:47 not examined: IP protocol 47, which the proxy does not read"]
    assert [f.timestamp_created for f in flows] == [T0] * 3
    again = reconcile.reconcile(record(*convs), flows)  # fed back with the proxy's flows
    assert [a.how for a in again.accounted] == ["not-examined"] * 3
    buf = pyio.BytesIO()  # they are written like any flow
    w = io.FlowWriter(buf)
    for f in flows:
        w.add(f)
    back = list(io.FlowReader(pyio.BytesIO(buf.getvalue())).stream())
    assert [b.metadata[UNEXAMINED_KEY] for b in back] == [f.metadata[UNEXAMINED_KEY] for f in flows]


def test_describe():
    quic = conv("udp", 50000, "47.241.10.20", 443, payloads=(bytes(1200),), packets=3,
                sni="tracking.intl.miui.com", handshake="quic")
    assert reconcile.describe(quic) == \
        "udp 47.241.10.20:443 (QUIC, SNI tracking.intl.miui.com) 3 packets, 1200 bytes, not examined"
    ping = conv("icmp", None, "2001:db8::1", None, payloads=(b"p",), packets=1, icmp_type=128)
    assert reconcile.describe(ping, "control") == "icmp 2001:db8::1 (type 128) 1 packet, 1 bytes, control"
