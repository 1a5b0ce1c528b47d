"""One device's capture, whatever its boundary: the proxy, and for a sealed device its
network, its packet record and the proof that the seal holds.

Fixtures start a station per device and stop it at the end; windows ask its witness
to account for every conversation of the packet record (capture/reconcile.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from telltale import procs
from telltale.capture import boundary, store
from telltale.capture.proxy import CaptureProxy, Listeners, WindowSpan
from telltale.errors import CaptureBroken, SetupError
from telltale.inventory import Device

PROBE_WINDOW = "seal-probe"
LATE_FLOW_S = 0.3  # what a flow in flight at a window's close takes to reach the capture file



def account_settled(witness, span: WindowSpan, flows: list) -> tuple[list, list[str], dict]:
    """A witness's account of a closed window, where what the packet record saw in flight at the
    close (the record sees a lookup before the capture writes its flow) is matched against the
    flows written just after the close; those stay out of the window's own flows (the run-wide
    sweep judges them as gap traffic). Costs nothing when everything is accounted for."""
    escaped, problems, accounted = witness.account(span, flows)
    if escaped:
        time.sleep(LATE_FLOW_S)
        later = [r.flow for r in store.read_records(span.capture, span.end) if r.error is None]
        if later:
            escaped, problems, accounted = witness.account(span, flows + later)
    return escaped, problems, accounted


@dataclass
class Witness:
    """The packet record of a sealed device's link, read per window against the flows."""

    pcap: Path
    device_ip: str
    recorder: boundary.PacketRecorder
    names: dict[str, str] = field(default_factory=dict)  # address -> the name the lab knows for it
    capture_ip: str = ""  # the lab's side of the link (only the seal probe talks to it)

    def learn_names(self, flows: list) -> None:
        """Addresses the device's resolver gave out: a datagram to one of them names its host."""
        from mitmproxy import dns

        for f in flows:
            if isinstance(f, dns.DNSFlow) and f.response is not None:
                for a in f.response.answers:
                    if a.type == dns.types.A:
                        self.names.setdefault(str(a.ipv4_address), a.name.lower().rstrip("."))

    def account(self, span: WindowSpan, flows: list) -> tuple[list, list[str], dict]:
        """(synthetic flows for what the proxy never examined, problems, summary) of one window."""
        problems = []
        dropped = self.recorder.dropped()
        if dropped is None:
            problems.append(f"the packet record of {self.pcap.name} cannot say whether it lost packets")
        elif dropped:
            problems.append(f"the packet record lost {dropped} packet(s) (dropped by kernel)")
        time.sleep(0.02)  # tcpdump -U writes each packet at once; let the last ones land
        out, more, summary = self._escaped(flows, span.tls_failures, set(span.tls_clients), span.window,
                                           span.opened, span.closed)
        return out, problems + more, summary

    def whole_run(self, flows: list, events: Sequence[dict] = ()) -> tuple[list, list[str]]:
        """What the packet record alone saw all run (for the run-wide sweep); `events` are the
        capture's (TLS it completed or that the client refused)."""
        tls_clients = {c for f in flows if (c := _client(f))}  # any connection the capture read
        tls_clients |= {e["client"] for e in events
                        if e.get("event") == "tls_established_client" and e.get("client")}
        refused = [e for e in events if e.get("event") == "tls_failed_client"]
        out, problems, _ = self._escaped(flows, refused, tls_clients, None, None, None)
        for f in out:
            peer = f.metadata.get(store.SERVER_IP_KEY)
            if f.metadata.get(store.UNEXAMINED_KEY, "").startswith("tcp") and peer != self.capture_ip:
                problems.append("the packet record shows a TCP connection with data that the capture "
                                f"never recorded: {f.metadata[store.UNEXAMINED_KEY]}")
        return out, problems

    def _escaped(self, flows: list, tls_failures, tls_clients: set[str], window: str | None,
                 since: float | None, until: float | None) -> tuple[list, list[str], dict]:
        from telltale.capture import packets, reconcile

        rec = packets.read(self.pcap, self.device_ip, since=since, until=until)
        if rec.damaged:
            return [], [f"packet record: {rec.damaged}"], {}
        # The harness's own connections are left out of the record (boundary.control_filter).
        r = reconcile.reconcile(rec, flows, tls_failures)
        summary = r.summary()
        # A TCP connection that carried nothing from the device (a keep-alive connection of an
        # earlier window closing, a connect with no data) has nothing to examine.
        # TLS the capture terminated with no request after it (a browser's preconnect) was
        # examined too: nothing but the handshake was sent.
        escaped = [c for c in r.not_examined if c.proto != "tcp" or c.bytes_sent]
        summary["empty-tcp"] = len(r.not_examined) - len(escaped)
        tls_only = [c for c in escaped
                    if c.proto == "tcp" and f"{c.device_ip}:{c.device_port}" in tls_clients]
        escaped = [c for c in escaped if c not in tls_only]
        summary["tls-no-request"] = len(tls_only)
        if window is not None:
            # Every TCP connection of a sealed device is redirected into the proxy: one without a
            # flow yet was still in flight at the window's close (its flow is written later). The
            # run-wide account judges it against every flow of the run; only UDP, ICMP and the
            # like are beyond the proxy here.
            pending = [c for c in escaped if c.proto == "tcp"]
            escaped = [c for c in escaped if c.proto != "tcp"]
            summary["tcp-in-flight"] = len(pending)
        self.learn_names(flows)
        out = []
        for c in escaped:
            f = reconcile.unexamined_flow(c, window)
            if not c.sni and c.peer_ip in self.names:
                f.metadata[store.SERVER_NAME_KEY] = self.names[c.peer_ip]
            out.append(f)
        summary["not-examined"] = len(escaped)
        return out, [], summary


