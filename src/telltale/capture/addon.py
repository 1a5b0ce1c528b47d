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
  here, so no traffic leaves the machine.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from typing import IO

from mitmproxy import ctx, dns, http, io, tcp, udp
from mitmproxy.flow import Flow
from mitmproxy.tls import TlsData

from telltale.capture import offline

CONTROL_HOST = "telltale.invalid"
WINDOW_KEY = "telltale.window"
SERVER_IP_KEY = "telltale.server_ip"  # offline mode: the address the host map gives
log = logging.getLogger(__name__)


class State:
    """What the three addons share: the open window and the flows in flight."""

    def __init__(self) -> None:
        self.window: str | None = None
        self.pending: dict[str, str | None] = {}  # flow id -> window
        self.written = 0
        self.tls_failures: list[dict] = []


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
        if f.websocket is None:
            self._save(f)

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

    def tls_failed_client(self, data: TlsData):
        """The client refused our certificate (pinning): its traffic went unexamined."""
        sni = data.context.client.sni
        peer = data.context.server.address
        self.event(
            "tls_failed_client",
            sni=sni,
            server=f"{peer[0]}:{peer[1]}" if peer else None,
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
        loader.add_option("telltale_settle_ms", int, 5000, "Longest wait (ms) for in-flight flows at close.")

    def _reply(self, f: http.HTTPFlow, status: int, body: dict) -> None:
        f.metadata["telltale.control"] = True
        f.response = http.Response.make(
            status, json.dumps(body, sort_keys=True).encode(), {"content-type": "application/json"}
        )

    async def request(self, f: http.HTTPFlow):
        if f.request.pretty_host != CONTROL_HOST:
            return
        self.state.pending.pop(f.id, None)
        q = f.request.query
        path = f.request.path.split("?")[0]
        fo = self.recorder.fo
        offset = fo.tell() if fo is not None else 0
        if path == "/window/open":
            self.state.window = q.get("id") or None
            self._reply(f, 200, {"window": self.state.window, "offset": offset, "pid": os.getpid()})
        elif path == "/window/close":
            window = self.state.window
            self.state.window = None
            deadline = time.monotonic() + ctx.options.telltale_settle_ms / 1000
            while window in self.state.pending.values() and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            in_flight = sum(1 for w in self.state.pending.values() if w == window)
            tls = [e for e in self.state.tls_failures if e["window"] == window]
            offset = fo.tell() if fo is not None else 0
            self._reply(
                f, 200,
                {"window": window, "offset": offset, "in_flight": in_flight, "tls_failures": tls},
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

    def load(self, loader):
        loader.add_option(
            "telltale_upstream", str, "offline",
            "offline: answer every request here; live: pass traffic to the real servers.",
        )
        loader.add_option("telltale_hosts", str, "", "JSON file: host (or *.suffix) -> server IP.")

    def configure(self, updated):
        if ctx.options.telltale_upstream not in ("offline", "live"):
            raise ValueError("telltale_upstream must be 'offline' or 'live'")
        if "telltale_hosts" in updated and ctx.options.telltale_hosts:
            with open(ctx.options.telltale_hosts, encoding="utf-8") as fo:
                self.hosts = {k.lower(): v for k, v in json.load(fo).items()}

    def address_of(self, host: str) -> str | None:
        host = host.lower()
        if host in self.hosts:
            return self.hosts[host]
        labels = host.split(".")
        for i in range(1, len(labels)):
            ip = self.hosts.get("*." + ".".join(labels[i:]))
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
        status, headers, body = offline.answer(f.request.method, f.request.pretty_url)
        f.response = http.Response.make(status, body, headers)


_state = State()
_recorder = Recorder(_state)
addons = [_recorder, Control(_state, _recorder), OfflineUpstream()]
