"""STAND-IN for a `capture: wireguard` phone: wireguard-go in a network namespace plays the phone.

There is no phone here and no kernel WireGuard module, so the userspace wireguard-go is the
client. It starts in this namespace (its UDP socket stays here, where mitmdump's WireGuard
listener is on 127.0.0.1) and its TUN device is then moved into a fresh namespace ``ttwg<hex>``
whose only route is that device: like a phone with always-on VPN and "block connections without
VPN", every packet the namespace sends, TCP, UDP or DNS, can only go into the tunnel.

The capture is a real mitmdump with Telltale's addon, offline: it answers everything itself.
Traffic is sent only inside the namespace or on loopback. The one public address used
(47.241.10.20) is reached only from inside the namespace, i.e. through the tunnel, and an nft
table in the test's own namespace counts (and drops) any packet sent to it from here: the count
must stay 0.
DNS that mitmproxy's resolver would send on goes to a stub on a loopback address.
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
import re
import secrets
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from mitmproxy import dns

from telltale import procs
from telltale.capture import store, wireguard
from telltale.capture.addon import CONTROL_HOST
from telltale.capture.station import Station
from telltale.inventory import Device, WireGuardSettings

SERVER_IP = "47.241.10.20"  # reached only from inside the namespace: through the tunnel
STUB_ANSWER = ipaddress.IPv4Address("192.0.2.53")  # TEST-NET-1: never contacted
UAPI = Path("/var/run/wireguard")  # wireguard-go's control sockets (wg talks to them)


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root: network namespaces and a TUN device"
    for tool in ("wireguard-go", "wg", "ip", "nft"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not Path("/dev/net/tun").exists():
        return "no /dev/net/tun: wireguard-go cannot make its device"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")


def _run(*cmd: str, timeout: float = 30) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} -> {r.returncode}: {r.stderr.strip()}")
    return r.stdout


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _udp_listening(port: int) -> bool:
    """Whether something here has bound 127.0.0.1:port (UDP), without touching the port."""
    want = f"0100007F:{port:04X}"
    try:
        return any(line.split()[1] == want for line in Path("/proc/net/udp").read_text().splitlines()[1:])
    except (OSError, IndexError):
        return False


class DnsStub:
    """A resolver on a loopback address for mitmproxy's own resolver (it takes no port: 53)."""

    def __init__(self) -> None:
        self.ip = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
        self.names: list[str] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(0.2)
        self.sock.bind((self.ip, 53))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:  # a timeout (to see the stop), a closed socket or a bad packet: go on
                data, peer = self.sock.recvfrom(4096)
                q = dns.DNSMessage.unpack(data)
                self.names += [x.name for x in q.questions]
                answers = [dns.ResourceRecord.A(x.name, STUB_ANSWER)
                           for x in q.questions if x.type == dns.types.A]
                self.sock.sendto(q.succeed(answers).packed, peer)
            except (OSError, ValueError, struct.error):
                continue

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@dataclass
class Capture:
    """mitmdump with Telltale's addon: WireGuard on 127.0.0.1:wg_port, control via a regular proxy."""

    keyfile: Path
    keys: wireguard.WireGuardKeys
    wg_port: int
    ctl_port: int
    confdir: Path
    file: Path
    log: Path
    stub: DnsStub | None
    proc: subprocess.Popen | None = None
    exit_code: int | None = None

    def status(self) -> dict:
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({"http": f"http://127.0.0.1:{self.ctl_port}"}))
        with opener.open(f"http://{CONTROL_HOST}/status", timeout=2) as r:
            return json.loads(r.read())

    def answers(self) -> bool:
        try:
            return self.status().get("upstream") == "offline" and _udp_listening(self.wg_port)
        except (OSError, ValueError):
            return False

    def stop(self) -> None:
        if self.proc is not None and self.exit_code is None:
            self.exit_code = procs.stop(self.proc)

    def records(self) -> list[store.Record]:
        size = self.file.stat().st_size if self.file.exists() else 0
        return list(store.read_records(self.file, 0, size))


