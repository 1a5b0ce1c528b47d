"""The device's packet record (tcpdump's pcap of its link), reduced to conversations.

The proxy's flows say what it examined; the record of the link says what the device
sent. Reconciling the two (`reconcile`) needs every conversation the device had, who
opened it and what the device's side carried, so that traffic the proxy never read
(UDP such as QUIC, ICMP, TCP it has no flow of) can be judged like any flow.

tcpdump may still be writing the file: an incomplete last record is where the record
ends, not damage. Headers are unpacked with struct: dpkt's packet objects decode every
layer eagerly and alone run at about the speed this reader needs (~80k packets/s);
dpkt gives the file format's constants and the rare layer (ARP).
"""

from __future__ import annotations

import mmap
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

import dpkt
from mitmproxy.net.tls import starts_like_tls_record
from mitmproxy.proxy.layers.quic import quic_parse_client_hello_from_datagrams
from mitmproxy.proxy.layers.tls import parse_client_hello

from telltale.errors import CaptureFileError

MAX_PAYLOAD = 64 * 1024  # device->peer bytes kept per conversation; the rest is counted, not kept

_MAGIC = {  # the first four bytes of a pcap file -> (byte order, seconds per timestamp fraction)
    struct.pack("<I", dpkt.pcap.TCPDUMP_MAGIC): ("<", 1e-6),
    struct.pack(">I", dpkt.pcap.TCPDUMP_MAGIC): (">", 1e-6),
    struct.pack("<I", dpkt.pcap.TCPDUMP_MAGIC_NANO): ("<", 1e-9),
    struct.pack(">I", dpkt.pcap.TCPDUMP_MAGIC_NANO): (">", 1e-9),
}
_PCAPNG = b"\x0a\x0d\x0d\x0a"
_ETHERNET, _RAW, _SLL = dpkt.pcap.DLT_EN10MB, dpkt.pcap.DLT_RAW, dpkt.pcap.DLT_LINUX_SLL
_RAW4, _RAW6 = 228, 229  # LINKTYPE_IPV4, LINKTYPE_IPV6
_LINKTYPES = (_ETHERNET, _RAW, _SLL, _RAW4, _RAW6)
_MAX_RECORD = 262144  # tcpdump's largest snapshot; a longer record is a corrupt header

_IP4, _IP6, _ARP = dpkt.ethernet.ETH_TYPE_IP, dpkt.ethernet.ETH_TYPE_IP6, dpkt.ethernet.ETH_TYPE_ARP
_VLAN = frozenset({dpkt.ethernet.ETH_TYPE_8021Q, dpkt.ethernet.ETH_TYPE_8021AD,
                   dpkt.ethernet.ETH_TYPE_QINQ1, dpkt.ethernet.ETH_TYPE_QINQ2})
_TCP, _UDP, _ICMP, _ICMP6, _IGMP = 6, 17, 1, 58, 2
_V6_EXTENSIONS = frozenset({0, 43, 44, 51, 60, 135, 139, 140})
_V6_LINK = frozenset({130, 131, 132, 133, 134, 135, 136, 137, 143})  # MLD and neighbour discovery
_ICMP_REPLY = {0: 8, 14: 13, 16: 15, 18: 17, 129: 128}  # a reply belongs with its request
_SYN, _ACK = dpkt.tcp.TH_SYN, dpkt.tcp.TH_ACK
_SEQ, _HALF = 0xFFFFFFFF, 0x80000000
_PENDING = 10000  # frames kept until the device's MAC address is known
_U16 = struct.Struct("!H").unpack_from
_PORTS = struct.Struct("!HH").unpack_from
_U32 = struct.Struct("!I").unpack_from


@dataclass(frozen=True)
class Conversation:
    """What the device and one peer exchanged in the record: who opened it, what the device sent."""

    proto: str  # tcp | udp | icmp | other:<IP protocol number>
    device_ip: str
    device_port: int | None
    peer_ip: str
    peer_port: int | None
    first: float
    last: float
    packets: int  # both directions
    bytes_sent: int  # payload bytes device -> peer (TCP retransmissions counted once)
    payloads: tuple[bytes, ...]  # device -> peer, in order: a datagram each; TCP, a run between replies
    truncated: bool  # bytes_sent exceeded MAX_PAYLOAD: the payloads hold the first MAX_PAYLOAD bytes
    initiated_by_device: bool
    sni: str | None = None
    handshake: str | None = None  # "tls" or "quic" when a ClientHello was read from the payloads
    icmp_type: int | None = None


