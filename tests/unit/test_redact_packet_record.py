"""A packet record leaves the lab without clear-text credentials, and with everything else as sent."""

import io

import dpkt

from telltale import redact
from telltale.capture import packets

DEVICE, SERVER = b"\x0a\xc9\x00\x02", b"\x2f\xf1\x0a\x14"


def _pcap(path, payload: bytes) -> bytes:
    buf = io.BytesIO()
    w = dpkt.pcap.Writer(buf)
    syn = dpkt.tcp.TCP(sport=40000, dport=80, flags=dpkt.tcp.TH_SYN)
    data = dpkt.tcp.TCP(sport=40000, dport=80, flags=dpkt.tcp.TH_ACK | dpkt.tcp.TH_PUSH, seq=1, data=payload)
    for i, seg in enumerate((syn, data)):
        w.writepkt(dpkt.ethernet.Ethernet(data=dpkt.ip.IP(src=DEVICE, dst=SERVER, p=6, data=seg)), ts=1.0 + i)
    path.write_bytes(buf.getvalue())
    return buf.getvalue()


def test_credentials_are_blanked_in_place_and_the_canary_stays(tmp_path):
    p = tmp_path / "dev-link.pcap"
    payload = (b"POST /c HTTP/1.1\r\nHost: t.example\r\nAuthorization: Bearer s3cr3t-TOKEN\r\n"
               b"Cookie: session=abc123\r\nX-Trace: bearer zz9-SECRET-zz\r\n\r\nurl=tt-canary.example.net")
    before = _pcap(p, payload)
    assert redact.packet_record(p) == 3
    after = p.read_bytes()
    assert len(after) == len(before)
    for secret in (b"s3cr3t-TOKEN", b"abc123", b"zz9-SECRET-zz"):
        assert secret not in after
    assert b"tt-canary.example.net" in after and b"Authorization: " in after
    (conv,) = packets.read(p, "10.201.0.2").conversations
    assert conv.peer_ip == "47.241.10.20" and conv.bytes_sent == len(payload)


def test_a_record_without_credentials_is_left_untouched(tmp_path):
    p = tmp_path / "dev-link.pcap"
    before = _pcap(p, b"GET /x HTTP/1.1\r\nHost: t.example\r\n\r\n")
    mtime = p.stat().st_mtime_ns
    assert redact.packet_record(p) == 0
    assert p.read_bytes() == before and p.stat().st_mtime_ns == mtime
