"""The packet record: the device's conversations out of tcpdump's pcap, and honest about the file."""

import base64
import json
import socket
import ssl
import time

import dpkt
import pytest

from telltale.capture import packets

DEV, DEV_MAC, HOST_MAC = "10.201.0.2", b"\x02\x00\x00\x00\x00\x02", b"\x02\x00\x00\x00\x00\x01"
MDNS_MAC = b"\x33\x33\x00\x00\x00\xfb"
T0 = 1_700_000_000.0


def _ip(src: str, dst: str, proto: int, l4) -> dpkt.Packet:
    if ":" in src:
        v6 = socket.AF_INET6
        ip = dpkt.ip6.IP6(src=socket.inet_pton(v6, src), dst=socket.inet_pton(v6, dst), nxt=proto, hlim=64,
                          data=l4)
        ip.plen = len(bytes(l4))
        return ip
    ip = dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=proto, data=l4)
    ip.len = len(ip)
    return ip


def frame(src: str, dst: str, proto: int, l4, from_device: bool | None = None, macs=None) -> bytes:
    """An Ethernet frame; the MACs say the device's side (its own MAC on what it sends)."""
    if from_device is None:
        from_device = src == DEV
    smac, dmac = macs or ((DEV_MAC, HOST_MAC) if from_device else (HOST_MAC, DEV_MAC))
    ip = _ip(src, dst, proto, l4)
    et = dpkt.ethernet.ETH_TYPE_IP6 if ":" in src else dpkt.ethernet.ETH_TYPE_IP
    return bytes(dpkt.ethernet.Ethernet(src=smac, dst=dmac, type=et, data=ip))


def tcp(src, sport, dst, dport, flags, seq=0, data=b"", **kw) -> bytes:
    return frame(src, dst, 6, dpkt.tcp.TCP(sport=sport, dport=dport, seq=seq, flags=flags, data=data), **kw)


def udp(src, sport, dst, dport, data=b"", **kw) -> bytes:
    u = dpkt.udp.UDP(sport=sport, dport=dport, data=data)
    u.ulen = len(u)
    return frame(src, dst, 17, u, **kw)


def icmp_echo(src, dst, reply=False, data=b"ping") -> bytes:
    echo = dpkt.icmp.ICMP.Echo(id=7, seq=1, data=data)
    return frame(src, dst, 1, dpkt.icmp.ICMP(type=0 if reply else 8, data=echo))


def write(path, frames, nano=False):
    """A pcap as tcpdump writes it (Ethernet); `frames` are (time, bytes)."""
    with open(path, "wb") as fo:
        w = dpkt.pcap.Writer(fo, linktype=dpkt.pcap.DLT_EN10MB, nano=nano)
        for ts, b in frames:
            w.writepkt(b, ts=ts)
    return path


SYN, ACK, PSH = dpkt.tcp.TH_SYN, dpkt.tcp.TH_ACK, dpkt.tcp.TH_PUSH
PEER = "93.184.216.34"


def tcp_exchange(t=T0, dport=80, request=b"GET /a HTTP/1.1\r\n\r\n", sport=40000):
    return [
        (t, tcp(DEV, sport, PEER, dport, SYN, seq=1000)),
        (t + 0.01, tcp(PEER, dport, DEV, sport, SYN | ACK, seq=5000)),
        (t + 0.02, tcp(DEV, sport, PEER, dport, ACK, seq=1001)),
        (t + 0.03, tcp(DEV, sport, PEER, dport, ACK | PSH, seq=1001, data=request[:10])),
        (t + 0.04, tcp(DEV, sport, PEER, dport, ACK | PSH, seq=1011, data=request[10:])),
        (t + 0.05, tcp(DEV, sport, PEER, dport, ACK | PSH, seq=1001, data=request[:10])),  # retransmitted
        (t + 0.06, tcp(PEER, dport, DEV, sport, ACK | PSH, seq=5001, data=b"HTTP/1.1 200 OK\r\n\r\n")),
        (t + 0.07, tcp(DEV, sport, PEER, dport, ACK | PSH, seq=1001 + len(request), data=b"again")),
    ]