@dataclass(frozen=True)
class PacketRecord:
    """The device's conversations in one pcap (and time span), and whether the file could vouch."""

    path: str
    conversations: tuple[Conversation, ...]
    packets_read: int  # records read from the file, whatever their time or device
    damaged: str | None = None  # not a packet record, or corrupt from the named byte on
    device_packets: int = 0  # packets of the device in the time span, in conversations
    ipv6_packets: int = 0  # of those, IPv6
    link_packets: int = 0  # ARP, neighbour discovery, MLD, IGMP: the link's own upkeep, ignored
    fragments: int = 0  # IP fragments after the first: not reassembled, counted here only
    undecoded: int = 0  # frames that are not IP, or too short for their headers
    unattributed: int = 0  # IP packets neither from nor to the device (by address or MAC)
    cut_off: bool = False  # the last record is incomplete (tcpdump still writing, or killed)


class _Conv:
    """A conversation while the file is read."""

    __slots__ = ("first", "last", "packets", "sent", "pieces", "kept", "truncated", "syn_by", "first_by",
                 "next_seq", "replied")

    def __init__(self) -> None:
        self.first = self.last = 0.0
        self.packets = self.sent = self.kept = 0
        self.pieces: list[bytearray] = []
        self.truncated = False
        self.syn_by: bool | None = None  # from a SYN: did the device open it
        self.first_by: bool | None = None  # who sent the first packet seen
        self.next_seq: int | None = None  # the device's next new TCP sequence number
        self.replied = False  # the peer sent data since the device's last payload

    def note(self, out: bool, flags: int | None) -> None:
        """Who opened it: the SYN says, else the first packet (also before the time span)."""
        if self.first_by is None:
            self.first_by = out
        if flags is not None and self.syn_by is None and flags & _SYN:
            self.syn_by = out if not flags & _ACK else not out

    def add(self, ts: float, out: bool, data: bytes, join: bool) -> None:
        if not self.packets:
            self.first = ts
        self.packets += 1
        self.last = ts
        if not data:
            return
        if not out:
            self.replied = True
            return
        self.sent += len(data)
        room = MAX_PAYLOAD - self.kept
        if len(data) > room:
            self.truncated = True
            data = data[:room]
            if not data:
                return
        if join and self.pieces and not self.replied:
            self.pieces[-1] += data
        else:
            self.pieces.append(bytearray(data))
        self.replied = False
        self.kept += len(data)

    def new_bytes(self, seq: int, flags: int, data: bytes) -> bytes:
        """The part of a device TCP segment not sent before (a retransmission gives nothing)."""
        if flags & _SYN:
            seq = (seq + 1) & _SEQ
        if not data:
            if flags & _SYN:
                self.next_seq = seq
            return data
        n = len(data)
        if self.next_seq is not None:
            ahead = (seq + n - self.next_seq) & _SEQ
            if ahead == 0 or ahead >= _HALF:
                return b""
            behind = (self.next_seq - seq) & _SEQ
            if behind < n:
                data = data[behind:]
        self.next_seq = (seq + n) & _SEQ
        return data


def _hello(proto: str, pieces: list[bytearray]) -> tuple[str | None, str | None]:
    """(handshake, SNI) of a TLS ClientHello opening a TCP stream or a QUIC Initial; never raises."""
    if not pieces:
        return None, None
    head = bytes(pieces[0])
    try:
        if proto == "tcp" and starts_like_tls_record(head):
            hello = parse_client_hello(head)
            if hello is not None:
                return "tls", hello.sni
        elif proto == "udp" and len(head) >= 1200 and head[0] & 0xC0 == 0xC0:  # long header, padded
            hello = quic_parse_client_hello_from_datagrams([bytes(p) for p in pieces[:4]])
            if hello is not None:
                return "quic", hello.sni
    except Exception:  # noqa: BLE001 - a device's garbage is not an error of the record
        pass
    return None, None


def _ip(frame: bytes, off: int, ethertype: int) -> tuple[bytes, bytes, int, int, int, bool] | None:
    """(source, destination, protocol, transport offset, end, later fragment) of an IP header."""
    if ethertype == _IP4:
        vihl = frame[off]
        ihl = (vihl & 15) * 4
        if vihl >> 4 != 4 or ihl < 20 or len(frame) < off + ihl:
            return None
        total = _U16(frame, off + 2)[0]
        end = off + total if ihl <= total and off + total <= len(frame) else len(frame)
        later = (_U16(frame, off + 6)[0] & 0x1FFF) != 0
        return frame[off + 12:off + 16], frame[off + 16:off + 20], frame[off + 9], off + ihl, end, later
    if len(frame) < off + 40 or frame[off] >> 4 != 6:
        return None
    plen, nh = _U16(frame, off + 4)[0], frame[off + 6]
    l4 = off + 40
    end = min(l4 + plen, len(frame)) if plen else len(frame)
    later = False
    while nh in _V6_EXTENSIONS and l4 + 8 <= end:
        if nh == 44:  # fragment header: offset in 8-byte units
            later = (_U16(frame, l4 + 2)[0] >> 3) != 0
            nh, l4 = frame[l4], l4 + 8
        elif nh == 51:  # authentication header: length in 4-byte units
            nh, l4 = frame[l4], l4 + (frame[l4 + 1] + 2) * 4
        else:
            nh, l4 = frame[l4], l4 + (frame[l4 + 1] + 1) * 8
    return frame[off + 8:off + 24], frame[off + 24:off + 40], nh, min(l4, end), end, later


