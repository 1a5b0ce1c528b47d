"""The sealed capture boundary: a network namespace per device whose only way out is the capture.

A firmware that opens its own sockets, speaks UDP or asks a hard-coded resolver ignores a
proxy setting; it cannot ignore the network. Each sealed device gets a slot: a namespace
``tt<N>`` joined to this machine by one veth pair (``tt<N>h`` here, ``tt<N>d`` inside) on
10.201.N.0/30, and one nft table ``inet telltale_<N>`` that sends every TCP connection
to mitmdump's transparent listener and every DNS query (UDP and TCP 53) to its DNS
listener, and drops everything else the device sends (UDP such as QUIC, ICMP, IPv6),
after tcpdump on the link has recorded it. Nothing from the device is forwarded.

A slot is owned through an flock on ``/run/telltale/slot-<N>.lock``: the kernel drops
the lock when its process dies, so a slot whose lock can be taken while its namespace,
link or table still exist was left by a run that did not tear down, and is cleaned
(and said so) before use. The boundary is proven, not assumed (`prove`).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from telltale import procs
from telltale.errors import SetupError

RUN_DIR = Path(os.environ.get("TELLTALE_NETNS_STATE", "/run/telltale"))
SLOTS = 250
PROBE_HOST = "seal-probe.telltale.invalid"  # answered by the capture addon, and recorded
PROBE_MARK = b"telltale-seal-probe"


def _say(msg: str) -> None:
    print(f"telltale: {msg}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Slot:
    """The names and addresses of one sealed device's network."""

    n: int

    @property
    def ns(self) -> str:
        return f"tt{self.n}"

    @property
    def host_if(self) -> str:
        return f"tt{self.n}h"

    @property
    def dev_if(self) -> str:
        return f"tt{self.n}d"

    @property
    def table(self) -> str:
        return f"telltale_{self.n}"

    @property
    def capture_ip(self) -> str:
        return f"10.201.{self.n}.1"

    @property
    def device_ip(self) -> str:
        return f"10.201.{self.n}.2"

    @property
    def probe_net(self) -> str:
        """Off the device's link (so it goes to the capture), blackholed on this machine."""
        return f"10.201.{self.n}.4/30"

    @property
    def probe_ip(self) -> str:
        return f"10.201.{self.n}.6"

    @property
    def capture_gid(self) -> int:
        """The group mitmdump runs as: offline, nft drops anything that group sends off the link."""
        return 61000 + self.n


def _run(cmd: list[str], what: str, check: bool = True,
         input: str | None = None) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, capture_output=True, text=True, input=input)
    if check and r.returncode != 0:
        raise SetupError(f"sealed boundary: {what} failed (exit {r.returncode}): {' '.join(cmd)}: "
                         f"{(r.stderr or r.stdout).strip()[:400]}")
    return r


def requirements_problem() -> str | None:
    """Why this machine cannot seal a device, or None."""
    if os.geteuid() != 0:
        return ("capture: sealed needs root (it makes a network namespace, a veth link and nft "
                "rules per device); run as root, or set `capture: proxy` on the device in "
                "devices.yaml knowingly (then traffic that ignores the proxy setting is not seen)")
    missing = [p for p in ("ip", "nft", "tcpdump") if not shutil.which(p)]
    if missing:
        return (f"capture: sealed needs {', '.join(missing)} (Debian packages iproute2, nftables, "
                "tcpdump; `telltale setup` installs them)")
    return None


def _exists(kind: str, name: str) -> bool:
    if kind == "ns":
        return name in _run(["ip", "netns", "list"], "listing namespaces", check=False).stdout.split()
    if kind == "link":
        return _run(["ip", "link", "show", name], "", check=False).returncode == 0
    return _run(["nft", "list", "table", "inet", name], "", check=False).returncode == 0


