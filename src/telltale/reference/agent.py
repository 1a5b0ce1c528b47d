"""A firmware-level telemetry agent, outside the web pages (the leaky reference build).

It runs as a lab firmware process: it finds each browser the device starts
(chromedriver starts Chromium with ``--remote-debugging-port=0`` and writes the
port to ``DevToolsActivePort`` in the profile folder), attaches to the browser
target, discovers every page, incognito ones too, and sends:

- each visited URL and each search query at once, to the "pages" host;
- a device identifier with app-usage events (tabs opened, pages switched), on a
  timer, to the "usage" host;
- with ``heartbeat`` set, the device's identifiers every so many seconds, a
  browser open or not, to the "usage" host.

With ``batch`` set it sends late, as analytics SDKs do: page and usage events
are held (each with the time it happened, ``t``) and sent together every
``batch`` seconds, when a browser it watches goes away (an app backgrounded) and
on SIGTERM before it exits.

Payloads are JSON, then encoded as configured (``base64``, ``gzip+base64``,
``json``, or ``xor``: with a timestamp, XORed with a fixed 4-byte key, which only a
differential run can see through); identifiers plain or hashed (``sha256``, ``md5``). The transport is
how real firmware gets past a lab that only reads the proxy setting:

- ``proxy``: HTTPS through the device's proxy setting (none: straight out);
- ``direct``: its own TLS connection to the server's address, as an SDK that
  ignores proxy settings does;
- ``udp``: datagrams to port 443, a QUIC-like channel no HTTP proxy sees;
- ``dns``: the visited site, search and identifiers hex-encoded in query names.

Telemetry settings come from ``--config FILE`` (JSON); what the device gives
every firmware process comes from the environment (``TELLTALE_DEVICE``,
``TELLTALE_DEVTOOLS_WATCH``, ``TELLTALE_CA_CERT``, ``TELLTALE_IDENTIFIERS``,
``TELLTALE_PROXY``). Run as ``python -m telltale.reference.agent --config FILE``.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import http.client
import itertools
import json
import logging
import os
import random
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import websocket

log = logging.getLogger("telltale.agent")
SEARCH_PARAMS = ("q", "query", "p", "text", "wd")
TRANSPORTS = ("proxy", "direct", "udp", "dns")
SERVICE_PORT = 443          # where direct and udp telemetry goes (tests point it at a local port)
DNS_PORT = 53               # the resolver's port (likewise)
RESOLV_CONF = "/etc/resolv.conf"
DNS_WAIT = 1.0              # seconds to wait for an answer nobody reads
DATAGRAM_MAX = 1200         # bytes per datagram: what fits a QUIC-sized packet
EXIT_FLUSH = 2.0            # seconds a SIGTERM leaves for sending what is held
HEX_LABEL = 60              # hex digits per DNS label (the limit is 63)
NAME_MAX = 253              # characters in a DNS name
ENV = {"device": "TELLTALE_DEVICE", "watch": "TELLTALE_DEVTOOLS_WATCH", "ca_cert": "TELLTALE_CA_CERT",
       "identifiers": "TELLTALE_IDENTIFIERS", "identifiers_file": "TELLTALE_IDENTIFIERS_FILE",
       "proxy": "TELLTALE_PROXY"}
XOR_KEY = b"\x5a\xc3\x17\x9e"  # baked into the build, as OEM telemetry keys are


@dataclass(frozen=True)
class AgentConfig:
    watch: str = ""                 # folder where browsers' profile folders appear
    ca_cert: str | None = None      # the CA the device trusts system-wide (the capture CA)
    proxy: str | None = None        # the device's proxy setting, e.g. http://127.0.0.1:8080; None: none
    identifiers: dict[str, str] = field(default_factory=dict)
    identifiers_file: str = ""      # read on each use when set: the lab may give a second set
    device: str = ""                # the device's name, for the log
    pages_url: str = "https://tracking.intl.miui.com/track/v4/pages"
    usage_url: str = "https://sa.api.intl.miui.com/sa?project=browser"
    encoding: str = "base64"        # base64 | gzip+base64 | json | xor
    id_hash: str = "none"           # none | sha256 | md5
    interval: float = 1.0           # seconds between app-usage batches (batch None only)
    transport: str = "proxy"        # proxy | direct | udp | dns
    addresses: dict[str, str] = field(default_factory=dict)  # host (or *.suffix) -> server IP
    batch: float | None = None      # seconds between sends of held page and usage events; None: at once
    heartbeat: float | None = None  # seconds between idle heartbeats with the identifiers; None: none

    def __post_init__(self) -> None:
        if self.transport not in TRANSPORTS:
            raise ValueError(f"unknown transport {self.transport!r} (one of {', '.join(TRANSPORTS)})")
        for name in ("interval", "batch", "heartbeat"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")

    @classmethod
    def load(cls, values: Mapping, environ: Mapping[str, str]) -> AgentConfig:
        """The file's settings; the firmware environment fills in what the file leaves out."""
        merged = dict(values)
        for key, var in ENV.items():
            if merged.get(key) is None and environ.get(var):
                merged[key] = json.loads(environ[var]) if key == "identifiers" else environ[var]
        return cls(**merged)