def one(rec, **match):
    found = [c for c in rec.conversations if all(getattr(c, k) == v for k, v in match.items())]
    assert len(found) == 1, (match, rec.conversations)
    return found[0]


def test_tcp_conversation_opened_by_the_device(tmp_path):
    rec = packets.read(write(tmp_path / "d.pcap", tcp_exchange()), DEV)
    assert rec.damaged is None and rec.packets_read == 8 and not rec.cut_off
    c = one(rec, proto="tcp")
    assert (c.device_ip, c.device_port, c.peer_ip, c.peer_port) == (DEV, 40000, PEER, 80)
    assert c.initiated_by_device and c.packets == 8 and (c.first, c.last) == (T0, pytest.approx(T0 + 0.07))
    # segments up to the reply are one payload, the retransmission is not counted twice
    assert c.payloads == (b"GET /a HTTP/1.1\r\n\r\n", b"again")
    assert c.bytes_sent == len(b"GET /a HTTP/1.1\r\n\r\n") + 5 and not c.truncated
    assert c.sni is None and c.handshake is None


def test_udp_datagram_with_its_payload(tmp_path):
    blob = base64.b64encode(json.dumps({"imei": "8612345"}).encode())
    rec = packets.read(write(tmp_path / "d.pcap", [(T0, udp(DEV, 50000, "47.241.10.20", 443, blob))]), DEV)
    c = one(rec, proto="udp")
    assert (c.peer_ip, c.peer_port, c.device_port) == ("47.241.10.20", 443, 50000)
    assert c.payloads == (blob,) and c.bytes_sent == len(blob) and c.initiated_by_device and c.packets == 1
    assert c.sni is None  # not QUIC, and no exception either


def test_quic_initial_gives_its_sni(tmp_path):
    aioquic = pytest.importorskip("aioquic.quic.connection")
    from aioquic.quic.configuration import QuicConfiguration

    q = aioquic.QuicConnection(configuration=QuicConfiguration(
        is_client=True, server_name="tracking.intl.miui.com", alpn_protocols=["h3"]))
    q.connect(("47.241.10.20", 443), now=time.time())
    dgrams = [d for d, _ in q.datagrams_to_send(now=time.time())]
    frames = [(T0 + i, udp(DEV, 50001, "47.241.10.20", 443, d)) for i, d in enumerate(dgrams)]
    c = one(packets.read(write(tmp_path / "d.pcap", frames), DEV), proto="udp")
    assert (c.handshake, c.sni) == ("quic", "tracking.intl.miui.com")


def test_tls_client_hello_over_tcp_gives_its_sni(tmp_path):
    hello = _client_hello("tt-abc.example.net")
    frames = [(T0, tcp(DEV, 40001, PEER, 443, SYN, seq=1)),
              (T0 + 0.1, tcp(DEV, 40001, PEER, 443, ACK | PSH, seq=2, data=hello[:100])),
              (T0 + 0.2, tcp(DEV, 40001, PEER, 443, ACK | PSH, seq=102, data=hello[100:]))]
    c = one(packets.read(write(tmp_path / "d.pcap", frames), DEV), proto="tcp")
    assert (c.handshake, c.sni) == ("tls", "tt-abc.example.net")


def _client_hello(name: str) -> bytes:
    obj = ssl.create_default_context().wrap_bio(ssl.MemoryBIO(), out := ssl.MemoryBIO(), server_hostname=name)
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return out.read()


