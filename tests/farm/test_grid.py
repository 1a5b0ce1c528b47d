"""The real Selenium Grid 4 (the npm package's jar): a hub, a relay node in front of one local
Appium server, and a session through the hub that drives the embedded Chromium."""

from __future__ import annotations

import http.server
import json
import threading
import time

import pytest
from appium import webdriver
from appium.options.common import AppiumOptions
from selenium.common.exceptions import WebDriverException

from telltale import inventory
from telltale.appium_server import AppiumServer
from telltale.browser import chromium_capabilities
from telltale.farm import grid


def _options(caps: dict) -> AppiumOptions:
    o = AppiumOptions()
    o.load_capabilities(caps)
    return o


@pytest.fixture
def hub_and_node(ready, tmp_path):
    jar = grid.server_jar(ready.root / "node_modules")
    secret = grid.new_secret()
    hub = grid.Hub(jar, tmp_path, secret, request_timeout=5)
    appium = AppiumServer(ready, "grid-dev", tmp_path)
    slot = grid.Slot("grid-dev", {"platformName": "linux", "browserName": "chrome"})
    node = grid.RelayNode(jar, tmp_path, slot, "", hub.address, secret)
    try:
        hub.start()
        appium.start()
        node.appium_url = appium.url
        node.start()
        yield hub, node
    finally:
        node.stop()
        appium.stop()
        hub.stop()


def test_a_session_through_the_hub_drives_the_embedded_chromium(ready, hub_and_node, tmp_path):
    hub, node = hub_and_node
    # the secret is only in the (private) config files, never on a command line
    assert node.secret not in " ".join(node.proc.args) and node.config.stat().st_mode & 0o077 == 0
    dev = inventory.load(ready.devices).get(inventory.DEFAULT_DEVICE)
    caps = {**chromium_capabilities(dev, None, False), grid.DEVICE_CAP: "grid-dev"}
    t0 = time.monotonic()
    driver = webdriver.Remote(hub.url, options=_options(caps))
    try:
        assert time.monotonic() - t0 < 60
        driver.get("data:text/html,<title>through the grid</title><p>hello</p>")
        assert driver.title == "through the grid"
        # the hub sees the session on the device's slot
        slots = [s for n in grid.status(hub.url)["nodes"] for s in n["slots"]]
        assert [s["stereotype"][grid.DEVICE_CAP] for s in slots if s.get("session")] == ["grid-dev"]
    finally:
        driver.quit()


def test_a_device_without_a_node_is_not_routed_elsewhere(ready, hub_and_node):
    hub, _ = hub_and_node
    dev = inventory.load(ready.devices).get(inventory.DEFAULT_DEVICE)
    caps = {**chromium_capabilities(dev, None, False), grid.DEVICE_CAP: "no-such-device"}
    with pytest.raises(WebDriverException):
        webdriver.Remote(hub.url, options=_options(caps))



class _Status(http.server.BaseHTTPRequestHandler):
    """A stand-in relay target: only its /status is asked for while a node registers."""

    def do_GET(self):
        body = json.dumps({"value": {"ready": True, "message": "stand-in"}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_only_a_node_with_the_hubs_secret_registers(ready, tmp_path):
    target = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Status)
    threading.Thread(target=target.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{target.server_address[1]}"
    jar = grid.server_jar(ready.root / "node_modules")
    secret = grid.new_secret()
    hub = grid.Hub(jar, tmp_path, secret)
    intruder = grid.RelayNode(jar, tmp_path, grid.Slot("intruder", {"platformName": "linux"}), url,
                              hub.address, grid.new_secret())
    member = grid.RelayNode(jar, tmp_path, grid.Slot("member", {"platformName": "linux"}), url,
                            hub.address, secret)
    try:
        hub.start()
        intruder.start_process()
        member.start()  # registers: the target answers, the secret is the hub's
        assert not intruder.ready(), "a node without the hub's secret was registered"
        time.sleep(5)
        assert not intruder.ready()
        slots = [s for n in grid.status(hub.url)["nodes"] for s in n["slots"]]
        devices = {s["stereotype"].get(grid.DEVICE_CAP) for s in slots}
        assert devices == {"member"}
    finally:
        member.stop()
        intruder.stop()
        hub.stop()
        target.shutdown()