class _Reader:
    """The state of one read: conversations by key, the device's MAC, the counters."""

    def __init__(self, device: bytes, linktype: int, since: float | None, until: float | None) -> None:
        self.dev, self.linktype, self.since, self.until = device, linktype, since, until
        self.mac: bytes | None = None
        self.pending: list[tuple[float, bytes]] = []
        self.convs: dict[tuple, _Conv] = {}
        self.device_packets = self.ipv6 = self.link = self.fragments = self.undecoded = 0
        self.unattributed = 0

    def _link(self, frame: bytes) -> tuple[int, int, bytes, bytes]:
        """(ethertype, network header offset, source MAC, destination MAC)."""
        if self.linktype == _ETHERNET:
            if len(frame) < 14:
                return 0, 0, b"", b""
            et, off = _U16(frame, 12)[0], 14
            while et in _VLAN and len(frame) >= off + 4:
                et, off = _U16(frame, off + 2)[0], off + 4
            return et, off, frame[6:12], frame[0:6]
        if self.linktype == _SLL:
            return (_U16(frame, 14)[0], 16, b"", b"") if len(frame) >= 16 else (0, 0, b"", b"")
        version = frame[0] >> 4 if frame else 0
        return {4: _IP4, 6: _IP6}.get(version, 0), 0, b"", b""

    def _learn(self, mac: bytes) -> None:
        self.mac = mac
        pending, self.pending = self.pending, []
        for ts, frame in pending:
            self.packet(ts, frame)

    def packet(self, ts: float, frame: bytes) -> None:
        if self.until is not None and ts > self.until:
            return
        et, off, smac, dmac = self._link(frame)
        if et == _ARP:
            self.link += 1
            if self.mac is None and len(frame) >= off + 28:
                arp = dpkt.arp.ARP(frame[off:off + 28])
                if arp.spa == self.dev:
                    self._learn(arp.sha)
            return
        if et not in (_IP4, _IP6):
            self.undecoded += 1
            return
        ip = _ip(frame, off, et)
        if ip is None:
            self.undecoded += 1
            return
        src, dst, proto, l4, end, later = ip
        if src == self.dev:
            out = True
            if self.mac is None and smac:
                self._learn(smac)
        elif dst == self.dev:
            out = False
            if self.mac is None and dmac and not dmac[0] & 1:
                self._learn(dmac)
        elif not smac:
            self.unattributed += 1
            return
        elif self.mac is None:
            if len(self.pending) < _PENDING:
                self.pending.append((ts, frame))
            else:
                self.unattributed += 1
            return
        elif smac == self.mac:
            out = True
        elif dmac == self.mac:
            out = False
        else:
            self.unattributed += 1
            return
        if later:
            self.fragments += 1
            return
        self._transport(ts, out, src, dst, proto, frame, l4, end, et == _IP6)

    def _transport(self, ts: float, out: bool, src: bytes, dst: bytes, proto: int, frame: bytes, l4: int,
                   end: int, v6: bool) -> None:
        flags = seq = None
        itype = None
        if proto == _TCP or proto == _UDP:
            if end - l4 < (20 if proto == _TCP else 8):
                self.undecoded += 1
                return
            sport, dport = _PORTS(frame, l4)
            if proto == _TCP:
                seq, flags = _U32(frame, l4 + 4)[0], frame[l4 + 13]
                data = frame[l4 + max(20, (frame[l4 + 12] >> 4) * 4):end]
                name = "tcp"
            else:
                data, name = frame[l4 + 8:end], "udp"
        else:
            sport = dport = None
            if proto == _IGMP or (proto == _ICMP6 and end > l4 and frame[l4] in _V6_LINK):
                self.link += 1
                return
            if proto == _ICMP or proto == _ICMP6:
                if end - l4 < 4:
                    self.undecoded += 1
                    return
                itype = _ICMP_REPLY.get(frame[l4], frame[l4])
                data, name = frame[l4 + 4:end], "icmp"
            else:
                data, name = frame[l4:end], f"other:{proto}"
        key = (name, src, sport, dst, dport, itype) if out else (name, dst, dport, src, sport, itype)
        conv = self.convs.get(key)
        if conv is None:
            conv = self.convs[key] = _Conv()
        conv.note(out, flags)
        if self.since is not None and ts < self.since:
            return  # before the span: only who opened it counts
        if flags is not None and out:
            data = conv.new_bytes(seq, flags, data)
        conv.add(ts, out, data, flags is not None)
        self.device_packets += 1
        self.ipv6 += v6

    def conversations(self) -> tuple[Conversation, ...]:
        out = []
        for (proto, dev, dport, peer, pport, itype), c in self.convs.items():
            if not c.packets:
                continue
            handshake, sni = _hello(proto, c.pieces)
            opened = c.syn_by if c.syn_by is not None else bool(c.first_by)
            out.append(Conversation(proto, _ntop(dev), dport, _ntop(peer), pport, c.first, c.last, c.packets,
                                    c.sent, tuple(bytes(p) for p in c.pieces), c.truncated, opened, sni,
                                    handshake, itype))
        out.sort(key=lambda c: (c.first, c.proto, c.peer_ip, c.peer_port or 0, c.device_port or 0))
        return tuple(out)


