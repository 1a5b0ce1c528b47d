"""A farm of two devices, each behind its own Appium server (two farm hosts)."""

import json
import subprocess
import sys
from collections import defaultdict

import pytest

from .helpers import ROOT, all_results, labels, scenarios

pytestmark = pytest.mark.e2e
SUITES = ROOT / "tests" / "e2e" / "suites"

FARM = """devices:
  farm-a:
    platform: chromium
    appium: local
    firmware: build-a
    groups: [farm]
    identifiers: {serial: FARMA000000001}
  farm-b:
    platform: chromium
    appium: local
    firmware: build-b
    groups: [farm]
    identifiers: {serial: FARMB000000001}
"""


def _run(tmp_path, *extra):
    inv = tmp_path / "devices.yaml"
    inv.write_text(FARM)
    proc = subprocess.run(
        [sys.executable, "-m", "telltale.cli", "run", "--reports", str(tmp_path), "--run-id", "r",
         "--devices-file", str(inv), "--devices", "farm", *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    by_device = defaultdict(dict)
    for r in all_results(tmp_path / "r"):
        (device,) = labels(r, "device")
        assert r.name not in by_device[device], "one result per scenario and device"
        by_device[device][r.name] = r
    return proc, by_device


def test_two_devices_in_parallel_both_in_the_report(ready, tmp_path):
    selection = ("incognito_browsing", "identifiers")
    proc, by_device = _run(tmp_path, "-n", "2", "-k", " or ".join(selection))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert set(by_device) == {"farm-a", "farm-b"}
    selected = {s.name for s in scenarios() if s.selected_by(*selection)}
    for device, results in by_device.items():
        assert {r.status for r in results.values()} == {"passed"}, device
        assert set(results) == selected and "Device identifiers are never sent while browsing" in results
    # Allure's thread label is "<pid>-<thread>": each device on one worker, the two side by side
    workers = {d: {labels(r, "thread")[0].split("-")[0] for r in res.values()}
               for d, res in by_device.items()}
    assert all(len(w) == 1 for w in workers.values()), workers
    assert workers["farm-a"] != workers["farm-b"], workers
    matrix = json.loads((tmp_path / "r" / "matrix.json").read_text())
    assert {(m["device"], m["firmware"]) for m in matrix} == {("farm-a", "build-a"), ("farm-b", "build-b")}
    assert len(list((tmp_path / "r" / "captures").glob("farm-a-*.mitm"))) == 1
    assert len(list((tmp_path / "r" / "captures").glob("farm-b-*.mitm"))) == 1
    _traffic_kept_apart(tmp_path / "r" / "captures")


def _traffic_kept_apart(captures):
    """Each sealed device had its own namespace and address, and its capture holds only its own
    traffic: every flow came from its address, and no canary site of one is in the other's."""
    from mitmproxy.http import HTTPFlow

    from telltale.capture import store

    proofs = {d: json.loads((captures / f"{d}-boundary.json").read_text()) for d in ("farm-a", "farm-b")}
    assert proofs["farm-a"]["namespace"] != proofs["farm-b"]["namespace"]
    assert all(p["problems"] == [] for p in proofs.values())
    sites = {}
    for d, proof in proofs.items():
        (cap,) = captures.glob(f"{d}-*.mitm")
        flows = list(store.read_flows(cap))
        assert flows and {f.client_conn.peername[0] for f in flows} == {proof["device_ip"]}, d
        sites[d] = {f.request.pretty_host for f in flows
                    if isinstance(f, HTTPFlow) and f.request.pretty_host.startswith("tt-")}
        assert (captures / f"{d}-link.pcap").stat().st_size > 24
    assert sites["farm-a"] and sites["farm-b"] and not sites["farm-a"] & sites["farm-b"]


def test_a_dead_appium_server_breaks_only_its_devices_remaining_scenarios(ready, tmp_path):
    proc, by_device = _run(tmp_path, "--suite", "tests/e2e/suites/farm_faults_suite.py")
    # broken scenarios and no failed requirement: the run could not judge (2), it found nothing (not 1)
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-2000:]
    a, b = by_device["farm-a"], by_device["farm-b"]
    names = {s.name for s in scenarios(SUITES / "farm_faults.feature")}
    assert set(a) == set(b) == names
    # farm-b lost its browser session mid-run: it was recreated, and everything passed there.
    assert {n: r.status for n, r in b.items()} == {n: "passed" for n in names}
    assert a["Browsing while the whole farm is up"].status == "passed"
    assert a["The Appium server of farm-a stops"].status == "passed"
    assert a["The browser session of farm-b ends"].status == "broken"  # no Appium left on farm-a
    for name in ("Browsing after the fault", "Searching after the fault"):
        assert a[name].status == "broken", a[name].raw
        msg = a[name].message
        assert "farm-a" in msg and "cannot be reached" in msg, msg