def encode(payload: dict, how: str) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    if how == "json":
        return raw, {"content-type": "application/json"}
    if how == "base64":
        return base64.b64encode(raw), {"content-type": "text/plain"}
    if how == "gzip+base64":
        return base64.b64encode(gzip.compress(raw)), {"content-type": "text/plain"}
    if how == "xor":  # a fixed key and a timestamp: no encoding a string matcher can undo
        raw = json.dumps({"ts": int(time.time() * 1000), **payload}, separators=(",", ":")).encode()
        return xor(raw, XOR_KEY), {"content-type": "application/octet-stream"}
    raise ValueError(f"unknown encoding {how!r}")


def xor(data: bytes, key: bytes) -> bytes:
    return bytes(b ^ key[i % len(key)] for i, b in enumerate(data))


def hashed(value: str, how: str) -> str:
    return value if how == "none" else hashlib.new(how, value.encode()).hexdigest()


def search_query(url: str) -> str | None:
    q = parse_qs(urlsplit(url).query)
    return next((q[p][0] for p in SEARCH_PARAMS if p in q), None)


def tls_context(ca_cert: str | None) -> ssl.SSLContext:
    """The system's trust plus the capture CA, as a lab build installs it system-wide."""
    ctx = ssl.create_default_context()
    if ca_cert:
        ctx.load_verify_locations(ca_cert)
    return ctx


def address_of(host: str, addresses: Mapping[str, str]) -> str:
    """The server address from the host map (exact, then ``*.suffix``), else the name to resolve."""
    host = host.lower()
    labels = host.split(".")
    keys = [host, *("*." + ".".join(labels[i:]) for i in range(1, len(labels)))]
    return next((addresses[k] for k in keys if k in addresses), host)


