"""The real mitmdump with Telltale's addon: offline answers, live pass-through, windows, death."""

from __future__ import annotations

import http.server
import subprocess
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from telltale.capture import store
from telltale.capture.proxy import CaptureProxy
from telltale.errors import CaptureBroken, SetupError


def _get(proxy: CaptureProxy, url: str) -> bytes:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy.url}))
    with opener.open(url, timeout=10) as r:
        return r.read()


@pytest.fixture
def offline_proxy(ready, tmp_path):
    p = CaptureProxy("dev", tmp_path, ready.mitmproxy_conf, upstream="offline")
    p.start()
    yield p
    p.stop()


def test_offline_answers_and_tags_each_flow_with_its_window(offline_proxy):
    p = offline_proxy
    _get(p, "http://before.example/")
    p.open_window("w1")
    body = _get(p, "http://site.example/search?q=zebra")
    span = p.close_window()
    _get(p, "http://after.example/")
    assert b"Results for zebra" in body
    in_span = list(store.read_records(span.capture, span.start, span.end))
    assert [(r.flow.request.pretty_host, store.window_of(r.flow)) for r in in_span] == [
        ("site.example", "w1")]
    everything = [(f.request.pretty_host, store.window_of(f)) for f in store.read_flows(span.capture)]
    # before any window: untagged; after one: the gap it fell in (the capture goes on all run)
    assert ("before.example", None) in everything and ("after.example", "gap-after:w1") in everything
    assert not any(h == "telltale.invalid" for h, _ in everything), "control requests are not traffic"


def test_killed_proxy_cannot_close_its_window_and_keeps_earlier_flows(offline_proxy):
    p = offline_proxy
    p.open_window("w1")
    _get(p, "http://kept.example/page")
    p.proc.kill()
    p.proc.wait(10)
    with pytest.raises(CaptureBroken, match="stopped during window w1"):
        p.close_window()
    assert [f.request.pretty_host for f in store.read_flows(p.capture)] == ["kept.example"]
    assert p.ensure_running() is True
    assert p.capture.name.endswith("-2.mitm"), "a restarted proxy writes a new file"


def test_live_mode_passes_traffic_to_the_real_server(ready, tmp_path):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"from the real server")

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    p = CaptureProxy("live", tmp_path, ready.mitmproxy_conf, upstream="live")
    p.start()
    try:
        p.open_window("w")
        body = _get(p, f"http://127.0.0.1:{server.server_address[1]}/x")
        span = p.close_window()
    finally:
        p.stop()
        server.shutdown()
    assert body == b"from the real server"
    (f,) = store.read_flows(span.capture)
    assert f.response.raw_content == b"from the real server"
    assert f.server_conn.peername[0] == "127.0.0.1"


def test_proxy_refuses_to_bind_beyond_loopback_without_credentials(ready, tmp_path):
    with pytest.raises(SetupError, match="refusing to listen on 0.0.0.0 without proxy authentication"):
        CaptureProxy("dev", tmp_path, ready.mitmproxy_conf, host="0.0.0.0")


def test_devices_yaml_refuses_a_public_proxy_without_credentials(tmp_path):
    from telltale import inventory
    from telltale.errors import ConfigError

    f = tmp_path / "devices.yaml"
    f.write_text("devices:\n  phone:\n    platform: android\n    appium: http://127.0.0.1:4723\n"
                 "    proxy:\n      host: 0.0.0.0\n")
    with pytest.raises(ConfigError, match=r"devices.yaml:5: devices.phone.proxy: .*set auth_env"):
        inventory.load(f)


def _network_address() -> str:
    """An address of this machine that is not loopback (what a phone on the lab's network reaches)."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True,
                         text=True, check=True).stdout
    addrs = [line.split()[3].split("/")[0] for line in out.splitlines()]
    addrs = [a for a in addrs if not a.startswith("10.201.")]  # not a sealed slot's link
    assert addrs, "this machine has no global IPv4 address to test proxy authentication on"
    return addrs[0]


def test_proxy_beyond_loopback_demands_its_credentials_and_never_shows_them(ready, tmp_path):
    secret = "s3cret-pass-" + tmp_path.name[-6:]
    p = CaptureProxy("dev", tmp_path, ready.mitmproxy_conf, host="0.0.0.0", auth=f"lab:{secret}",
                     log_dir=tmp_path / "logs")
    p.start()
    try:
        assert p.control("/status")["upstream"] == "offline"  # with credentials
        cmdline = Path(f"/proc/{p.proc.pid}/cmdline").read_bytes()
        assert secret.encode() not in cmdline and b"lab:" not in cmdline, "credentials on a command line"
        assert not any(secret.encode() in f.read_bytes() for f in tmp_path.rglob("*") if f.is_file())
        remote = f"http://{_network_address()}:{p.port}"
        anonymous = urllib.request.build_opener(urllib.request.ProxyHandler({"http": remote}))
        with pytest.raises(urllib.error.HTTPError) as e:
            anonymous.open("http://site.example/", timeout=10)
        assert e.value.code == 407
        wrong = urllib.request.build_opener(urllib.request.ProxyHandler(
            {"http": remote.replace("http://", "http://lab:wrong@")}))
        with pytest.raises(urllib.error.HTTPError) as e:
            wrong.open("http://site.example/", timeout=10)
        assert e.value.code == 407
        right = urllib.request.build_opener(urllib.request.ProxyHandler(
            {"http": remote.replace("http://", f"http://lab:{secret}@")}))
        assert b"site.example" in right.open("http://site.example/", timeout=10).read()
        # this machine's own browser enters by loopback and is not asked
        local = urllib.request.build_opener(urllib.request.ProxyHandler({"http": p.local_url}))
        assert b"other.example" in local.open("http://other.example/", timeout=10).read()
    finally:
        p.stop()
    hosts = [r.flow.request.pretty_host for r in store.read_records(p.capture) if r.flow]
    assert "site.example" in hosts and "other.example" in hosts
    saved = b"".join(c.read_bytes() for c in p.captures)
    assert secret.encode() not in saved and b"Proxy-Authorization" not in saved


def test_offline_host_map_gives_flows_their_server_address(ready, tmp_path):
    p = CaptureProxy("dev", tmp_path, ready.mitmproxy_conf,
                     hosts={"*.analytics.example": "47.241.0.1", "cdn.example": "2001:db8::1"})
    p.start()
    try:
        p.open_window("w")
        for url in ("http://sg.analytics.example/c", "http://cdn.example/x", "http://other.example/"):
            _get(p, url)
        span = p.close_window()
    finally:
        p.stop()
    got = {f.request.pretty_host: f.server_conn.peername for f in store.read_flows(span.capture)}
    assert got["sg.analytics.example"][0] == "47.241.0.1"
    assert got["cdn.example"][0] == "2001:db8::1"
    assert got["other.example"] is None