def _client(f) -> str | None:
    peer = getattr(f.client_conn, "peername", None)
    return f"{peer[0]}:{peer[1]}" if peer and getattr(f.client_conn, "tls_established", False) else None


class Station:
    """Start, prove and stop one device's capture."""

    def __init__(self, device: Device, captures: Path, confdir: Path, logs: Path,
                 auth: str | None = None) -> None:
        self.device, self.captures, self.confdir, self.logs = device, captures, confdir, logs
        self.auth = auth
        self.network: boundary.SealedNetwork | None = None
        self.witness: Witness | None = None
        self.proxy: CaptureProxy | None = None
        self.proof: dict = {}

    @property
    def boundary(self) -> str:
        return self.device.boundary

    def start(self) -> CaptureProxy:
        d = self.device
        hosts = {h: str(ip) for h, ip in d.proxy.hosts.items()}
        try:
            if self.boundary == "sealed":
                self.proxy = self._start_sealed(hosts)
            elif self.boundary == "wireguard":
                self.proxy = self._start_wireguard(hosts)
            else:
                self.proxy = CaptureProxy(d.name, self.captures, self.confdir, upstream=d.proxy.upstream,
                                          host=d.proxy.host, port=d.proxy.port, hosts=hosts,
                                          log_dir=self.logs, auth=self.auth)
                self.proxy.start()
        except BaseException:
            self.stop()
            raise
        return self.proxy

    def _start_sealed(self, hosts: dict[str, str]) -> CaptureProxy:
        d = self.device
        net = self.network = boundary.SealedNetwork(d.name, offline=d.proxy.upstream == "offline")
        slot = net.create()
        ports = boundary.Ports(procs.free_port(slot.capture_ip), procs.free_port(slot.capture_ip))
        net.seal(ports)
        pcap = self.captures / f"{d.name}-link.pcap"
        self.captures.mkdir(parents=True, exist_ok=True)
        recorder = boundary.PacketRecorder(slot.host_if, pcap, self.logs / f"{d.name}-tcpdump.log",
                                           bpf=boundary.control_filter(slot))
        recorder.start()
        net.own(recorder.proc.pid, "tcpdump")
        # Offline, the host map says which name stands behind an address.
        self.witness = Witness(pcap, slot.device_ip, recorder,
                               names={ip: h for h, ip in hosts.items() if not h.startswith("*")},
                               capture_ip=slot.capture_ip)
        proxy = CaptureProxy(d.name, self.captures, self.confdir, upstream=d.proxy.upstream, hosts=hosts,
                             log_dir=self.logs, prefix=net.capture_prefix(),
                             listeners=Listeners("sealed", slot.capture_ip, ports.transparent, ports.dns))
        proxy.on_spawn = lambda pid: net.own(pid, "mitmdump")
        proxy.start()
        proxy.witness = self.witness
        self.prove(proxy)
        return proxy

    def _start_wireguard(self, hosts: dict[str, str]) -> CaptureProxy:
        from telltale.capture import wireguard

        d = self.device
        keyfile = wireguard.key_file(self.confdir.parent, d.name)
        wireguard.ensure_keys(keyfile)
        host, port = d.wireguard.listen, d.wireguard.port
        proxy = CaptureProxy(d.name, self.captures, self.confdir, upstream=d.proxy.upstream, hosts=hosts,
                             log_dir=self.logs, listeners=Listeners(
                                 "wireguard", wireguard_spec=wireguard.mode_spec(keyfile, host, port)))
        proxy.start()
        return proxy

    def prove(self, proxy: CaptureProxy) -> None:
        """The seal holds: its shape is right, a probe to an outside address lands in the capture,
        nothing reaches this machine's services, and the packet record sees what was dropped.
        Else CaptureBroken, which makes every scenario of the device broken."""
        net, w = self.network, self.witness
        assert net is not None and w is not None
        t0 = time.monotonic()
        problems = net.check_shape()
        proxy.open_window(f"{PROBE_WINDOW}-{self.device.name}")
        result = net.probe()
        span = proxy.close_window()
        problems += result.problems
        flows = [r.flow for r in store.read_records(span.capture, span.start, span.end) if r.flow is not None]
        if not any(getattr(f, "request", None) is not None and result.token in getattr(f.request, "path", "")
                   for f in flows):
            problems.append("the probe's connection is not in the flow file")
        synthetic, witness_problems, summary = w.account(span, flows)
        problems += witness_problems
        if not any(result.token.encode() in m.content for f in synthetic for m in f.messages):
            problems.append("the packet record did not show the probe's dropped UDP datagram")
        slot = net.slot
        self.proof = {"device": self.device.name, "boundary": self.device.boundary_text,
                      "namespace": slot.ns, "link": slot.host_if, "device_ip": slot.device_ip,
                      "capture_ip": slot.capture_ip, "probe": {"token": result.token, "window": span.window},
                      "accounted": summary, "problems": problems,
                      "seconds": round(time.monotonic() - t0, 3), "setup": {
                          k: round(v, 3) for k, v in net.timings.items()}}
        # Evidence of the seal, beside the captures (and so in the manifest).
        (self.captures / f"{self.device.name}-boundary.json").write_text(json.dumps(self.proof, indent=1))
        if problems:
            raise CaptureBroken(f"the sealed boundary of {self.device.name} is not proven: "
                                + "; ".join(problems))

    def exec_prefix(self) -> list[str]:
        return self.network.exec_prefix() if self.network else []

    @property
    def control_port(self) -> int | None:
        """The port of the Appium server inside a sealed device's namespace (None: pick a free one)."""
        return boundary.CONTROL_PORT if self.network else None

    @property
    def device_address(self) -> str:
        """Where servers of the device side listen (and the harness reaches them)."""
        return self.network.slot.device_ip if self.network and self.network.slot else "127.0.0.1"

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
        if self.witness is not None:
            self.witness.recorder.stop()
        if self.network is not None:
            self.network.teardown()


def require_boundary(device: Device) -> None:
    """Stop at once, with what to do, when this machine cannot give the device its boundary."""
    if device.boundary == "sealed":
        problem = boundary.requirements_problem()
        if problem:
            raise SetupError(f"device {device.name}: {problem}")