def _ntop(addr: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET if len(addr) == 4 else socket.AF_INET6, addr)


def _packed(ip: str) -> bytes:
    ip = ip.strip("[]").split("%")[0]
    try:
        return socket.inet_pton(socket.AF_INET6 if ":" in ip else socket.AF_INET, ip)
    except OSError as e:
        raise ValueError(f"device address {ip!r} is not an IP address") from e


def read(pcap: Path, device_ip: str, since: float | None = None, until: float | None = None) -> PacketRecord:
    """The device's conversations with timestamps in [since, until] (packets before `since` only
    say who opened a conversation); `damaged` says why the file cannot vouch, if it cannot.

    Packets neither from nor to `device_ip` are the device's when its link says so (its MAC,
    learnt from its own address): a device sends IPv6 from addresses it was never given.
    """
    path = str(pcap)
    dev = _packed(device_ip)
    try:
        fo = open(pcap, "rb")
    except FileNotFoundError:
        return _bad(path, "open", "no packet record (the file does not exist)")
    except OSError as e:
        return _bad(path, "open", f"no packet record ({e.strerror or e})")
    with fo:
        try:
            size = fo.seek(0, 2)
            if size == 0:
                return _bad(path, "byte 0", "no packet record (empty file)")
            mm = mmap.mmap(fo.fileno(), size, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as e:
            return _bad(path, "open", f"no packet record ({e})")
        with mm:
            return _read_mapped(path, mm, size, dev, since, until)


def _bad(path: str, where: str, why: str) -> PacketRecord:
    return PacketRecord(path, (), 0, str(CaptureFileError(path, where, why)))


def _read_mapped(path: str, mm: mmap.mmap, size: int, dev: bytes, since: float | None,
                 until: float | None) -> PacketRecord:
    head = mm[:24]
    if len(head) < 24 and any(m.startswith(head[:4]) for m in _MAGIC):
        return _bad(path, "byte 0", f"no packet record (the pcap header is cut off at {len(head)} bytes)")
    if head[:4] == _PCAPNG:
        return _bad(path, "byte 0", "a pcapng file, which is not read (tcpdump -w writes pcap)")
    if head[:4] not in _MAGIC:
        return _bad(path, "byte 0", f"not a pcap file (it starts {head[:4].hex()})")
    order, scale = _MAGIC[head[:4]]
    snaplen, linktype = struct.unpack_from(order + "II", head, 16)
    linktype &= 0x0FFFFFFF  # the upper bits carry FCS information
    if linktype not in _LINKTYPES:
        return _bad(path, "byte 20",
                    f"link type {linktype} is not read (Ethernet, raw IP and Linux cooked are)")
    st = _Reader(dev, linktype, since, until)
    record = struct.Struct(order + "IIII").unpack_from
    longest = max(snaplen, _MAX_RECORD)
    frac_limit = round(1 / scale)
    off, n, damaged, cut = 24, 0, None, False
    while off < size:
        if off + 16 > size:
            cut = True
            break
        sec, frac, incl, orig = record(mm, off)
        if incl > longest or incl > orig or frac >= frac_limit:
            damaged = str(CaptureFileError(path, f"byte {off}", (
                f"record {n} is corrupt (length {incl} of {orig}, time fraction {frac}); "
                "the rest of the file is not read")))
            break
        if off + 16 + incl > size:
            cut = True
            break
        frame = mm[off + 16:off + 16 + incl]
        n += 1
        off += 16 + incl
        try:
            st.packet(sec + frac * scale, frame)
        except (IndexError, struct.error, dpkt.UnpackError):
            st.undecoded += 1
    st.unattributed += len(st.pending)
    return PacketRecord(path, st.conversations(), n, damaged, st.device_packets, st.ipv6, st.link,
                        st.fragments, st.undecoded, st.unattributed, cut)