@pytest.fixture
def capture(ready, tmp_path) -> Iterator[Capture]:
    """The product's own capture for a `capture: wireguard` device (capture/station.py)."""
    try:
        stub = DnsStub()
    except OSError:  # port 53 taken on every loopback address: the resolver then fails, slowly
        stub = None
    port = _free_udp_port()
    device = Device(name="wg-stand-in", platform="android", appium="local", capture="wireguard",
                    wireguard=WireGuardSettings(listen="127.0.0.1", port=port))
    station = Station(device, tmp_path / "captures", ready.mitmproxy_conf, tmp_path / "logs")
    keyfile = wireguard.key_file(ready.state, device.name)
    try:
        proxy = station.start()
        cap = Capture(keyfile, wireguard.ensure_keys(keyfile), port, proxy.port, ready.mitmproxy_conf,
                      proxy.capture, proxy.log, stub, proxy.proc)
        if not procs.wait_until(cap.answers, 30, cap.proc):
            raise AssertionError(f"mitmdump did not start (exit {cap.proc.poll()}):\n{procs.tail(cap.log)}")
        yield cap
    finally:
        station.stop()
        if stub is not None:
            stub.close()


@dataclass
class StandIn:
    """The stand-in phone: wireguard-go's device alone in namespace `ns`."""

    ns: str
    iface: str
    proc: subprocess.Popen
    log: Path
    timings: dict[str, object] = field(default_factory=dict)

    def run(self, *cmd: str, timeout: float = 60) -> str:
        return _run("ip", "netns", "exec", self.ns, *cmd, timeout=timeout)


def _wg_conf(client_conf: str) -> str:
    """wg-quick's fields (Address, DNS) are not wg's: applied by hand (`ip`), as wg-quick does."""
    return "\n".join(line for line in client_conf.splitlines()
                     if line.split("=")[0].strip() not in ("Address", "DNS"))


def _new_name() -> str:
    taken = _run("ip", "netns", "list")
    while True:
        name = f"ttwg{secrets.token_hex(2)}"
        if name not in taken and not Path(f"/sys/class/net/{name}").exists():
            return name


@pytest.fixture
def guard() -> Iterator[Callable[[], int]]:
    """An nft table here that drops and counts anything sent to SERVER_IP outside the tunnel."""
    table = f"ttwg{secrets.token_hex(2)}"
    _run("nft", f"add table inet {table}")
    try:
        _run("nft", f"add chain inet {table} out "
             "{ type filter hook output priority -10 ; policy accept ; }")
        _run("nft", f"add rule inet {table} out ip daddr {SERVER_IP} counter drop")

        def leaked() -> int:
            listing = _run("nft", f"list table inet {table}")
            return sum(int(n) for n in re.findall(r"counter packets (\d+)", listing))

        yield leaked
    finally:
        subprocess.run(["nft", "delete", "table", "inet", table], capture_output=True, check=False)


@pytest.fixture
def stand_in(capture, tmp_path) -> Iterator[StandIn]:
    name = _new_name()
    log = tmp_path / "wireguard-go.log"
    t0 = time.monotonic()
    _run("ip", "netns", "add", name)
    proc = None
    try:
        # The UDP socket opens in the namespace wireguard-go runs in: this one, beside mitmdump.
        proc = procs.spawn(["wireguard-go", name], log, env={**os.environ, "WG_PROCESS_FOREGROUND": "1"})
        sock = UAPI / f"{name}.sock"
        if not procs.wait_until(sock.exists, 10, proc):
            raise AssertionError(f"wireguard-go did not start (exit {proc.poll()}):\n{procs.tail(log)}")
        conf = wireguard.client_config(capture.keys, f"127.0.0.1:{capture.wg_port}")
        wg_file = tmp_path / "wg-setconf.conf"
        wg_file.write_text(_wg_conf(conf) + "\n")
        _run("wg", "setconf", name, str(wg_file))
        # The device, not the process, goes into the namespace: the phone's side of the tunnel.
        _run("ip", "link", "set", name, "netns", name)
        _run("ip", "-n", name, "link", "set", "lo", "up")
        _run("ip", "-n", name, "addr", "add", wireguard.CLIENT_ADDRESS, "dev", name)
        _run("ip", "-n", name, "link", "set", name, "up")
        _run("ip", "-n", name, "route", "add", "default", "dev", name)
        _run("ip", "-n", name, "-6", "route", "add", "default", "dev", name)
        s = StandIn(name, name, proc, log)
        s.timings["tunnel_configured_s"] = time.monotonic() - t0
        yield s
    finally:
        if proc is not None:
            procs.stop(proc)  # wireguard-go removes its device and control socket
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        (UAPI / f"{name}.sock").unlink(missing_ok=True)
    assert name not in _run("ip", "netns", "list"), f"namespace {name} left behind"
    assert not Path(f"/sys/class/net/{name}").exists(), f"device {name} left behind"