def _kill_pid(pid: int, expect: str) -> bool:
    """Kill a recorded process if it is still the one we started (its command line says so)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    if expect not in cmdline:
        return False
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return False
    return True


def _wipe(slot: Slot, record: dict | None) -> list[str]:
    """Remove everything a slot may hold; what was found, for the message."""
    found = []
    for pid, expect in (record or {}).get("pids", []):
        if _kill_pid(int(pid), expect):
            found.append(f"process {pid}")
    if _exists("ns", slot.ns):
        pids = _run(["ip", "netns", "pids", slot.ns], "", check=False).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        if pids:
            found.append(f"{len(pids)} process(es) inside")
        _run(["ip", "netns", "delete", slot.ns], f"deleting namespace {slot.ns}", check=False)
        found.append(f"namespace {slot.ns}")
    if _exists("link", slot.host_if):
        _run(["ip", "link", "delete", slot.host_if], "", check=False)
        found.append(f"link {slot.host_if}")
    if _exists("table", slot.table):
        _run(["nft", "delete", "table", "inet", slot.table], "", check=False)
        found.append(f"nft table {slot.table}")
    r = _run(["ip", "route", "show", slot.probe_net], "", check=False)
    if r.stdout.strip():
        _run(["ip", "route", "delete", "blackhole", slot.probe_net], "", check=False)
    shutil.rmtree(Path("/etc/netns") / slot.ns, ignore_errors=True)
    return found


def _record_path(n: int) -> Path:
    return RUN_DIR / f"slot-{n}.json"


def _try_lock(n: int) -> IO | None:
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    fo = open(RUN_DIR / f"slot-{n}.lock", "a+")
    try:
        fcntl.flock(fo, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fo.close()
        return None
    return fo


def _read_record(n: int) -> dict | None:
    try:
        return json.loads(_record_path(n).read_text())
    except (OSError, ValueError):
        return None


def clean_stale(report: Callable[[str], None] = _say) -> list[str]:
    """Clean every slot a killed run left (its lock is free, its record or namespace remains)."""
    if not RUN_DIR.is_dir() or requirements_problem():
        return []
    messages = []
    names = set(_run(["ip", "netns", "list"], "", check=False).stdout.split())
    for n in range(SLOTS):
        slot = Slot(n)
        if not _record_path(n).exists() and slot.ns not in names:
            continue
        lock = _try_lock(n)
        if lock is None:
            continue  # a live run owns it
        try:
            record = _read_record(n)
            found = _wipe(slot, record)
            _record_path(n).unlink(missing_ok=True)
            if found:
                who = (f"device {record.get('device')}, run pid {record.get('owner')}" if record
                       else "unknown run")
                msg = (f"cleaned what a run that ended without teardown left in slot {n} ({who}): "
                       + ", ".join(found))
                report(msg)
                messages.append(msg)
        finally:
            lock.close()
    return messages


@dataclass(frozen=True)
class Ports:
    transparent: int
    dns: int


class SealedNetwork:
    """One device's namespace, link and rules; `create` then `teardown` (also after errors)."""

    def __init__(self, device: str, offline: bool = True) -> None:
        self.device, self.offline = device, offline
        self.slot: Slot | None = None
        self._lock: IO | None = None
        self.pids: list[tuple[int, str]] = []
        self.ports: Ports | None = None
        self.timings: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"SealedNetwork({self.device}, {self.slot.ns if self.slot else 'not created'})"

    # -- ownership ---------------------------------------------------------------------------
    def _claim(self) -> Slot:
        for n in range(SLOTS):
            lock = _try_lock(n)
            if lock is None:
                continue
            slot = Slot(n)
            found = _wipe(slot, _read_record(n))
            if found:
                _say(f"cleaned what a run that ended without teardown left in slot {n}: {', '.join(found)}")
            self._lock = lock
            return slot
        raise SetupError(f"sealed boundary for {self.device}: all {SLOTS} slots are in use")

    def _save(self) -> None:
        assert self.slot is not None
        _record_path(self.slot.n).write_text(json.dumps({
            "device": self.device, "owner": os.getpid(), "ns": self.slot.ns,
            "pids": self.pids, "time": time.time()}))

    def own(self, pid: int, expect: str) -> None:
        """Record a process of ours (mitmdump, tcpdump) so a later run can clean it up."""
        self.pids.append((pid, expect))
        self._save()

    # -- set-up --------------------------------------------------------------------------------
    def create(self) -> Slot:
        """Namespace, veth, addresses, routes, resolv.conf; the nft rules come with `seal`."""
        problem = requirements_problem()
        if problem:
            raise SetupError(f"device {self.device}: {problem}")
        t0 = time.monotonic()
        s = self.slot = self._claim()
        self._save()
        nsdir = Path("/etc/netns") / s.ns
        nsdir.mkdir(parents=True, exist_ok=True)
        # The device's resolver is the capture (its DNS listener, behind the nft redirect).
        (nsdir / "resolv.conf").write_text(f"nameserver {s.capture_ip}\n")
        (nsdir / "hosts").write_text(f"127.0.0.1 localhost\n{s.device_ip} device\n")
        batch = [
            ["ip", "netns", "add", s.ns],
            ["ip", "link", "add", s.host_if, "type", "veth", "peer", "name", s.dev_if],
            ["ip", "link", "set", s.dev_if, "netns", s.ns],
            ["ip", "addr", "add", f"{s.capture_ip}/30", "dev", s.host_if],
            ["ip", "link", "set", s.host_if, "up"],
            # IPv6 off on both ends: every packet the device sends is IPv4, redirected or dropped.
            ["sysctl", "-q", "-w", f"net.ipv6.conf.{s.host_if}.disable_ipv6=1"],
            ["ip", "netns", "exec", s.ns, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1"],
            ["ip", "netns", "exec", s.ns, "sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1"],
            ["ip", "-n", s.ns, "addr", "add", f"{s.device_ip}/30", "dev", s.dev_if],
            ["ip", "-n", s.ns, "link", "set", "lo", "up"],
            ["ip", "-n", s.ns, "link", "set", s.dev_if, "up"],
            ["ip", "-n", s.ns, "route", "add", "default", "via", s.capture_ip],
            # The probe's target: off the device's link, and going nowhere from this machine.
            ["ip", "route", "replace", "blackhole", s.probe_net],
        ]
        for cmd in batch:
            _run(cmd, f"setting up {s.ns}")
        self.timings["network"] = time.monotonic() - t0
        return s

    def seal(self, ports: Ports) -> None:
        """The nft table: TCP to the transparent listener, DNS to the DNS listener, rest dropped."""
        s = self.slot
        assert s is not None
        self.ports = ports
        t0 = time.monotonic()
        guard = ""
        if self.offline:
            # Offline, the capture itself can never reach out: anything its group sends that is
            # not a reply on the device's link or loopback is dropped.
            guard = f"""
  chain capture_out {{
    type filter hook output priority filter; policy accept;
    meta skgid {s.capture_gid} oifname != {{ "lo", "{s.host_if}" }} counter drop
  }}"""
        rules = f"""
table inet {s.table} {{
  chain device_in {{
    type filter hook prerouting priority raw; policy accept;
    iifname "{s.host_if}" meta nfproto ipv6 counter drop
    iifname "{s.host_if}" meta l4proto tcp accept
    iifname "{s.host_if}" udp dport 53 accept
    iifname "{s.host_if}" counter drop
  }}
  chain device_nat {{
    type nat hook prerouting priority dstnat; policy accept;
    iifname "{s.host_if}" udp dport 53 redirect to :{ports.dns}
    iifname "{s.host_if}" tcp dport 53 redirect to :{ports.dns}
    iifname "{s.host_if}" meta l4proto tcp redirect to :{ports.transparent}
  }}
  chain device_local {{
    type filter hook input priority filter; policy accept;
    iifname "{s.host_if}" ct state established,related accept
    iifname "{s.host_if}" tcp dport {{ {ports.transparent}, {ports.dns} }} accept
    iifname "{s.host_if}" udp dport {ports.dns} accept
    iifname "{s.host_if}" counter drop
  }}
  chain device_forward {{
    type filter hook forward priority filter; policy accept;
    iifname "{s.host_if}" counter drop
    oifname "{s.host_if}" counter drop
  }}{guard}
}}
"""
        _run(["nft", "-f", "-"], f"loading nft table {s.table}", input=rules)
        self.timings["rules"] = time.monotonic() - t0

    def exec_prefix(self) -> list[str]:
        """Prefix that runs a command inside the device's network (and its resolv.conf)."""
        assert self.slot is not None
        return ["ip", "netns", "exec", self.slot.ns]

    def capture_prefix(self) -> list[str]:
        """Prefix that runs the capture in its own group (the offline output guard matches it)."""
        assert self.slot is not None
        return ["setpriv", f"--regid={self.slot.capture_gid}", "--clear-groups", "--"]

    # -- proof ---------------------------------------------------------------------------------
    def check_shape(self) -> list[str]:
        """Problems with the namespace's shape: links, addresses, routes, the rules' presence."""
        s = self.slot
        assert s is not None
        problems = []
        links = _run(["ip", "-n", s.ns, "-o", "link", "show"], "listing links", check=False).stdout
        names = sorted(line.split(":")[1].strip().split("@")[0] for line in links.splitlines() if ":" in line)
        if names != sorted(["lo", s.dev_if]):
            problems.append(f"namespace {s.ns} has links {names}, expected lo and {s.dev_if}")
        routes = _run(["ip", "-n", s.ns, "-4", "route", "show"], "", check=False).stdout.splitlines()
        defaults = [" ".join(r.split()) for r in routes if r.startswith("default")]
        if defaults != [f"default via {s.capture_ip} dev {s.dev_if}"]:
            problems.append(f"namespace {s.ns} default routes {defaults}, expected only via {s.capture_ip}")
        v6 = _run(["ip", "-n", s.ns, "-6", "addr", "show"], "", check=False).stdout.strip()
        if v6:
            problems.append(f"namespace {s.ns} has IPv6 addresses")
        if not _exists("table", s.table):
            problems.append(f"nft table {s.table} is missing")
        return problems

    def probe(self, timeout: float = 3.0) -> ProbeResult:
        """From inside: TCP to an outside address must land in the capture (it answers with the
        probe mark); TCP and UDP to a service of this machine must not reach that service; a UDP
        datagram is sent for the packet record to show (checked by the caller against the pcap)."""
        s = self.slot
        assert s is not None
        token = secrets.token_hex(8)
        tcp_srv = socket.create_server((s.capture_ip, 0))
        tcp_srv.settimeout(0)
        udp_srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp_srv.bind((s.capture_ip, 0))
        udp_srv.settimeout(0)
        cmd = [*self.exec_prefix(), sys.executable, "-m", "telltale.capture.probe",
               "--outside", f"{s.probe_ip}:80", "--host", PROBE_HOST, "--token", token,
               "--local-tcp", f"{s.capture_ip}:{tcp_srv.getsockname()[1]}",
               "--local-udp", f"{s.capture_ip}:{udp_srv.getsockname()[1]}",
               "--udp", f"{s.probe_ip}:443", "--timeout", str(timeout)]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout * 4 + 5)
            out = json.loads(r.stdout or "{}") if r.returncode == 0 else {"error": r.stderr.strip()[-300:]}
            reached = []
            try:
                conn, _ = tcp_srv.accept()
                conn.close()
                reached.append("a TCP service of this machine")
            except (BlockingIOError, OSError):
                pass
            try:
                udp_srv.recvfrom(2048)
                reached.append("a UDP service of this machine")
            except (BlockingIOError, OSError):
                pass
        finally:
            tcp_srv.close()
            udp_srv.close()
        return ProbeResult(token, bool(out.get("outside_captured")), tuple(reached),
                           str(out.get("error") or out.get("outside_error") or ""))

    # -- teardown ------------------------------------------------------------------------------
    def teardown(self) -> None:
        if self.slot is None:
            return
        t0 = time.monotonic()
        _wipe(self.slot, {"pids": self.pids})
        _record_path(self.slot.n).unlink(missing_ok=True)
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        self.timings["teardown"] = time.monotonic() - t0
        self.slot = None


