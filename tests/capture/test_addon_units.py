"""Unit tests of the capture addon (capture/addon.py, capture/auth.py) with mitmproxy's own test helpers.

No mitmdump, no sockets: each test builds fresh addon instances (never the module's `_state` and
`_recorder`), loads them into a `taddons.context` in mitmdump's order and sends test flows
(`tflow`) through their hooks. The live tests (tests/integration/test_capture_proxy.py,
test_sealed_boundary.py) prove the same addon inside a real proxy.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import os
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from mitmproxy import connection, dns, eventsequence, exceptions, http, io
from mitmproxy.addons import errorcheck
from mitmproxy.hooks import Hook
from mitmproxy.proxy.context import Context
from mitmproxy.proxy.layers.http import HttpConnectErrorHook, HttpConnectHook
from mitmproxy.proxy.layers.tls import TlsEstablishedClientHook, TlsFailedClientHook
from mitmproxy.proxy.mode_specs import ProxyMode
from mitmproxy.proxy.server_hooks import ServerConnectHook, ServerConnectionHookData
from mitmproxy.test import taddons, tflow, tutils
from mitmproxy.tls import TlsData

from telltale.capture import addon, auth, offline

USER, PASSWORD = "tester", "s3cret-pass"
REMOTE_SOCK = ("192.0.2.10", 8080)  # the capture's LAN address, as a phone on the lab's Wi-Fi reaches it
REMOTE_PEER = ("192.0.2.77", 50123)  # that phone


# --- helpers -------------------------------------------------------------------------------------------


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def web(host: str = "tracker.example", path: str = "/collect", method: str = "GET",
        headers: dict[str, str] | None = None, resp: bool = False) -> http.HTTPFlow:
    """A plain HTTP flow through the proxy (no response yet unless `resp`)."""
    req = tutils.treq(host=host, port=80, method=method.encode(), path=path.encode(),
                      headers=http.Headers(**(headers or {})), content=b"")
    return tflow.tflow(req=req, resp=resp)


def remote(f: http.HTTPFlow, sockname: tuple = REMOTE_SOCK, peername: tuple = REMOTE_PEER,
           mode: str = "regular") -> http.HTTPFlow:
    """The flow as a client beyond this machine sends it (the proxy listener's address is `sockname`)."""
    f.client_conn.proxy_mode = ProxyMode.parse(mode)
    f.client_conn.sockname = sockname
    f.client_conn.peername = peername
    return f


def tls_data(options, sni: str | None, client: tuple, server: tuple | None, error: str | None) -> TlsData:
    conn = tflow.tclient_conn()
    conn.peername, conn.sni, conn.error = client, sni, error
    context = Context(conn, options)
    context.server.address = server
    return TlsData(conn=conn, context=context)


class Lab:
    """The addon's four parts, fresh, in a mitmproxy test context, in mitmdump's order (addon.addons)."""

    def __init__(self, tctx: taddons.context, tmp_path: Path, parts: tuple) -> None:
        self.tctx = tctx
        self.auth, self.recorder, self.control_addon, self.upstream = parts
        self.state: addon.State = self.recorder.state
        self.chain = list(parts)
        self.capture = tmp_path / "capture.mitm"
        self.events_file = tmp_path / "events.jsonl"

    def run(self, coro):
        return self.tctx.master.event_loop.run_until_complete(coro)

    async def athrough(self, f, after: Callable[[str], None] | None = None):
        """Every hook of the flow's life, each to every part in chain order (as mitmdump calls them);
        unlike mitmproxy's own dispatch, an exception in a hook fails the test."""
        for hook in eventsequence.iterate(f):
            await self.ahook(hook)
            if after is not None:
                after(hook.name)
        return f

    async def ahook(self, hook: Hook) -> None:
        for part in self.chain:
            await self.tctx.master.addons.invoke_addon(part, hook)

    def through(self, f, after: Callable[[str], None] | None = None):
        return self.run(self.athrough(f, after))

    def hook(self, hook: Hook) -> None:
        self.run(self.ahook(hook))

    async def acontrol(self, path: str) -> tuple[http.HTTPFlow, dict]:
        f = await self.athrough(web(addon.CONTROL_HOST, path))
        assert f.response.headers["content-type"] == "application/json"
        return f, json.loads(f.response.content)

    def control(self, path: str) -> tuple[http.HTTPFlow, dict]:
        return self.run(self.acontrol(path))

    def saved(self) -> list:
        with open(self.capture, "rb") as fo:
            return list(io.FlowReader(fo).stream())

    def events(self) -> list[dict]:
        if not self.events_file.exists():
            return []
        return [json.loads(line) for line in self.events_file.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def htpasswd(tmp_path_factory) -> Path:
    """Written once: bcrypt is slow on purpose."""
    return auth.write_htpasswd(tmp_path_factory.mktemp("auth") / "proxy.htpasswd", f"{USER}:{PASSWORD}")


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    state = addon.State()
    recorder = addon.Recorder(state)
    parts = (auth.RemoteClientAuth(), recorder, addon.Control(state, recorder), addon.OfflineUpstream())
    with taddons.context(*parts) as tctx:
        lab = Lab(tctx, tmp_path, parts)
        tctx.configure(recorder, telltale_capture=str(lab.capture), telltale_events=str(lab.events_file),
                       telltale_inflight_ms=200)
        try:
            yield lab
        finally:
            recorder.done()


@pytest.fixture
def gated(htpasswd: Path) -> Iterator[tuple[auth.RemoteClientAuth, taddons.context]]:
    """RemoteClientAuth alone, configured with the htpasswd file, and its context."""
    a = auth.RemoteClientAuth()
    with taddons.context(a) as tctx:
        tctx.configure(a, **{auth.OPTION: str(htpasswd)})
        yield a, tctx


@pytest.fixture
def gate(gated) -> auth.RemoteClientAuth:
    return gated[0]


def test_the_module_chain_is_in_the_order_the_lab_mirrors():
    """Auth must refuse before the recorder sees the response; Control answers before OfflineUpstream."""
    assert [type(a) for a in addon.addons] == [auth.RemoteClientAuth, addon.Recorder, addon.Control,
                                               addon.OfflineUpstream]
    assert addon.addons[2].recorder is addon.addons[1] and addon.addons[1].state is addon.addons[2].state


# --- Recorder --------------------------------------------------------------------------------------------


def test_every_completed_http_flow_is_appended_with_its_window(lab: Lab):
    lab.tctx.configure(lab.upstream, telltale_upstream="live")  # the flows' own outcome, not offline's
    lab.state.window = "w1"
    answered = lab.through(tflow.tflow(resp=True))
    assert [f.id for f in lab.saved()] == [answered.id], "flushed as it completed, readable at once"
    lab.state.window = "w2"
    failed = lab.through(tflow.tflow(err=True))
    saved = lab.saved()
    assert [f.id for f in saved] == [answered.id, failed.id]
    assert [f.metadata[addon.WINDOW_KEY] for f in saved] == ["w1", "w2"]
    assert saved[0].response.content == b"message" and saved[1].error.msg == "error"
    assert lab.state.written == 2 and lab.state.pending == {}


def test_a_flow_keeps_the_window_open_when_its_request_arrived(lab: Lab):
    f = tflow.tflow(resp=True)
    lab.state.window = "w1"
    lab.recorder.requestheaders(f)
    assert lab.state.pending == {f.id: "w1"}
    lab.state.window = "gap-after:w1"
    lab.recorder.response(f)
    assert [s.metadata[addon.WINDOW_KEY] for s in lab.saved()] == ["w1"]
    assert lab.state.pending == {}


def test_without_a_capture_file_nothing_is_written(tmp_path: Path):
    state = addon.State()
    recorder = addon.Recorder(state)
    with taddons.context(recorder) as tctx:
        tctx.master.event_loop.run_until_complete(tctx.cycle(recorder, tflow.tflow(resp=True)))
    assert state.written == 0 and state.pending == {} and list(tmp_path.iterdir()) == []


def test_websocket_flow_is_saved_at_websocket_end_not_at_response(lab: Lab):
    written: dict[str, int] = {}
    f = lab.through(tflow.twebsocketflow(), after=lambda name: written.__setitem__(name, lab.state.written))
    assert written["response"] == 0, "saved at the handshake: its messages would be missing"
    assert written["websocket_end"] == 1
    (saved,) = lab.saved()
    assert saved.id == f.id and saved.websocket is not None
    assert [m.content for m in saved.websocket.messages] == [b"hello binary", b"hello text", b"it's me"]


@pytest.mark.parametrize(
    "make",
    [tflow.ttcpflow, lambda: tflow.ttcpflow(err=True), tflow.tudpflow, lambda: tflow.tudpflow(err=True),
     lambda: tflow.tdnsflow(resp=True), lambda: tflow.tdnsflow(err=True)],
    ids=["tcp", "tcp-error", "udp", "udp-error", "dns", "dns-error"],
)
def test_raw_and_dns_flows_are_saved_with_their_window(lab: Lab, make):
    lab.tctx.configure(lab.upstream, telltale_upstream="live")  # the flows' own outcome, not offline's
    lab.state.window = "w1"
    f = lab.through(make())
    (saved,) = lab.saved()
    assert saved.id == f.id and saved.metadata[addon.WINDOW_KEY] == "w1"
    assert lab.state.pending == {}


def test_tls_refused_by_the_client_is_an_event_and_reported_at_close(lab: Lab):
    lab.control("/window/open?id=w1")
    data = tls_data(lab.tctx.options, "pinned.example", ("10.0.0.5", 40000), ("203.0.113.9", 443),
                    "certificate unknown")
    lab.hook(TlsFailedClientHook(data))
    (event,) = lab.events()
    assert event["event"] == "tls_failed_client" and event["window"] == "w1"
    assert (event["sni"], event["server"], event["client"]) == ("pinned.example", "203.0.113.9:443",
                                                               "10.0.0.5:40000")
    assert "certificate unknown" in event["error"] and isinstance(event["time"], float)
    _, reply = lab.control("/window/close")
    assert reply["window"] == "w1" and reply["tls_failures"] == [event]
    assert lab.saved() == [], "an event, not a flow"


def test_tls_the_client_accepted_is_an_event_and_reported_at_close(lab: Lab):
    lab.control("/window/open?id=w1")
    lab.hook(TlsEstablishedClientHook(tls_data(lab.tctx.options, "site.example", ("10.0.0.5", 40001),
                                               None, None)))
    lab.hook(TlsEstablishedClientHook(tls_data(lab.tctx.options, None, None, None, None)))  # no peer: skipped
    assert [(e["event"], e["client"], e["sni"]) for e in lab.events()] == [
        ("tls_established_client", "10.0.0.5:40001", "site.example")]
    _, reply = lab.control("/window/close")
    assert reply["tls_clients"] == ["10.0.0.5:40001"] and reply["tls_failures"] == []


def test_a_flow_refused_by_proxy_auth_is_not_saved_but_an_event(lab: Lab, htpasswd: Path):
    lab.tctx.configure(lab.auth, **{auth.OPTION: str(htpasswd)})
    f = lab.through(remote(web("tracker.example", "/collect?id=1")))
    assert f.response.status_code == 407, "OfflineUpstream must not answer over the refusal"
    assert f.metadata["telltale.refused"]
    assert lab.saved() == [] and lab.state.written == 0
    assert [(e["event"], e["client"], e["host"]) for e in lab.events()] == [
        ("proxy_auth_refused", REMOTE_PEER[0], "tracker.example")]


def test_a_refused_connect_is_named_and_not_saved(lab: Lab, htpasswd: Path):
    """mitmproxy calls http_connect_error, not response, for a CONNECT answered 407: most of a
    stranger's traffic is HTTPS, so that is where the refusal must be named."""
    lab.tctx.configure(lab.auth, **{auth.OPTION: str(htpasswd)})
    connect = remote(web("tracker.example", "", "CONNECT"))
    lab.hook(HttpConnectHook(connect))
    assert connect.response.status_code == 407
    lab.hook(HttpConnectErrorHook(connect))
    assert not lab.capture.exists() or lab.saved() == []
    assert [(e["event"], e["host"]) for e in lab.events()] == [("proxy_auth_refused", "tracker.example")]


def test_a_refused_flow_is_not_left_in_flight(lab: Lab, htpasswd: Path):
    lab.tctx.configure(lab.auth, **{auth.OPTION: str(htpasswd)})
    lab.control("/window/open?id=w1")
    lab.through(remote(web()))
    assert lab.state.pending == {}
    _, reply = lab.control("/window/close")
    assert reply["in_flight"] == 0


# --- Control ---------------------------------------------------------------------------------------------


def test_window_open_and_close_answer_json_and_are_not_recorded(lab: Lab):
    lab.through(tflow.tflow(resp=True))  # before any window: the offsets must not be 0
    opened, reply = lab.control("/window/open?id=w1")
    assert opened.response.status_code == 200 and opened.metadata["telltale.control"] is True
    assert reply["window"] == "w1" and reply["pid"] == os.getpid()
    assert reply["offset"] == lab.capture.stat().st_size > 0
    assert lab.state.window == "w1"

    inside = lab.through(tflow.tflow(resp=True))
    closed, reply = lab.control("/window/close")
    assert closed.response.status_code == 200
    assert reply["window"] == "w1" and reply["in_flight"] == 0 and reply["tls_failures"] == []
    assert reply["offset"] == lab.capture.stat().st_size
    assert lab.state.window == "gap-after:w1", "traffic between windows is tagged with its gap"

    saved = lab.saved()
    assert len(saved) == 2 and saved[1].id == inside.id and saved[1].metadata[addon.WINDOW_KEY] == "w1"
    assert all(f.request.pretty_host != addon.CONTROL_HOST for f in saved)
    assert lab.state.written == 2 and lab.state.pending == {}

    _, reply = lab.control("/window/close")  # closing the gap: back to no window
    assert reply["window"] == "gap-after:w1" and lab.state.window is None


def test_window_close_waits_for_the_windows_flows_in_flight(lab: Lab):
    lab.tctx.options.update(telltale_inflight_ms=5000)
    lab.control("/window/open?id=w1")
    f = tflow.tflow(resp=True)
    lab.recorder.requestheaders(f)  # the request arrived; its response has not

    async def close_while_in_flight():
        closing = asyncio.create_task(lab.acontrol("/window/close"))
        await asyncio.sleep(0.1)
        assert not closing.done(), "close answered with a flow of its window still in flight"
        lab.recorder.response(f)
        return await asyncio.wait_for(closing, 2)

    _, reply = lab.run(close_while_in_flight())
    assert reply["in_flight"] == 0 and reply["offset"] == lab.capture.stat().st_size
    assert [s.metadata[addon.WINDOW_KEY] for s in lab.saved()] == ["w1"]


def test_window_close_reports_what_is_still_in_flight_after_the_inflight_grace(lab: Lab):
    lab.control("/window/open?id=w1")
    lab.recorder.requestheaders(tflow.tflow())  # never answered
    start = time.monotonic()
    _, reply = lab.control("/window/close")
    assert reply["in_flight"] == 1 and time.monotonic() - start >= 0.2


def test_status_and_unknown_control_paths(lab: Lab):
    lab.control("/window/open?id=w7")
    lab.through(tflow.tflow(resp=True))
    _, reply = lab.control("/status")
    assert (reply["window"], reply["written"], reply["upstream"]) == ("w7", 1, "offline")
    unknown, reply = lab.control("/nope")
    assert unknown.response.status_code == 404 and "/nope" in reply["error"]
    assert len(lab.saved()) == 1


def test_the_seal_probe_is_answered_and_recorded(lab: Lab):
    lab.state.window = "w1"
    f = lab.through(web(addon.PROBE_HOST, "/probe/42"))
    assert f.response.status_code == 200 and f.response.content == b"telltale-seal-probe /probe/42"
    (saved,) = lab.saved()
    assert saved.id == f.id and not saved.metadata.get("telltale.control")
    assert saved.metadata[addon.WINDOW_KEY] == "w1"


# --- OfflineUpstream -------------------------------------------------------------------------------------


@pytest.mark.parametrize("method, path", [("GET", "/search?q=cats"), ("GET", "/"), ("POST", "/collect"),
                                          ("GET", "/favicon.ico")])
def test_offline_every_request_gets_the_offline_answer(lab: Lab, method: str, path: str):
    f = lab.through(web("tracker.example", path, method))
    status, headers, body = offline.answer(method, f"http://tracker.example{path}", f.request.headers)
    assert (f.response.status_code, f.response.content) == (status, body)
    assert {k: f.response.headers[k] for k in headers} == headers
    (saved,) = lab.saved()
    assert saved.response.status_code == status, "the offline answer is recorded like a server's"


def test_offline_cors_preflight_is_allowed(lab: Lab):
    f = lab.through(web("api.tracker.example", "/v1/collect", "OPTIONS", headers={
        "origin": "https://shop.example", "access-control-request-method": "POST",
        "access-control-request-headers": "content-type, x-id"}))
    h = f.response.headers
    assert f.response.status_code == 204
    assert h["access-control-allow-origin"] == "https://shop.example"
    assert h["access-control-allow-methods"] == "POST"
    assert h["access-control-allow-headers"] == "content-type, x-id"
    assert h["access-control-allow-credentials"] == "true"


def test_offline_hosts_map_gives_the_server_address(lab: Lab, tmp_path: Path):
    hosts = tmp_path / "hosts.json"
    hosts.write_text(json.dumps({"Tracker.Example": "203.0.113.5", "*.cdn.example": "203.0.113.6"}))
    lab.tctx.configure(lab.upstream, telltale_hosts=str(hosts))
    expected = {"tracker.example": "203.0.113.5", "TRACKER.example": "203.0.113.5",
                "img.tracker.example": "203.0.113.5", "a.b.cdn.example": "203.0.113.6",
                "unmapped.example": None}
    for host, ip in expected.items():
        f = lab.through(web(host))
        assert f.metadata.get(addon.SERVER_IP_KEY) == ip, host
        if ip:
            assert f.server_conn.peername == (ip, 80)
        assert f.response.status_code == 200
    assert [f.metadata.get(addon.SERVER_IP_KEY) for f in lab.saved()] == list(expected.values())


def test_live_upstream_leaves_requests_to_the_servers(lab: Lab):
    lab.tctx.configure(lab.upstream, telltale_upstream="live")
    f = lab.through(web())
    assert f.response is None and addon.SERVER_IP_KEY not in f.metadata
    server = connection.Server(address=("203.0.113.5", 443))
    lab.hook(ServerConnectHook(ServerConnectionHookData(server=server, client=tflow.tclient_conn())))
    assert server.error is None


@pytest.mark.parametrize("value", ["online", "", "OFFLINE"])
def test_an_invalid_upstream_is_refused(value: str):
    up = addon.OfflineUpstream()
    check = errorcheck.ErrorCheck()  # mitmdump's: an error logged at start-up ends the process
    try:
        with taddons.context(up, check) as tctx:
            try:
                tctx.configure(up, telltale_upstream=value)
            except exceptions.OptionsError:
                assert tctx.options.telltale_upstream == "offline", "refused the mitmproxy way: rolled back"
            else:
                assert any("telltale_upstream" in r.getMessage() for r in check.logger.has_errored)
    finally:
        check.finish()


@pytest.mark.parametrize("value", ["offline", "live"])
def test_a_valid_upstream_is_accepted(value: str):
    up = addon.OfflineUpstream()
    check = errorcheck.ErrorCheck()
    try:
        with taddons.context(up, check) as tctx:
            tctx.configure(up, telltale_upstream=value)
            assert check.logger.has_errored == [] and tctx.options.telltale_upstream == value
    finally:
        check.finish()


def test_offline_raw_tcp_and_udp_go_to_the_local_sinks(lab: Lab, tmp_path: Path):
    hosts = tmp_path / "hosts.json"
    hosts.write_text(json.dumps({"push.example": "203.0.113.7"}))
    lab.tctx.configure(lab.upstream, telltale_hosts=str(hosts))
    lab.upstream.sinks = {"tcp": ("127.0.0.1", 40001), "udp": ("127.0.0.1", 40002)}  # what running() opens
    tcp_flow, udp_flow = tflow.ttcpflow(), tflow.tudpflow()
    tcp_flow.server_conn.address, tcp_flow.server_conn.sni = ("198.18.3.4", 5228), "push.example"
    udp_flow.server_conn.address, udp_flow.server_conn.sni = ("198.51.100.9", 443), None
    lab.through(tcp_flow)
    lab.through(udp_flow)
    assert tcp_flow.server_conn.address == ("127.0.0.1", 40001)
    assert udp_flow.server_conn.address == ("127.0.0.1", 40002)
    saved = {f.id: f.metadata for f in lab.saved()}
    assert saved[tcp_flow.id][addon.ORIGINAL_KEY] == "198.18.3.4:5228"
    assert saved[tcp_flow.id][addon.SERVER_IP_KEY] == "203.0.113.7", "the host map wins over the address"
    assert saved[udp_flow.id][addon.ORIGINAL_KEY] == "198.51.100.9:443"
    assert saved[udp_flow.id][addon.SERVER_IP_KEY] == "198.51.100.9"


def test_offline_nothing_connects_out(lab: Lab):
    lab.upstream.sinks = {"tcp": ("127.0.0.1", 40001)}
    out = connection.Server(address=("203.0.113.5", 443))
    sink = connection.Server(address=("127.0.0.1", 40001))
    for server in (out, sink):
        lab.hook(ServerConnectHook(ServerConnectionHookData(server=server, client=tflow.tclient_conn())))
    assert out.error and "offline" in out.error
    assert sink.error is None


def test_offline_dns_answers_from_the_map_else_a_synthetic_address(lab: Lab, tmp_path: Path):
    hosts = tmp_path / "hosts.json"
    hosts.write_text(json.dumps({"tracker.example": "203.0.113.5"}))
    lab.tctx.configure(lab.upstream, telltale_hosts=str(hosts))
    questions = [dns.Question("tracker.example", dns.types.A, dns.classes.IN),
                 dns.Question("unknown.example", dns.types.A, dns.classes.IN),
                 dns.Question("tracker.example", dns.types.AAAA, dns.classes.IN)]
    f = lab.through(tflow.tdnsflow(req=tutils.tdnsreq(questions=questions)))
    answers = [(a.name, str(a.ipv4_address)) for a in f.response.answers]
    assert answers == [("tracker.example", "203.0.113.5"),
                       ("unknown.example", str(addon.synthetic_address("unknown.example")))]
    assert ipaddress.ip_address(answers[1][1]) in addon.SYNTHETIC_NET
    assert f.metadata[addon.SERVER_IP_KEY] == "203.0.113.5"
    (saved,) = lab.saved()
    assert len(saved.response.answers) == 2


# --- RemoteClientAuth ------------------------------------------------------------------------------------


def test_a_remote_client_without_credentials_gets_407(gate: auth.RemoteClientAuth):
    f = remote(tflow.tflow())
    gate.requestheaders(f)
    assert f.response.status_code == 407 and "Proxy-Authenticate" in f.response.headers
    assert f.metadata["telltale.refused"]


@pytest.mark.parametrize("header", [basic(USER, "wrong"), basic("nobody", PASSWORD), "Basic !!!", "Bearer x"])
def test_a_remote_client_with_wrong_credentials_gets_407(gate: auth.RemoteClientAuth, header: str):
    f = remote(web(headers={"proxy-authorization": header}))
    gate.requestheaders(f)
    assert f.response.status_code == 407


def test_a_remote_client_with_the_right_credentials_passes_and_the_header_is_removed(gated):
    gate, tctx = gated
    f = remote(web(headers={"proxy-authorization": basic(USER, PASSWORD)}))
    # through mitmproxy's dispatch (tctx.cycle): the hook's name is the one mitmproxy calls
    tctx.master.event_loop.run_until_complete(tctx.cycle(gate, f))
    assert f.response is None and "telltale.refused" not in f.metadata
    assert "proxy-authorization" not in f.request.headers, "the credentials are not evidence"


@pytest.mark.parametrize("sockname", [("127.0.0.1", 8080), ("::1", 8080, 0, 0),
                                      ("::ffff:127.0.0.1", 8080, 0, 0)])
def test_a_client_on_loopback_passes_without_credentials(gate: auth.RemoteClientAuth, sockname: tuple):
    f = remote(web(headers={"proxy-authorization": basic(USER, "anything")}), sockname=sockname,
               peername=("127.0.0.1", 50000))
    gate.requestheaders(f)
    assert f.response is None and "proxy-authorization" not in f.request.headers


def test_a_connect_that_authenticated_lets_its_connection_pass(gated):
    gate, tctx = gated
    connect = remote(web("tracker.example", "", "CONNECT",
                         headers={"proxy-authorization": basic(USER, PASSWORD)}))
    tctx.master.addons.invoke_addon_sync(gate, HttpConnectHook(connect))  # the hook mitmproxy calls
    assert connect.response is None and "proxy-authorization" not in connect.request.headers

    inside = tflow.tflow(client_conn=connect.client_conn, req=web("tracker.example").request)
    gate.requestheaders(inside)
    assert inside.response is None, "a request in the authenticated tunnel was asked again"

    other = remote(web("tracker.example"))  # another connection of the same device
    gate.requestheaders(other)
    assert other.response.status_code == 407


def test_a_connect_without_credentials_is_refused_and_its_connection_too(gate: auth.RemoteClientAuth):
    connect = remote(web("tracker.example", "", "CONNECT"))
    gate.http_connect(connect)
    assert connect.response.status_code == 407 and connect.metadata["telltale.refused"]
    inside = tflow.tflow(client_conn=connect.client_conn, req=web("tracker.example").request)
    gate.requestheaders(inside)
    assert inside.response.status_code == 407


@pytest.mark.parametrize("mode", ["transparent", "wireguard"])
def test_a_transparent_or_wireguard_flow_is_never_asked(gate: auth.RemoteClientAuth, mode: str):
    f = remote(web(), mode=mode)
    gate.requestheaders(f)
    assert f.response is None
    connect = remote(web("tracker.example", "", "CONNECT"), mode=mode)
    gate.http_connect(connect)
    assert connect.response is None


def test_without_an_htpasswd_nobody_is_asked():
    a = auth.RemoteClientAuth()
    with taddons.context(a) as tctx:
        tctx.configure(a, **{auth.OPTION: ""})
        f = remote(web())
        a.requestheaders(f)
    assert f.response is None


def test_write_htpasswd_keeps_only_a_hash_readable_by_its_owner(htpasswd: Path, tmp_path: Path):
    text = htpasswd.read_text()
    assert text.startswith(f"{USER}:$2") and PASSWORD not in text
    assert stat.S_IMODE(htpasswd.stat().st_mode) & 0o077 == 0
    for bad in ("nocolon", ":password", "user:"):
        with pytest.raises(ValueError):
            auth.write_htpasswd(tmp_path / "x.htpasswd", bad)