def test_garbage_that_looks_like_tls_or_quic_does_not_raise(tmp_path):
    frames = [(T0, tcp(DEV, 40002, PEER, 443, ACK | PSH, seq=1, data=b"\x16\x03\x01\x00\x05junkjunk")),
              (T0, udp(DEV, 50002, PEER, 443, b"\xc3" + bytes(1300)))]
    rec = packets.read(write(tmp_path / "d.pcap", frames), DEV)
    assert [(c.proto, c.sni, c.handshake) for c in rec.conversations] == [("tcp", None, None),
                                                                          ("udp", None, None)]


def test_icmp_echo_and_its_reply_are_one_conversation(tmp_path):
    frames = [(T0, icmp_echo(DEV, "8.8.8.8", data=b"tt-abc")),
              (T0 + 0.01, icmp_echo("8.8.8.8", DEV, reply=True))]
    c = one(packets.read(write(tmp_path / "d.pcap", frames), DEV), proto="icmp")
    assert (c.peer_ip, c.peer_port, c.device_port, c.icmp_type, c.packets) == ("8.8.8.8", None, None, 8, 2)
    assert c.initiated_by_device and c.payloads[0].endswith(b"tt-abc")


def test_ipv6_from_an_address_the_device_was_not_given_is_still_the_device(tmp_path):
    frames = [(T0, udp(DEV, 50003, "10.201.0.1", 53, b"q")),  # teaches the device's MAC
              (T0 + 1, udp("fe80::2", 5353, "ff02::fb", 5353, b"mdns", from_device=True)),
              (T0 + 2, udp("fe80::1", 5353, "ff02::fb", 5353, b"other", macs=(HOST_MAC, MDNS_MAC)))]
    rec = packets.read(write(tmp_path / "d.pcap", frames), DEV)
    c = one(rec, device_ip="fe80::2")
    assert (c.proto, c.peer_ip, c.payloads, c.initiated_by_device) == ("udp", "ff02::fb", (b"mdns",), True)
    assert rec.ipv6_packets == 1 and rec.unattributed == 1


def test_ipv6_before_the_device_mac_is_known_waits_for_it(tmp_path):
    frames = [(T0, udp("2001:db8::2", 4000, "2001:db8::9", 443, b"early", from_device=True)),
              (T0 + 1, udp(DEV, 50003, "10.201.0.1", 53, b"q"))]
    rec = packets.read(write(tmp_path / "d.pcap", frames), DEV)
    assert one(rec, device_ip="2001:db8::2").payloads == (b"early",)


def test_a_v6_device_address(tmp_path):
    frames = [(T0, tcp("2001:db8::2", 40000, "2001:db8::9", 443, SYN, seq=1, from_device=True))]
    c = one(packets.read(write(tmp_path / "d.pcap", frames), "2001:db8::2"), proto="tcp")
    assert c.initiated_by_device and c.peer_ip == "2001:db8::9"


def test_harness_connecting_to_the_device_is_not_opened_by_it(tmp_path):
    frames = [(T0, tcp("10.201.0.1", 51000, DEV, 4723, SYN, seq=1)),
              (T0 + 0.01, tcp(DEV, 4723, "10.201.0.1", 51000, SYN | ACK, seq=9)),
              (T0 + 0.02, tcp(DEV, 4723, "10.201.0.1", 51000, ACK | PSH, seq=10, data=b"{}"))]
    c = one(packets.read(write(tmp_path / "d.pcap", frames), DEV), proto="tcp")
    assert (c.device_port, c.peer_port, c.initiated_by_device) == (4723, 51000, False)


def test_time_span_keeps_its_packets_and_who_opened_before_it(tmp_path):
    frames = tcp_exchange(T0) + [(T0 + 10, udp(DEV, 50004, "1.1.1.1", 443, b"late"))]
    rec = packets.read(write(tmp_path / "d.pcap", frames), DEV, since=T0 + 0.025, until=T0 + 5)
    c = one(rec, proto="tcp")
    assert c.initiated_by_device  # its SYN is before the span, and still counts
    assert c.packets == 5 and c.first == pytest.approx(T0 + 0.03)
    assert not [x for x in rec.conversations if x.proto == "udp"]
    assert rec.packets_read == 9 and rec.device_packets == 5


