"""Telltale's mitmproxy addon: write every flow as it completes, tagged with its window.

Loaded by mitmdump (``-s`` this file). Three concerns, one class each, after
mitmproxy's own addons:

- Recorder: appends each finished flow to the capture file and flushes, so a
  proxy that dies loses at most the flows still in flight. Each flow carries
  the scenario window that was open when its request arrived.
- Control: the harness opens and closes windows by requests to the reserved
  host ``telltale.invalid`` sent through the proxy itself; closing waits for the
  window's flows still in flight. Control requests are never recorded.
- OfflineUpstream: with ``telltale_upstream=offline`` every request is answered
  here, so no traffic leaves the machine: HTTP gets a page, DNS an address (the host
  map's, else one of 198.18.0.0/15), and raw TCP or UDP a local sink that keeps the
  original destination in the flow's metadata.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import logging
import os
import time
from typing import IO

from mitmproxy import ctx, dns, exceptions, http, io, tcp, udp
from mitmproxy.proxy import server_hooks
from mitmproxy.flow import Flow
from mitmproxy.tls import TlsData

from telltale.capture import offline
from telltale.capture.auth import RemoteClientAuth

CONTROL_HOST = "telltale.invalid"
WINDOW_KEY = "telltale.window"
SERVER_IP_KEY = "telltale.server_ip"  # offline mode: the address the host map gives
ORIGINAL_KEY = "telltale.original_address"  # offline raw TCP/UDP: where it was going (it went to the sink)
PROBE_HOST = "seal-probe.telltale.invalid"  # the seal probe (capture/boundary.py): answered and recorded
SYNTHETIC_NET = ipaddress.ip_network("198.18.0.0/15")  # RFC 2544: offline answers for unmapped names
log = logging.getLogger(__name__)


class State:
    """What the three addons share: the open window and the flows in flight."""

    def __init__(self) -> None:
        self.window: str | None = None
        self.pending: dict[str, str | None] = {}  # flow id -> window
        self.written = 0
        self.tls_failures: list[dict] = []
        self.tls_clients: list[tuple[str | None, str]] = []  # (window, "ip:port") TLS done with us


class Recorder:
    def __init__(self, state: State) -> None:
        self.state = state
        self.fo: IO[bytes] | None = None
        self.writer: io.FlowWriter | None = None
        self.events: IO[str] | None = None

    def load(self, loader):
        loader.add_option("telltale_capture", str, "", "Flow file to append every flow to.")
        loader.add_option("telltale_events", str, "", "JSON-lines file for events that are not flows.")

    def configure(self, updated):
        if "telltale_capture" in updated and ctx.options.telltale_capture:
            self.fo = open(ctx.options.telltale_capture, "ab")
            self.writer = io.FlowWriter(self.fo)
        if "telltale_events" in updated and ctx.options.telltale_events:
            self.events = open(ctx.options.telltale_events, "a", encoding="utf-8")

    def _tag(self, f: Flow) -> None:
        f.metadata[WINDOW_KEY] = self.state.window
        self.state.pending[f.id] = self.state.window

    def _save(self, f: Flow) -> None:
        self.state.pending.pop(f.id, None)
        if self.writer is None or f.metadata.get("telltale.control"):
            return
        self.writer.add(f)
        self.fo.flush()
        self.state.written += 1

    def event(self, kind: str, **fields) -> None:
        rec = {"event": kind, "time": time.time(), "window": self.state.window, **fields}
        if kind == "tls_failed_client":
            self.state.tls_failures.append(rec)
        if self.events is not None:
            self.events.write(json.dumps(rec, sort_keys=True) + "\n")
            self.events.flush()

    # HTTP (and WebSocket, which ends in websocket_end)
    def requestheaders(self, f: http.HTTPFlow):
        self._tag(f)

    def response(self, f: http.HTTPFlow):
        if f.metadata.get("telltale.refused"):  # a stranger (or an unconfigured client), not evidence
            self._refused(f)
            return
        if f.websocket is None:
            self._save(f)

    def http_connect_error(self, f: http.HTTPFlow):
        """A CONNECT answered with an error (a refused stranger's HTTPS): named, not saved."""
        if f.metadata.get("telltale.refused"):
            self._refused(f)

    def _refused(self, f: http.HTTPFlow) -> None:
        self.state.pending.pop(f.id, None)  # not in flight: a window's close must not wait for it
        self.event("proxy_auth_refused", client=str(f.client_conn.peername[0]), host=f.request.pretty_host)

    def error(self, f: http.HTTPFlow):
        if f.websocket is None:
            self._save(f)

    def websocket_end(self, f: http.HTTPFlow):
        self._save(f)

    # Raw TCP/UDP and DNS
    def tcp_start(self, f: tcp.TCPFlow):
        self._tag(f)

    def tcp_end(self, f: tcp.TCPFlow):
        self._save(f)

    def tcp_error(self, f: tcp.TCPFlow):
        self._save(f)

    def udp_start(self, f: udp.UDPFlow):
        self._tag(f)

    def udp_end(self, f: udp.UDPFlow):
        self._save(f)

    def udp_error(self, f: udp.UDPFlow):
        self._save(f)

    def dns_request(self, f: dns.DNSFlow):
        self._tag(f)

    def dns_response(self, f: dns.DNSFlow):
        self._save(f)

    def dns_error(self, f: dns.DNSFlow):
        self._save(f)

    def tls_established_client(self, data: TlsData):
        """The client accepted our TLS: a connection that then sends no request (a preconnect)
        was still examined; the packet record's account needs to know it."""
        client = data.context.client.peername
        if client:
            self.state.tls_clients.append((self.state.window, f"{client[0]}:{client[1]}"))
            del self.state.tls_clients[:-10000]
            # also on disk: the run-wide account of the packet record needs every one of them
            self.event("tls_established_client", client=f"{client[0]}:{client[1]}",
                       sni=data.context.client.sni)

    def tls_failed_client(self, data: TlsData):
        """The client refused our certificate (pinning): its traffic went unexamined."""
        sni = data.context.client.sni
        peer = data.context.server.address
        client = data.context.client.peername
        self.event(
            "tls_failed_client",
            sni=sni,
            server=f"{peer[0]}:{peer[1]}" if peer else None,
            client=f"{client[0]}:{client[1]}" if client else None,
            error=str(data.conn.error or ""),
        )

    def done(self):
        if self.fo is not None:
            self.fo.close()
        if self.events is not None:
            self.events.close()


class Control:
    def __init__(self, state: State, recorder: Recorder) -> None:
        self.state = state
        self.recorder = recorder

    def load(self, loader):
        loader.add_option("telltale_inflight_ms", int, 5000,
                          "Longest wait (ms) for in-flight flows at a window's close.")

    def _reply(self, f: http.HTTPFlow, status: int, body: dict) -> None:
        f.metadata["telltale.control"] = True
        f.response = http.Response.make(
            status, json.dumps(body, sort_keys=True).encode(), {"content-type": "application/json"}
        )

    async def request(self, f: http.HTTPFlow):
        if f.request.pretty_host == PROBE_HOST:  # recorded like any flow: the probe's proof
            f.response = http.Response.make(
                200, b"telltale-seal-probe " + f.request.path.encode(), {"content-type": "text/plain"})
            return
        if f.request.pretty_host != CONTROL_HOST:
            return
        self.state.pending.pop(f.id, None)
        q = f.request.query
        path = f.request.path.split("?")[0]
        fo = self.recorder.fo
        offset = fo.tell() if fo is not None else 0
        if path == "/window/open":
            self.state.window = q.get("id") or None
            self._reply(f, 200, {"window": self.state.window, "offset": offset, "pid": os.getpid(),
                                 "time": time.time()})
        elif path == "/window/close":
            window = self.state.window
            # The capture goes on between windows: what the device sends then is tagged with the
            # gap it fell in, for the run-wide sweep.
            self.state.window = f"gap-after:{window}" if window and not window.startswith("gap-") else None
            deadline = time.monotonic() + ctx.options.telltale_inflight_ms / 1000
            while window in self.state.pending.values() and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            in_flight = sum(1 for w in self.state.pending.values() if w == window)
            tls = [e for e in self.state.tls_failures if e["window"] == window]
            tls_clients = [c for w, c in self.state.tls_clients if w == window]
            offset = fo.tell() if fo is not None else 0
            self._reply(
                f, 200,
                {"window": window, "offset": offset, "in_flight": in_flight, "tls_failures": tls,
                 "tls_clients": tls_clients, "time": time.time()},
            )
        elif path == "/status":
            self._reply(
                f, 200,
                {"window": self.state.window, "written": self.state.written, "offset": offset,
                 "pid": os.getpid(), "upstream": ctx.options.telltale_upstream},
            )
        else:
            self._reply(f, 404, {"error": f"unknown control path {path}"})


class OfflineUpstream:
    """Answers every request; a host map gives hosts the server address they would have
    (so destination checks can judge where traffic would go, without the internet)."""

    def __init__(self) -> None:
        self.hosts: dict[str, str] = {}
        self.sinks: dict[str, tuple[str, int]] = {}

    def load(self, loader):
        loader.add_option(
            "telltale_upstream", str, "offline",
            "offline: answer every request here; live: pass traffic to the real servers.",
        )
        loader.add_option("telltale_hosts", str, "", "JSON file: host (or *.suffix) -> server IP.")

    async def running(self):
        if ctx.options.telltale_upstream != "offline":
            return
        # mitmproxy's resolver would ask this machine's name servers: offline, the lab answers.
        resolver = ctx.master.addons.get("dnsresolver")
        if resolver is not None:
            ctx.master.addons.remove(resolver)
        # Raw TCP and UDP open a server connection at once: offline it goes to local sinks.
        tcp_sink = await asyncio.start_server(_drain_tcp, "127.0.0.1", 0)
        loop = asyncio.get_running_loop()
        udp_transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                               local_addr=("127.0.0.1", 0))
        self.sinks = {"tcp": tcp_sink.sockets[0].getsockname()[:2],
                      "udp": udp_transport.get_extra_info("sockname")[:2]}
        self._sink_servers = (tcp_sink, udp_transport)

    def configure(self, updated):
        if ctx.options.telltale_upstream not in ("offline", "live"):
            # OptionsError: mitmproxy rolls the option back (a ValueError would only be logged, and a
            # bad value would then act as live: traffic to the real servers)
            raise exceptions.OptionsError("telltale_upstream must be 'offline' or 'live'")
        if "telltale_hosts" in updated and ctx.options.telltale_hosts:
            with open(ctx.options.telltale_hosts, encoding="utf-8") as fo:
                self.hosts = {k.lower(): v for k, v in json.load(fo).items()}

    def address_of(self, host: str) -> str | None:
        """The mapped address of a host: its own entry, else the nearest parent's (`name` and
        `*.name` both stand for the servers of the names under it, as a DNS zone does)."""
        host = host.lower().rstrip(".")
        if host in self.hosts:
            return self.hosts[host]
        labels = host.split(".")
        for i in range(1, len(labels)):
            parent = ".".join(labels[i:])
            ip = self.hosts.get("*." + parent) or (self.hosts.get(parent) if i < len(labels) - 1 else None)
            if ip:
                return ip
        return None

    def request(self, f: http.HTTPFlow):
        if f.response is not None or ctx.options.telltale_upstream != "offline":
            return
        ip = self.address_of(f.request.pretty_host)
        if ip:
            f.metadata[SERVER_IP_KEY] = ip
            f.server_conn.peername = (ip, f.request.port)
        status, headers, body = offline.answer(f.request.method, f.request.pretty_url, f.request.headers)
        f.response = http.Response.make(status, body, headers)

    def _to_sink(self, f: tcp.TCPFlow | udp.UDPFlow, kind: str) -> None:
        if ctx.options.telltale_upstream != "offline" or kind not in self.sinks:
            return
        addr = f.server_conn.address
        if addr and addr != self.sinks[kind]:
            f.metadata[ORIGINAL_KEY] = f"{addr[0]}:{addr[1]}"
            f.metadata[SERVER_IP_KEY] = self.address_of(f.server_conn.sni or "") or addr[0]
            f.server_conn.address = self.sinks[kind]

    def tcp_start(self, f: tcp.TCPFlow):
        self._to_sink(f, "tcp")

    def udp_start(self, f: udp.UDPFlow):
        self._to_sink(f, "udp")

    def server_connect(self, data: server_hooks.ServerConnectionHookData):
        """Offline, nothing connects out: a connection not yet sent to a sink is refused."""
        if ctx.options.telltale_upstream != "offline":
            return
        if data.server.address not in self.sinks.values():
            data.server.error = "offline upstream: the lab does not connect out"

    def dns_request(self, f: dns.DNSFlow):
        if f.response is not None or ctx.options.telltale_upstream != "offline":
            return
        answers = []
        for q in f.request.questions:
            if q.type != dns.types.A:
                continue  # no IPv6 in a sealed device's network; HTTPS/SVCB records: none
            mapped = self.address_of(q.name)
            if mapped and ipaddress.ip_address(mapped).version == 4:
                f.metadata[SERVER_IP_KEY] = mapped
                ip = ipaddress.IPv4Address(mapped)
            else:
                ip = synthetic_address(q.name)
            answers.append(dns.ResourceRecord.A(q.name, ip, ttl=60))
        f.response = f.request.succeed(answers)


def synthetic_address(name: str) -> ipaddress.IPv4Address:
    """A stable address for a name no map knows: the device connects to it, the capture answers."""
    h = int.from_bytes(hashlib.sha256(name.lower().encode()).digest()[:4], "big")
    return SYNTHETIC_NET[1 + h % (SYNTHETIC_NET.num_addresses - 2)]


async def _drain_tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The offline sink: reads what the device sends (the flow keeps it), answers nothing."""
    try:
        while await reader.read(65536):
            pass
    finally:
        writer.close()


_state = State()
_recorder = Recorder(_state)
addons = [RemoteClientAuth(), _recorder, Control(_state, _recorder), OfflineUpstream()]
