"""The leaky reference agent: every encoding and transport it uses is one the lab sees through.

Transports are tried against real sockets on 127.0.0.1 only: the host map points
the telemetry host there, and the service and resolver ports are the test's own.
"""

import base64
import hashlib
import json
import queue
import re
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from mitmproxy import dns, http
from mitmproxy.certs import CertStore
from mitmproxy.test import tflow

from telltale.detect import Canary, scan_flows
from telltale.inventory import Device, ProxySettings, TelemetryAgent
from telltale.reference import agent as agent_mod
from telltale.reference.agent import Agent, AgentConfig, encode, hashed, search_query
from telltale.reference.launch import agent_command, agent_env

URL = "https://tt-0123456789.example.net/read/abcdef0123?q=zebra+telltale+5a5a5a5a5a5a"
IMEI = "867530900000001"
HOST = "tracking.example.test"
LOCAL = {HOST: "127.0.0.1"}


@pytest.mark.parametrize("encoding", ["json", "base64", "gzip+base64"])
@pytest.mark.parametrize("id_hash", ["none", "sha256", "md5"])
def test_agent_payload_is_found_in_every_encoding(encoding, id_hash):
    payload = {"event": "page_view", "url": URL, "search": search_query(URL),
               "device": {"imei": hashed(IMEI, id_hash)}}
    body, headers = encode(payload, encoding)
    f = tflow.tflow(resp=True)
    f.request = http.Request.make("POST", "https://tracking.intl.miui.com/track", body, headers)
    result = scan_flows([f], [Canary("url", URL), Canary("term", "zebra telltale 5a5a5a5a5a5a"),
                              Canary("imei", IMEI, "identifier")])
    assert {x.canary for x in result.findings} == {"url", "term", "imei"}
    if encoding != "json":
        assert all("base64" in x.chain for x in result.findings)


def test_clean_twin_payload_is_not_flagged():
    body, headers = encode({"event": "page_view", "url": "https://other.example/"}, "base64")
    f = tflow.tflow(resp=True)
    f.request = http.Request.make("POST", "https://tracking.intl.miui.com/track", body, headers)
    assert scan_flows([f], [Canary("url", URL), Canary("imei", IMEI, "identifier")]).findings == ()


def test_search_query_is_read_from_the_url():
    assert search_query(URL) == "zebra telltale 5a5a5a5a5a5a"
    assert search_query("https://a.example/read/1") is None


def _cfg(**kw) -> AgentConfig:
    return AgentConfig(pages_url=f"https://{HOST}/track/v4/pages?app=browser", addresses=LOCAL,
                       identifiers={"imei": IMEI}, **kw)


def _udp_socket() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(5)
    return s


def test_udp_transport_sends_the_encoded_payload_in_a_datagram(monkeypatch):
    with _udp_socket() as server:
        monkeypatch.setattr(agent_mod, "SERVICE_PORT", server.getsockname()[1])
        Agent(_cfg(transport="udp")).page(URL, incognito=True)
        data = server.recv(65536)
    payload = json.loads(base64.b64decode(data))
    assert payload["url"] == URL and payload["incognito"] is True
    assert payload["search"] == "zebra telltale 5a5a5a5a5a5a" and payload["device"] == {"imei": IMEI}