def http_request(url: str, body: bytes, headers: Mapping[str, str]) -> bytes:
    """A plain HTTP/1.1 POST, as a native SDK writes it on its own socket."""
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [f"POST {target} HTTP/1.1", f"Host: {parts.hostname}",
             *(f"{k}: {v}" for k, v in headers.items()),
             f"content-length: {len(body)}", "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def datagrams(body: bytes) -> list[bytes]:
    """The body in order, cut to datagrams a path never fragments."""
    return [body[i:i + DATAGRAM_MAX] for i in range(0, len(body), DATAGRAM_MAX)]


def dns_values(payload: dict) -> list[str]:
    """What a query name can carry: the visited site and search, or the device's identifiers."""
    if payload.get("event") == "page_view":
        values = [urlsplit(payload["url"]).hostname, payload.get("search")]
    else:
        values = list(payload.get("device", {}).values())
    return [v for v in values if v]


def query_name(value: str, seq: int, zone: str) -> str:
    """``<hex>.<seq>.<zone>``: one value's hex whole in one label where it fits, so it decodes as one run."""
    digits = value.encode().hex()
    labels = [digits[i:i + HEX_LABEL] for i in range(0, len(digits), HEX_LABEL)]
    suffix = f".{seq}.{zone}"
    while len(labels) > 1 and len(".".join(labels)) + len(suffix) > NAME_MAX:
        labels.pop()
    return ".".join(labels) + suffix


def dns_query(name: str) -> bytes:
    """An A query with recursion desired, as any stub resolver sends it."""
    header = struct.pack("!HHHHHH", random.getrandbits(16), 0x0100, 1, 0, 0, 0)
    qname = b"".join(bytes([len(label)]) + label.encode("ascii") for label in name.split("."))
    return header + qname + b"\0" + struct.pack("!HH", 1, 1)


def nameserver(resolv_conf: str) -> str:
    """The first ``nameserver`` of resolv.conf: where the system's own lookups go."""
    for line in Path(resolv_conf).read_text().splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            return words[1]
    raise OSError(f"no nameserver in {resolv_conf}")


def udp_target(host: str, port: int) -> tuple[int, tuple]:
    family, _, _, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    return family, addr


class Agent:
    def __init__(self, cfg: AgentConfig) -> None:
        self.cfg = cfg
        self.tls = tls_context(cfg.ca_cert)
        proxies = {"http": cfg.proxy, "https": cfg.proxy} if cfg.proxy else {}  # {}: not the env's
        self.http = urllib.request.build_opener(
            urllib.request.ProxyHandler(proxies), urllib.request.HTTPSHandler(context=self.tls))
        self.send = {"proxy": self.send_proxy, "direct": self.send_direct,
                     "udp": self.send_udp, "dns": self.send_dns}[cfg.transport]
        self.usage: list[dict] = []
        self.held_pages: list[dict] = []   # page events waiting for the next flush (batch set)
        self.lock = threading.Lock()
        self.flushing = threading.Lock()   # one flush at a time: held events go out in order
        self.stopping = threading.Event()
        self.seen_browsers: set[str] = set()
        self.seq = itertools.count(1)

    def identifiers(self) -> dict[str, str]:
        """The lab's current set (its file, re-read each time), else the ones the agent started with."""
        if self.cfg.identifiers_file:
            try:
                return dict(json.loads(Path(self.cfg.identifiers_file).read_text()))
            except (OSError, ValueError) as e:
                log.warning("identifiers file %s unreadable (%s): the ones it started with",
                            self.cfg.identifiers_file, e)
        return self.cfg.identifiers

    def device(self) -> dict:
        return {k: hashed(v, self.cfg.id_hash) for k, v in self.identifiers().items()}

    def post(self, url: str, payload: dict) -> None:
        try:
            self.send(url, payload)
        except Exception as e:  # noqa: BLE001 - a real agent retries later; a failed send must not stop it
            log.warning("%s to %s failed: %s: %s", self.cfg.transport, url, type(e).__name__, e)

    def send_proxy(self, url: str, payload: dict) -> None:
        """HTTPS as the device's settings say: through its proxy, or straight out without one."""
        body, headers = encode(payload, self.cfg.encoding)
        req = urllib.request.Request(url, data=body, headers=headers, method="POST")
        with self.http.open(req, timeout=10) as r:
            r.read()

    def send_direct(self, url: str, payload: dict) -> None:
        """A native SDK's own TLS connection: the server's address, the right SNI, no proxy."""
        body, headers = encode(payload, self.cfg.encoding)
        host = urlsplit(url).hostname or ""
        with socket.create_connection((address_of(host, self.cfg.addresses), SERVICE_PORT), 10) as raw, \
                self.tls.wrap_socket(raw, server_hostname=host) as tls:
            tls.sendall(http_request(url, body, headers))
            resp = http.client.HTTPResponse(tls)
            resp.begin()
        log.debug("direct to %s: %s", host, resp.status)

    def send_udp(self, url: str, payload: dict) -> None:
        """Datagrams to the server's port 443, no reply awaited: a channel an HTTP proxy never sees."""
        body, _ = encode(payload, self.cfg.encoding)
        host = urlsplit(url).hostname or ""
        family, addr = udp_target(address_of(host, self.cfg.addresses), SERVICE_PORT)
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            for chunk in datagrams(body):
                s.sendto(chunk, addr)

    def send_dns(self, url: str, payload: dict) -> None:
        """Query names under the telemetry host: any resolver on the way hands them on."""
        zone = urlsplit(url).hostname or ""
        seq = payload.get("seq") or next(self.seq)
        for value in dns_values(payload):
            self.resolve(query_name(value, seq, zone))

    def resolve(self, name: str) -> None:
        family, addr = udp_target(nameserver(RESOLV_CONF), DNS_PORT)
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.settimeout(DNS_WAIT)
            s.sendto(dns_query(name), addr)
            try:
                s.recv(4096)  # the answer does not matter; waiting for it is what a stub does
            except TimeoutError:
                pass

    def usage_event(self, kind: str, **fields) -> None:
        with self.lock:
            self.usage.append({"type": kind, "t": round(time.time(), 3), **fields})

    def page(self, url: str, incognito: bool) -> None:
        payload = {"event": "page_view", "seq": next(self.seq), "url": url,
                   "incognito": incognito, "device": self.device()}
        query = search_query(url)
        if query is not None:
            payload["search"] = query
        if self.cfg.batch is None:
            self.post(self.cfg.pages_url, payload)
            return
        payload["t"] = round(time.time(), 3)
        with self.lock:
            self.held_pages.append(payload)

    def flush_usage(self) -> None:
        with self.lock:
            events, self.usage = self.usage, []
        if events:
            self.post(self.cfg.usage_url, {"event": "app_usage", "device": self.device(),
                                           "events": events})

    def flush(self, why: str = "timer") -> None:
        """Send every held event: one POST per kind; over udp and dns each page event as its own message."""
        with self.flushing:
            with self.lock:
                pages, self.held_pages = self.held_pages, []
                held_usage = len(self.usage)
            if pages or held_usage:
                log.info("flush (%s): %d page events, %d usage events", why, len(pages), held_usage)
            if pages and self.cfg.transport in ("udp", "dns"):
                for payload in pages:
                    self.post(self.cfg.pages_url, payload)
            elif pages:
                self.post(self.cfg.pages_url, {"event": "page_views", "device": self.device(),
                                               "events": pages})
            self.flush_usage()

    def heartbeat(self) -> None:
        """The idle ping: the device's identifiers, a browser open or not."""
        self.post(self.cfg.usage_url, {"event": "heartbeat", "device": self.device(),
                                       "t": round(time.time(), 3)})

    def browser_closed(self, port_file: Path) -> None:
        """A watched browser went away (its DevTools socket closed): an SDK flushes on backgrounding."""
        log.info("browser at %s went away", port_file.parent)
        if self.cfg.batch is not None:
            self.flush("browser closed")

    def shutdown(self, grace: float = EXIT_FLUSH) -> None:
        """Stop the timers and send what is held, waiting at most `grace` seconds (SIGTERM's flush)."""
        self.stopping.set()
        if self.cfg.batch is None:
            return
        flusher = threading.Thread(target=self.flush, args=("exit",), daemon=True)
        flusher.start()
        flusher.join(grace)
        if flusher.is_alive():
            log.warning("exit: held events not all sent after %s s", grace)

    def watch_browser(self, port_file: Path) -> None:
        port, path = port_file.read_text().split()[:2]
        ws = websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=10,
                                         suppress_origin=True)
        ws.settimeout(None)
        try:
            ws.send(json.dumps({"id": 1, "method": "Target.setDiscoverTargets",
                                "params": {"discover": True}}))
            ws.send(json.dumps({"id": 999_999, "method": "Target.getBrowserContexts"}))
            self._follow(ws)
        finally:  # closed, or its messages made no sense: either way it is gone for us
            self.browser_closed(port_file)
            ws.close()

    def _follow(self, ws: websocket.WebSocket) -> None:
        """The browser's DevTools messages until its socket closes."""
        default_ctx: str | None = None
        urls: dict[str, str] = {}
        while True:
            try:
                msg = json.loads(ws.recv())
            except (websocket.WebSocketException, OSError, ValueError):
                return  # the browser went away
            if msg.get("id") == 999_999:
                default_ctx = (msg.get("result") or {}).get("defaultBrowserContextId")
            method = msg.get("method", "")
            info = (msg.get("params") or {}).get("targetInfo") or {}
            if info.get("type") != "page":
                continue
            tid, url = info.get("targetId"), info.get("url", "")
            if method == "Target.targetCreated":
                self.usage_event("tab_opened", tab=tid[:8])
            # every new URL of a tab counts (about:blank too), so a page loaded again is a new view
            changed = method in ("Target.targetCreated", "Target.targetInfoChanged")
            if changed and url and urls.get(tid) != url:
                urls[tid] = url
                if not url.startswith(("http://", "https://")):
                    continue
                incognito = bool(default_ctx) and info.get("browserContextId") != default_ctx
                self.usage_event("page_switched", tab=tid[:8], title=info.get("title", ""), url=url)
                if self.cfg.batch is None:  # a send: not in the way of the next message
                    threading.Thread(target=self.page, args=(url, incognito), daemon=True).start()
                else:  # held at once, so a flush on closing finds it
                    self.page(url, incognito)

    def start_timers(self) -> None:
        """Usage every `interval`, or everything held every `batch`; and the heartbeat, if set."""
        jobs = [(self.cfg.interval, self.flush_usage)] if self.cfg.batch is None else \
            [(self.cfg.batch, self.flush)]
        if self.cfg.heartbeat is not None:
            jobs.append((self.cfg.heartbeat, self.heartbeat))
        for period, action in jobs:
            threading.Thread(target=self._every, args=(period, action), daemon=True).start()

    def _every(self, period: float, action: Callable[[], None]) -> None:
        while not self.stopping.wait(period):
            action()

    def run(self) -> None:
        """Watch for browsers until `stopping` is set."""
        self.start_timers()
        watch = Path(self.cfg.watch)
        while not self.stopping.is_set():
            for port_file in watch.glob("*/DevToolsActivePort"):
                key = str(port_file.parent)
                if key in self.seen_browsers:
                    continue
                try:
                    port_file.read_text().split()[1]
                except (OSError, IndexError):
                    continue  # being written
                self.seen_browsers.add(key)
                threading.Thread(target=self._watch_safely, args=(port_file,), daemon=True).start()
            self.stopping.wait(0.05)

    def _watch_safely(self, port_file: Path) -> None:
        try:
            self.watch_browser(port_file)
        except Exception as e:  # noqa: BLE001 - one browser's end must not stop the agent
            log.warning("browser at %s: %s", port_file, e)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="leaky reference telemetry agent")
    ap.add_argument("--config", required=True, help="JSON file with the AgentConfig fields")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s agent %(message)s")
    try:
        cfg = AgentConfig.load(json.loads(Path(args.config).read_text()), os.environ)
        if not cfg.watch:
            raise ValueError(f"no DevTools folder to watch: set {ENV['watch']}")
        agent = Agent(cfg)  # reads the CA
    except (OSError, ValueError, TypeError) as e:
        log.error("cannot start with %s: %s", args.config, e)
        return 2
    log.info("device %s: %s transport, watching %s", cfg.device or "?", cfg.transport, cfg.watch)
    if cfg.batch is not None:  # without batch nothing is held: SIGTERM ends it as before
        signal.signal(signal.SIGTERM, lambda *_: agent.stopping.set())
    agent.run()
    agent.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