@dataclass(frozen=True)
class ProbeResult:
    token: str
    outside_captured: bool  # the TCP probe to an outside address was answered by the capture
    reached_machine: tuple[str, ...]  # services of this machine the device could reach
    error: str

    @property
    def problems(self) -> list[str]:
        out = []
        if not self.outside_captured:
            out.append("a connection from the device to an outside address did not arrive in the capture"
                       + (f" ({self.error})" if self.error else ""))
        out += [f"the device reached {what}" for what in self.reached_machine]
        return out


BUFFER_KIB = 32768  # tcpdump's kernel buffer: a loaded machine must not drop the device's packets
CONTROL_PORT = 4723  # Appium's own default; each namespace has its own ports, so it is always free


def control_filter(slot: Slot, port: int = CONTROL_PORT) -> str:
    """A pcap filter leaving out the harness's control connection to the Appium server inside the
    namespace: it carries what the harness types (a test's secrets), and it is not the device's."""
    cap, dev = slot.capture_ip, slot.device_ip
    return (f"not ((src host {cap} and dst host {dev} and tcp dst port {port}) or "
            f"(src host {dev} and tcp src port {port} and dst host {cap}))")


class PacketRecorder:
    """tcpdump on the device's link for the whole run: the boundary's independent witness."""

    def __init__(self, interface: str, pcap: Path, log: Path, bpf: str = "") -> None:
        self.interface, self.pcap, self.log, self.bpf = interface, pcap, log, bpf
        self.proc: subprocess.Popen | None = None
        self.dropped_before = 0  # the kernel's count at the last look (tcpdump's is cumulative)

    def start(self, prefix: list[str] | None = None) -> None:
        if self.pcap.exists() and self.pcap.stat().st_size:
            raise SetupError(f"{self.pcap} exists: a packet record is never overwritten")
        # --immediate-mode and -U: without them the last second of packets is lost at stop.
        cmd = [*(prefix or []), "tcpdump", "-Z", "root", "-i", self.interface, "-n", "-U",
               "--immediate-mode", "-s", "0", "-B", str(BUFFER_KIB), "-w", str(self.pcap),
               *([self.bpf] if self.bpf else [])]
        self.proc = procs.spawn(cmd, self.log)
        procs.ready_or_fail(self.proc, lambda: "listening on" in procs.tail(self.log, 5), 10, self.log,
                            f"packet record on {self.interface} did not start", lambda: procs.stop(self.proc))

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def dropped(self, wait: float = 1.0) -> int | None:
        """Packets the kernel dropped before tcpdump saw them since the last call (asked with
        SIGUSR1); None if unknown."""
        total = self._dropped_total(wait)
        if total is None:
            return None
        new, self.dropped_before = total - self.dropped_before, total
        return new

    def _dropped_total(self, wait: float) -> int | None:
        if not self.alive():
            return None
        before = self.log.read_text(errors="replace").count("dropped by kernel")
        os.kill(self.proc.pid, signal.SIGUSR1)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            if text.count("dropped by kernel") > before:
                found = re.findall(r"(\d+) packets? dropped by kernel", text)
                return int(found[-1]) if found else None
            time.sleep(0.01)
        return None

    def stop(self) -> int | None:
        return procs.stop(self.proc) if self.proc is not None else None