def test_payload_cap(tmp_path):
    frames = [(T0 + i, udp(DEV, 50005, PEER, 9999, bytes([i]) * 1400)) for i in range(60)]
    c = one(packets.read(write(tmp_path / "d.pcap", frames), DEV), proto="udp")
    assert c.truncated and c.bytes_sent == 60 * 1400
    assert sum(map(len, c.payloads)) == packets.MAX_PAYLOAD and c.payloads[0] == bytes(1400)


def test_nanosecond_pcap(tmp_path):
    rec = packets.read(write(tmp_path / "d.pcap", [(T0 + 0.5, udp(DEV, 1, PEER, 2, b"x"))], nano=True), DEV)
    assert rec.damaged is None and one(rec, proto="udp").first == pytest.approx(T0 + 0.5)


def test_cut_off_last_record_stops_cleanly(tmp_path):
    p = write(tmp_path / "d.pcap", tcp_exchange())
    p.write_bytes(p.read_bytes()[:-10])
    rec = packets.read(p, DEV)
    assert rec.damaged is None and rec.cut_off and rec.packets_read == 7
    assert one(rec, proto="tcp").packets == 7


def test_cut_inside_a_record_header_stops_cleanly(tmp_path):
    p = write(tmp_path / "d.pcap", tcp_exchange())
    p.write_bytes(p.read_bytes() + b"\x00" * 7)
    rec = packets.read(p, DEV)
    assert rec.damaged is None and rec.cut_off and rec.packets_read == 8


def test_garbage_file_is_damaged_at_byte_0(tmp_path):
    p = tmp_path / "d.pcap"
    p.write_bytes(b"this is not a pcap file at all" * 10)
    rec = packets.read(p, DEV)
    assert rec.damaged and str(p) in rec.damaged and "byte 0" in rec.damaged and "not a pcap" in rec.damaged
    assert rec.conversations == ()


def test_corrupt_record_in_the_middle_is_damage_with_its_offset(tmp_path):
    p = write(tmp_path / "d.pcap", tcp_exchange())
    data = bytearray(p.read_bytes())
    first = 24 + 16 + int.from_bytes(data[24 + 8:24 + 12], "little")  # the second record's header
    data[first + 8:first + 12] = (0xFFFFFF).to_bytes(4, "little")
    p.write_bytes(bytes(data))
    rec = packets.read(p, DEV)
    assert rec.damaged and f"byte {first}" in rec.damaged and "record 1" in rec.damaged
    assert rec.packets_read == 1  # what came before the damage is kept


def test_missing_and_empty_files_are_no_packet_record(tmp_path):
    missing = packets.read(tmp_path / "none.pcap", DEV)
    (tmp_path / "empty.pcap").write_bytes(b"")
    empty = packets.read(tmp_path / "empty.pcap", DEV)
    for rec in (missing, empty):
        assert rec.damaged and "no packet record" in rec.damaged and rec.conversations == ()


def test_header_only_is_a_valid_empty_record(tmp_path):
    rec = packets.read(write(tmp_path / "d.pcap", []), DEV)
    assert rec.damaged is None and rec.conversations == () and rec.packets_read == 0 and not rec.cut_off


def test_arp_is_ignored(tmp_path):
    arp = dpkt.arp.ARP(sha=DEV_MAC, spa=socket.inet_aton(DEV), tpa=socket.inet_aton("10.201.0.1"))
    eth = bytes(dpkt.ethernet.Ethernet(src=DEV_MAC, dst=b"\xff" * 6, type=dpkt.ethernet.ETH_TYPE_ARP,
                                       data=arp))
    rec = packets.read(write(tmp_path / "d.pcap", [(T0, eth)]), DEV)
    assert rec.damaged is None and rec.conversations == () and rec.link_packets == 1