# Runs inside the namespace: what the phone sends. HTTPS to a literal address, trusting the capture
# CA, with no proxy configured; then a DNS query to the tunnel's resolver (DNS = 10.0.0.53).
PHONE = r"""
import json, socket, ssl, struct, sys, time, urllib.request
ca, url, name, dns_ip = sys.argv[1:5]
t = time.monotonic()
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                     urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=ca)))
with opener.open(url, timeout=20) as r:
    status, body = r.status, r.read()
t_https = time.monotonic() - t
query = (struct.pack(">HHHHHH", 0x7474, 0x0100, 1, 0, 0, 0)
         + b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack(">HH", 1, 1))
t = time.monotonic()
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.settimeout(30)
    s.sendto(query, (dns_ip, 53))
    reply = s.recv(4096)
print(json.dumps({"status": status, "body": body[:300].decode("utf-8", "replace"), "https_s": t_https,
                  "dns_id": reply[:2].hex(), "dns_rcode": reply[3] & 15, "dns_s": time.monotonic() - t}))
"""


def _wait_for(cap: Capture, found: Callable[[list], object], timeout: float = 40.0) -> list[store.Record]:
    deadline = time.monotonic() + timeout
    while True:
        records = cap.records()
        if found(records) or time.monotonic() > deadline:
            return records
        time.sleep(0.05)


def test_stand_in_phone_wireguard_go_in_netns_sends_https_and_dns_into_the_capture(
        capture, guard, stand_in, record_property):
    """STAND-IN (wireguard-go in a netns for the phone): the phone's HTTPS and DNS are in the capture."""
    canary = secrets.token_hex(8)
    url = f"https://{SERVER_IP}/x?canary={canary}"
    name = f"canary-{canary}.example"

    t0 = time.monotonic()
    ca = capture.confdir / "mitmproxy-ca-cert.pem"
    phone = json.loads(stand_in.run(sys.executable, "-c", PHONE, str(ca), url, name, wireguard.CLIENT_DNS))
    stand_in.timings["https_incl_handshake_s"] = phone["https_s"]
    stand_in.timings["dns_s"] = phone["dns_s"]
    assert phone["status"] == 200 and phone["dns_id"] == "7474"
    assert int(_run("wg", "show", stand_in.iface, "latest-handshakes").split()[-1]) > 0, "no handshake"

    def http_flow(records):
        return [r.flow for r in records if r.flow is not None and r.flow.type == "http"
                and canary in r.flow.request.url]

    def dns_flow(records):
        return [r.flow for r in records if r.flow is not None and r.flow.type == "dns"
                and any(q.name == name for q in r.flow.request.questions)]

    records = _wait_for(capture, lambda rs: http_flow(rs) and dns_flow(rs))
    stand_in.timings["both_flows_recorded_s"] = time.monotonic() - t0
    (h,) = http_flow(records)
    (d,) = dns_flow(records)
    assert h.request.scheme == "https" and h.request.pretty_url == url
    assert h.response is not None and h.response.status_code == 200
    assert h.client_conn.proxy_mode.type_name == d.client_conn.proxy_mode.type_name == "wireguard"
    assert h.client_conn.peername[0] == d.client_conn.peername[0] == "10.0.0.1", "from inside the tunnel"
    assert h.server_conn.address == (SERVER_IP, 443) and d.server_conn.address == (wireguard.CLIENT_DNS, 53)
    assert all(r.error is None for r in records)
    assert guard() == 0, f"something here sent packets to {SERVER_IP} outside the tunnel"

    # mitmdump may crash on exit in WireGuard mode: the file is what is judged, not the exit code.
    capture.stop()
    after = capture.records()
    assert http_flow(after) and dns_flow(after) and all(r.error is None for r in after)

    stand_in.timings["mitmdump_exit_code"] = capture.exit_code
    stand_in.timings["dns_stub_asked"] = name in (capture.stub.names if capture.stub else [])
    for k, v in stand_in.timings.items():
        record_property(k, v)
    print("\nSTAND-IN timings:", json.dumps(stand_in.timings, default=str))