def test_udp_transport_cuts_a_long_payload_into_datagrams_in_order(monkeypatch):
    long_url = f"https://tt-0123456789.example.net/read/{'ab' * 1500}"
    with _udp_socket() as server:
        monkeypatch.setattr(agent_mod, "SERVICE_PORT", server.getsockname()[1])
        Agent(_cfg(transport="udp")).page(long_url, incognito=False)
        body, _ = encode({"event": "page_view", "seq": 1, "url": long_url, "incognito": False,
                          "device": {"imei": IMEI}}, "base64")
        chunks = [server.recv(65536) for _ in range(-(-len(body) // agent_mod.DATAGRAM_MAX))]
    assert all(len(c) <= agent_mod.DATAGRAM_MAX for c in chunks)
    assert json.loads(base64.b64decode(b"".join(chunks)))["url"] == long_url


@pytest.fixture
def tls_server(tmp_path, monkeypatch):
    """A TLS server on 127.0.0.1 with a capture-CA certificate for HOST; records SNI and request."""
    store = CertStore.from_store(tmp_path, "mitmproxy", 2048)
    entry = store.get_cert(HOST, [x509.DNSName(HOST)])
    (tmp_path / "cert.pem").write_bytes(entry.cert.to_pem())
    (tmp_path / "key.pem").write_bytes(entry.privatekey.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    seen: dict = {}
    ctx.sni_callback = lambda _sock, name, _ctx: seen.__setitem__("sni", name)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    monkeypatch.setattr(agent_mod, "SERVICE_PORT", listener.getsockname()[1])

    def serve():
        conn, _ = listener.accept()
        with ctx.wrap_socket(conn, server_side=True) as tls:
            data = b""
            while b"\r\n\r\n" not in data:
                data += tls.recv(65536)
            head, body = data.split(b"\r\n\r\n", 1)
            length = int(next(v for k, v in (line.split(b": ", 1) for line in head.split(b"\r\n")[1:])
                              if k.lower() == b"content-length"))
            while len(body) < length:
                body += tls.recv(65536)
            seen["head"], seen["body"] = head.decode(), body
            tls.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield tmp_path / "mitmproxy-ca-cert.pem", seen, t
    listener.close()


def test_direct_transport_opens_its_own_tls_connection_with_the_hosts_sni(tls_server):
    ca, seen, server = tls_server
    # A proxy setting that leads nowhere: the direct transport must not use it.
    Agent(_cfg(transport="direct", ca_cert=str(ca), proxy="http://127.0.0.1:9")).page(URL, incognito=False)
    server.join(10)
    assert seen["sni"] == HOST
    lines = seen["head"].split("\r\n")
    assert lines[0] == "POST /track/v4/pages?app=browser HTTP/1.1"
    headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:])}
    assert headers["host"] == HOST and headers["connection"] == "close"
    assert headers["content-type"] == "text/plain" and int(headers["content-length"]) == len(seen["body"])
    assert json.loads(base64.b64decode(seen["body"]))["url"] == URL


@pytest.fixture
def resolver(tmp_path, monkeypatch):
    """A UDP socket on 127.0.0.1 that the agent's resolv.conf names; it answers NXDOMAIN."""
    sock = _udp_socket()
    conf = "# lab\nsearch lab.test\nnameserver 127.0.0.1\nnameserver 127.0.0.2\n"  # the first one is asked
    (tmp_path / "resolv.conf").write_text(conf)
    monkeypatch.setattr(agent_mod, "RESOLV_CONF", str(tmp_path / "resolv.conf"))
    monkeypatch.setattr(agent_mod, "DNS_PORT", sock.getsockname()[1])
    queries: list[dns.DNSMessage] = []

    def answer():
        while True:
            try:
                data, peer = sock.recvfrom(4096)
            except OSError:
                return
            msg = dns.DNSMessage.unpack(data)
            queries.append(msg)
            sock.sendto(msg.fail(3).packed, peer)

    threading.Thread(target=answer, daemon=True).start()
    yield queries
    sock.close()


def test_dns_transport_carries_site_and_search_hex_encoded_in_query_names(resolver):
    site = urllib.parse.urlsplit(URL).hostname
    agent = Agent(_cfg(transport="dns"))
    agent.page(URL, incognito=False)
    agent.usage_event("tab_opened", tab="abc")
    agent.flush_usage()
    names = [q.questions[0].name for q in resolver]
    assert all(q.query and q.recursion_desired and q.questions[0].type == 1 for q in resolver)
    assert names == [f"{site.encode().hex()}.1.{HOST}",
                     f"{b'zebra telltale 5a5a5a5a5a5a'.hex()}.1.{HOST}",
                     f"{IMEI.encode().hex()}.2.sa.api.intl.miui.com"]


def test_dns_query_names_keep_to_label_and_name_limits():
    name = agent_mod.query_name("x" * 200, 7, HOST)
    labels = name.split(".")
    assert len(name) <= 253 and all(len(label) <= 60 for label in labels)
    assert name.endswith(f".7.{HOST}") and len(labels) == 7
    assert ("x" * 200).encode().hex().startswith("".join(labels[:3]))  # whole labels dropped, not cut


def test_the_detector_finds_the_canaries_in_the_dns_queries(resolver):
    Agent(_cfg(transport="dns")).page(URL, incognito=False)
    flows = [tflow.tdnsflow(req=q) for q in resolver]
    result = scan_flows(flows, [Canary("site", urllib.parse.urlsplit(URL).hostname),
                                Canary("term", "zebra telltale 5a5a5a5a5a5a")])
    assert {x.canary for x in result.findings} == {"site", "term"}


class _Recorder(BaseHTTPRequestHandler):
    seen: list = []

    def do_POST(self):  # noqa: N802 - the http.server name
        self.seen.append((self.path, self.rfile.read(int(self.headers["content-length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_proxy_transport_without_a_proxy_setting_goes_straight_out(monkeypatch):
    # The environment's proxy variables are not the device's setting: they lead nowhere here.
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    _Recorder.seen = []
    with ThreadingHTTPServer(("127.0.0.1", 0), _Recorder) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/track"
        Agent(AgentConfig(pages_url=url, proxy=None)).page(URL, incognito=False)
        server.shutdown()
    [(path, body)] = _Recorder.seen
    assert path == "/track" and json.loads(base64.b64decode(body))["url"] == URL


def test_failed_sends_are_logged_not_raised(monkeypatch, caplog, tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    monkeypatch.setattr(agent_mod, "SERVICE_PORT", port)
    (tmp_path / "resolv.conf").write_text("search lab.test\n")
    monkeypatch.setattr(agent_mod, "RESOLV_CONF", str(tmp_path / "resolv.conf"))
    for transport in ("direct", "dns"):
        Agent(_cfg(transport=transport)).page(URL, incognito=False)
    assert "direct to" in caplog.text and "no nameserver" in caplog.text


def test_environment_fills_in_what_the_config_leaves_out():
    env = {"TELLTALE_DEVICE": "leaky-phone", "TELLTALE_DEVTOOLS_WATCH": "/w", "TELLTALE_CA_CERT": "/ca.pem",
           "TELLTALE_IDENTIFIERS": json.dumps({"imei": IMEI}), "TELLTALE_PROXY": "http://127.0.0.1:8080"}
    cfg = AgentConfig.load({"transport": "direct", "addresses": LOCAL}, env)
    assert (cfg.device, cfg.watch, cfg.ca_cert, cfg.proxy) == ("leaky-phone", "/w", "/ca.pem",
                                                               "http://127.0.0.1:8080")
    assert cfg.identifiers == {"imei": IMEI} and cfg.transport == "direct" and cfg.addresses == LOCAL
    assert AgentConfig.load({"watch": "/mine", "identifiers": {}}, env).watch == "/mine"
    assert AgentConfig.load({"identifiers": {}}, env).identifiers == {}
    sealed = AgentConfig.load({}, {k: v for k, v in env.items() if k != "TELLTALE_PROXY"})
    assert sealed.proxy is None and sealed.transport == "proxy"
    with pytest.raises(ValueError, match="transport"):
        AgentConfig.load({"transport": "carrier-pigeon"}, env)


def test_launch_writes_the_telemetry_settings_and_the_firmware_environment(tmp_path):
    device = Device(name="leaky", platform="chromium", identifiers={"imei": IMEI},
                    telemetry_agent=TelemetryAgent(transport="udp", batch=30, heartbeat=60),
                    proxy=ProxySettings(hosts={"tracking.intl.miui.com": "47.241.10.20"}))
    cmd = agent_command(device, tmp_path)
    assert cmd[1:4] == ["-m", "telltale.reference.agent", "--config"]
    settings = json.loads(open(cmd[4]).read())
    assert settings["transport"] == "udp"
    assert settings["addresses"] == {"tracking.intl.miui.com": "47.241.10.20"}
    env = agent_env(device, tmp_path / "appium", None, tmp_path / "ca.pem")
    assert "TELLTALE_PROXY" not in env and json.loads(env["TELLTALE_IDENTIFIERS"]) == {"imei": IMEI}
    cfg = AgentConfig.load(settings, env)
    assert cfg.transport == "udp" and cfg.device == "leaky" and cfg.proxy is None
    assert (cfg.batch, cfg.heartbeat) == (30, 60)
    default = AgentConfig.load(json.loads(open(agent_command(Device(
        name="plain", platform="chromium", telemetry_agent=TelemetryAgent()), tmp_path)[4]).read()), env)
    assert (default.batch, default.heartbeat) == (None, None)
    with pytest.raises(ValueError, match="batch"):
        AgentConfig(batch=0)


# Late and idle telemetry: batches flushed on a timer, when the browser goes away, on SIGTERM; heartbeats.

class _Inbox(BaseHTTPRequestHandler):
    """Each POST as (path, decoded payload, arrival time) into `posts`, which a test waits on."""

    posts: queue.Queue

    def do_POST(self):  # noqa: N802 - the http.server name
        body = self.rfile.read(int(self.headers["content-length"]))
        self.posts.put((self.path, json.loads(base64.b64decode(body)), time.time()))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def inbox():
    """(base URL, queue of POSTs) of an HTTP server on 127.0.0.1."""
    posts: queue.Queue = queue.Queue()
    with ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (_Inbox,), {"posts": posts})) as server:
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        yield f"http://127.0.0.1:{server.server_address[1]}", posts
        server.shutdown()


def _inbox_cfg(base: str, **kw) -> AgentConfig:
    return AgentConfig(pages_url=f"{base}/pages", usage_url=f"{base}/usage", identifiers={"imei": IMEI}, **kw)


def _by_path(posts: queue.Queue, n: int) -> dict:
    got = [posts.get(timeout=2) for _ in range(n)]
    assert posts.empty()
    return {path: (payload, arrived) for path, payload, arrived in got}


OTHER = "https://tt-0123456789.example.net/read/9876543210"


def test_batch_holds_page_and_usage_events_until_the_batch_time_then_sends_each_kind_once(inbox):
    base, posts = inbox
    agent = Agent(_inbox_cfg(base, batch=0.2, interval=0.01))  # the interval no longer sends on its own
    before = time.time()
    agent.page(URL, incognito=False)
    agent.usage_event("tab_opened", tab="abc")
    agent.page(OTHER, incognito=True)
    held = time.time()
    assert posts.empty()  # without batch, page() has posted by the time it returns
    agent.start_timers()
    try:
        sent = _by_path(posts, 2)
    finally:
        agent.stopping.set()
    (pages, pages_at), (usage, usage_at) = sent["/pages"], sent["/usage"]
    assert min(pages_at, usage_at) >= held + 0.2 - 0.01
    assert pages["event"] == "page_views" and pages["device"] == {"imei": IMEI}
    first, second = pages["events"]
    assert (first["url"], first["search"], first["incognito"]) == (URL, "zebra telltale 5a5a5a5a5a5a", False)
    assert (second["url"], second["incognito"]) == (OTHER, True) and "search" not in second
    assert first["event"] == "page_view" and first["device"] == {"imei": IMEI} and first["seq"] == 1
    assert all(before - 0.001 <= e["t"] <= held + 0.001 for e in [first, second, *usage["events"]])
    assert usage["event"] == "app_usage" and [e["type"] for e in usage["events"]] == ["tab_opened"]


def test_a_browser_going_away_flushes_what_is_held_at_once(inbox):
    base, posts = inbox
    agent = Agent(_inbox_cfg(base, batch=600))
    agent.page(URL, incognito=False)
    agent.usage_event("page_switched", tab="abc", url=URL)
    assert posts.empty()
    agent.browser_closed(agent_mod.Path("profile/DevToolsActivePort"))
    sent = _by_path(posts, 2)
    assert [e["url"] for e in sent["/pages"][0]["events"]] == [URL]
    assert [e["url"] for e in sent["/usage"][0]["events"]] == [URL]
    agent.flush()  # nothing is held any more: nothing is sent
    assert posts.empty()


WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def _devtools(tmp_path, messages: list[dict]) -> agent_mod.Path:
    """A browser's DevTools socket on 127.0.0.1 that sends `messages` and goes away; its port file."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)

    def serve():
        with listener, listener.accept()[0] as conn:
            head = b""
            while b"\r\n\r\n" not in head:
                head += conn.recv(4096)
            key = re.search(rb"(?i)sec-websocket-key: *(\S+)", head).group(1)
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Accept: " + base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
                         + b"\r\n\r\n")
            for msg in messages:
                data = json.dumps(msg).encode()
                size = bytes([len(data)]) if len(data) < 126 else b"\x7e" + struct.pack("!H", len(data))
                conn.sendall(b"\x81" + size + data)
            conn.shutdown(socket.SHUT_WR)  # the browser is gone (a FIN, not a reset: the frames arrive)
            while conn.recv(4096):
                pass

    threading.Thread(target=serve, daemon=True).start()
    (tmp_path / "profile").mkdir()
    port_file = tmp_path / "profile" / "DevToolsActivePort"
    port_file.write_text(f"{listener.getsockname()[1]}\n/devtools/browser/test\n")
    return port_file


def test_the_watcher_flushes_when_the_browsers_devtools_socket_closes(inbox, tmp_path):
    base, posts = inbox
    info = {"type": "page", "targetId": "0123456789ABCDEF", "url": URL, "title": "zebra",
            "browserContextId": "C1"}
    port_file = _devtools(tmp_path, [{"id": 999_999, "result": {"defaultBrowserContextId": "C1"}},
                                     {"method": "Target.targetCreated", "params": {"targetInfo": info}}])
    Agent(_inbox_cfg(base, batch=600)).watch_browser(port_file)  # returns once the socket has closed
    sent = _by_path(posts, 2)
    [page] = sent["/pages"][0]["events"]
    assert (page["url"], page["incognito"]) == (URL, False)
    assert [e["type"] for e in sent["/usage"][0]["events"]] == ["tab_opened", "page_switched"]


def test_held_events_go_out_one_message_each_over_udp(monkeypatch):
    with _udp_socket() as server:
        monkeypatch.setattr(agent_mod, "SERVICE_PORT", server.getsockname()[1])
        agent = Agent(_cfg(transport="udp", batch=600))
        agent.page(URL, incognito=False)
        agent.page(OTHER, incognito=False)
        server.settimeout(0.01)
        with pytest.raises(TimeoutError):
            server.recv(65536)
        server.settimeout(2)
        agent.flush()
        sent = [json.loads(base64.b64decode(server.recv(65536))) for _ in range(2)]
    assert [(p["event"], p["url"], p["seq"]) for p in sent] == [("page_view", URL, 1),
                                                                 ("page_view", OTHER, 2)]
    assert all("t" in p for p in sent)


def test_shutdown_sends_what_is_held_and_gives_up_after_its_grace(inbox):
    base, posts = inbox
    agent = Agent(_inbox_cfg(base, batch=600))
    agent.page(URL, incognito=False)
    agent.shutdown()
    assert agent.stopping.is_set()
    path, payload, _ = posts.get(timeout=2)
    assert path == "/pages" and [e["url"] for e in payload["events"]] == [URL]
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts (the backlog), never answers
        stuck = Agent(_inbox_cfg(f"http://127.0.0.1:{silent.getsockname()[1]}", batch=600))
        stuck.page(URL, incognito=False)
        start = time.monotonic()
        stuck.shutdown(grace=0.2)
        assert time.monotonic() - start < 1


def test_sigterm_ends_a_batching_agent_cleanly(inbox, tmp_path):
    base, posts = inbox
    (tmp_path / "agent.json").write_text(json.dumps({
        "watch": str(tmp_path), "pages_url": f"{base}/pages", "usage_url": f"{base}/usage",
        "identifiers": {"imei": IMEI}, "batch": 600, "heartbeat": 0.05}))
    proc = subprocess.Popen([sys.executable, "-m", "telltale.reference.agent", "--config",
                             str(tmp_path / "agent.json")], stderr=subprocess.PIPE)
    try:
        posts.get(timeout=5)  # a heartbeat: it runs, its SIGTERM handler is in place
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=3) == 0
    finally:
        proc.kill()
        proc.communicate()


def test_heartbeat_sends_the_identifiers_with_no_browser(monkeypatch):
    with _udp_socket() as server:
        monkeypatch.setattr(agent_mod, "SERVICE_PORT", server.getsockname()[1])
        agent = Agent(_cfg(transport="udp", id_hash="sha256", heartbeat=0.2, usage_url=f"https://{HOST}/sa"))
        start = time.time()
        agent.start_timers()
        try:
            payload = json.loads(base64.b64decode(server.recv(65536)))
        finally:
            agent.stopping.set()
    assert payload["event"] == "heartbeat" and payload["device"] == {"imei": hashed(IMEI, "sha256")}
    assert payload["t"] >= start + 0.2 - 0.01


def test_heartbeat_over_dns_carries_the_identifiers_in_query_names(resolver):
    Agent(_cfg(transport="dns", usage_url=f"https://{HOST}/sa")).heartbeat()
    assert [q.questions[0].name for q in resolver] == [f"{IMEI.encode().hex()}.1.{HOST}"]


def test_xor_payload_is_not_found_by_any_decoder_and_carries_a_timestamp():
    payload = {"event": "page_view", "url": URL, "device": {"imei": IMEI}}
    body, headers = encode(payload, "xor")
    plain = agent_mod.xor(body, agent_mod.XOR_KEY)
    assert json.loads(plain)["url"] == URL and json.loads(plain)["ts"] > 1_700_000_000_000
    f = tflow.tflow(resp=True)
    f.request = http.Request.make("POST", "https://tracking.intl.miui.com/track", body, headers)
    # the reason the reference build has an xor device: only a differential run sees this leak
    assert scan_flows([f], [Canary("url", URL), Canary("imei", IMEI, "identifier")]).findings == ()


def test_the_agent_reads_the_labs_identifiers_file_on_each_use(tmp_path):
    ids = tmp_path / "ids.json"
    ids.write_text(json.dumps({"imei": IMEI}))
    a = Agent(AgentConfig(identifiers={"imei": "000000000000000"}, identifiers_file=str(ids)))
    assert a.device() == {"imei": IMEI}
    ids.write_text(json.dumps({"imei": "111111111111111"}))
    assert a.device() == {"imei": "111111111111111"}
    ids.write_text("{cut")
    assert a.device() == {"imei": "000000000000000"}  # unreadable: the set it started with
