"""A real lab host on this machine: the Grid hub (npm jar), `telltale host`'s parts for one sealed
embedded device (its namespace, packet record, mitmdump, Appium and relay node), its channel, and
the run's side: a session through the hub, a window opened and closed through the host, the
window's flows and packet-record account, and every file fetched with its hash."""

from __future__ import annotations

import pytest
from mitmproxy.http import HTTPFlow

from telltale import canaries, inventory, observe
from telltale.browser import Browser
from telltale.capture import boundary
from telltale.farm import grid
from telltale.farm.host import Host
from telltale.farm.hostapi import HostServer
from telltale.farm.remote import HostClient, RemoteStation
from telltale.manifest import sha256_file
from telltale.procs import free_port
from telltale.window import Window

TOKEN = "k" * 32
SECRET = "g" * 32


@pytest.fixture
def lab(ready, tmp_path):
    if boundary.requirements_problem():
        pytest.skip(boundary.requirements_problem())
    hub = grid.Hub(grid.server_jar(ready.root / "node_modules"), tmp_path / "hub", SECRET, request_timeout=20)
    port = free_port()
    inv = inventory.parse(f"""grid: {{url: "{hub.url}", publish: {hub.publish}, subscribe: {hub.subscribe}}}
hosts:
  lab1: {{url: "http://127.0.0.1:{port}"}}
devices:
  gridchan-a1: {{platform: chromium, host: lab1, identifiers: {{serial: GRIDCHAN0001}}}}
""")
    host = Host("lab1", inv, ready, tmp_path / "host", SECRET, say=lambda m: None)
    server = None
    try:
        hub.start()
        host.start()
        server = HostServer(host, ("127.0.0.1", port), TOKEN)
        server.serve()
        yield inv, hub, host, f"http://127.0.0.1:{port}"
    finally:
        if server is not None:
            server.close()
        host.stop()
        hub.stop()


def test_a_window_through_the_host_and_every_file_fetched_with_its_hash(lab, tmp_path):
    inv, hub, host, url = lab
    dev = inv.devices["gridchan-a1"]
    assert dev.boundary == "sealed"
    station = RemoteStation(dev, HostClient("lab1", url, TOKEN, "run-1"), tmp_path / "run" / "captures")
    proxy = station.start()
    on_grid = dev.model_copy(update={"capabilities": {grid.DEVICE_CAP: dev.name}})
    browser = Browser(on_grid, hub.url, None)
    try:
        browser.ensure(incognito=False)
        c = canaries.fresh()
        window = Window(proxy, "w0001-through-the-host", settle=0.3)
        proxy.open_window(window.id)
        visit = window.expect(browser.visit(c.url))
        traffic = window.traffic()  # positive control, packet-record account: else CaptureBroken
    finally:
        browser.quit()
    assert any(f.request.pretty_host == visit.host for f in traffic.flows if isinstance(f, HTTPFlow))
    assert traffic.accounted and not traffic.witness_problems
    assert traffic.span.capture.parent == tmp_path / "run" / "captures"  # read from the run's mirror
    rec = station.collect()
    names = {f["name"] for f in rec["files"]}
    assert {"gridchan-a1-1.mitm", "gridchan-a1-link.pcap", "gridchan-a1-boundary.json"} <= names
    assert rec["problems"] == [] and all(f["intact"] for f in rec["files"])
    for f in rec["files"]:  # the run folder holds the host's bytes, and the host keeps its own
        assert sha256_file(tmp_path / "run" / "captures" / f["name"]) == f["sha256"]
        assert (host.captures / f["name"]).exists()
    flows, problems = observe.run_flows(proxy.captures, station.witness, [])
    assert flows and problems == []
    # finished: the host's capture no longer opens windows for this run
    with pytest.raises(Exception, match="finished"):
        proxy.open_window("w0002-after")
