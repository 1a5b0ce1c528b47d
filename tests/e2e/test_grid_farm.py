"""The farm on Selenium Grid 4 on this machine: a hub from the npm jar and two `telltale host`s with
two sealed embedded devices each, one `telltale run -n 4` across them into one report; host-b is
killed mid-run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import defaultdict

import pytest

from telltale.capture import boundary, store
from telltale.farm.local import LocalFarm

from .helpers import ROOT, all_results, labels, scenarios

pytestmark = pytest.mark.e2e


def _by_device(run_dir) -> dict[str, dict]:
    out = defaultdict(dict)
    for r in all_results(run_dir):
        (device,) = labels(r, "device")
        out[device][r.name] = r
    return out


def _wait_for_results(run_dir, devices, count, proc, within=600.0) -> None:
    """Until each of `devices` has `count` scenario results (the run is well under way on each)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < within and proc.poll() is None:
        try:
            done = min(len(_by_device(run_dir).get(d, ())) for d in devices)
        except (OSError, ValueError):
            done = 0
        if done >= count:
            return
        time.sleep(0.5)
    pytest.fail(f"{devices} did not reach {count} results (run exit {proc.poll()})")


def test_two_hosts_four_devices_one_report_and_a_host_killed_mid_run(ready, tmp_path):
    if boundary.requirements_problem():
        pytest.skip(boundary.requirements_problem())
    farm = LocalFarm(ready, tmp_path / "farm", say=lambda m: None)
    farm.start()
    run_dir = tmp_path / "reports" / "r"
    log = tmp_path / "run.log"
    try:
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "telltale.cli", "run", "--reports", str(tmp_path / "reports"),
                 "--run-id", "r", "--devices-file", str(farm.devices_file), "--devices", "grid", "-n", "4"],
                cwd=ROOT, env=farm.env, stdout=out, stderr=subprocess.STDOUT, text=True)
        _wait_for_results(run_dir, {"grid-b1", "grid-b2"}, 2, proc)
        killed = farm.kill("host-b")
        proc.wait(timeout=900)
        out = log.read_text()
    finally:
        farm.stop()
    assert killed, "the host's own processes (mitmdump, tcpdump, Appium, relay nodes) died with it"
    # broken scenarios and no failed requirement: could not judge (2)
    assert proc.returncode == 2, out[-4000:]
    by_device = _by_device(run_dir)
    assert set(by_device) == {"grid-a1", "grid-a2", "grid-b1", "grid-b2"}
    assert (run_dir / "report.html").stat().st_size > 0  # one report over the whole farm
    names = {s.name for s in scenarios()}
    for device in ("grid-a1", "grid-a2"):  # the other host's devices ran everything, untouched
        statuses = {n: r.status for n, r in by_device[device].items()}
        assert set(statuses) == names, device
        assert set(statuses.values()) <= {"passed", "skipped"}, (device, statuses)
    b_broken = []
    for device in ("grid-b1", "grid-b2"):
        results = by_device[device]
        assert set(results) == names, device  # every scenario has a result: broken, not missing
        assert "failed" not in {r.status for r in results.values()}, device
        assert any(r.status == "passed" for r in results.values()), device
        b_broken += [r for r in results.values() if r.status == "broken"]
    # a scenario the host's death cut short names the host, whichever call failed first (the
    # host's channel, or the session the hub could no longer relay)
    unnamed = [f"{r.name}: {r.message[:300]}" for r in b_broken if "host-b" not in r.message]
    assert b_broken and not unnamed, unnamed
    assert any("cannot be reached" in r.message for r in b_broken)
    captures = run_dir / "captures"
    for device in ("grid-a1", "grid-a2"):
        rec = json.loads((captures / f"{device}-host.json").read_text())
        assert rec["problems"] == [] and all(f["intact"] for f in rec["files"]), rec
        assert {f"{device}-1.mitm", f"{device}-link.pcap", f"{device}-boundary.json"} <= {
            f["name"] for f in rec["files"]}
    host_b = farm.folder("host-b") / "captures"
    for device in ("grid-b1", "grid-b2"):
        rec = json.loads((captures / f"{device}-host.json").read_text())
        assert rec["problems"] and "host-b" in rec["problems"][0], rec
        # what was mirrored before the host died is in the run folder, and the host's disk kept
        # everything it had written: every flow the run has is in the host's own file, intact
        errors: list = []
        mirrored = {f.id for f in store.read_flows(captures / f"{device}-1.mitm", errors)}
        kept = {f.id for f in store.read_flows(host_b / f"{device}-1.mitm", errors)}
        assert mirrored and mirrored <= kept and not errors, (device, len(mirrored), len(kept), errors)
        assert (host_b / f"{device}-link.pcap").stat().st_size > 24
    verify = subprocess.run([sys.executable, "-m", "telltale.cli", "verify", str(run_dir)], cwd=ROOT,
                            capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_a_host_that_cannot_be_reached_breaks_its_devices_with_the_reason(ready, tmp_path):
    from telltale.procs import free_port

    inv = tmp_path / "devices.yaml"
    host_port, hub_port = free_port(), free_port()  # nothing listens on either
    inv.write_text(f"""grid: http://127.0.0.1:{hub_port}
hosts:
  lab-x: {{url: "http://127.0.0.1:{host_port}"}}
devices:
  gone-1: {{platform: chromium, host: lab-x, groups: [gone]}}
""")
    env = {**os.environ, "TELLTALE_HOST_TOKEN": "t" * 32}
    proc = subprocess.run(
        [sys.executable, "-m", "telltale.cli", "run", "--reports", str(tmp_path), "--run-id", "r",
         "--devices-file", str(inv), "--devices", "gone", "--no-report", "-k", "incognito_browsing"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-2000:]
    results = all_results(tmp_path / "r")
    assert results and {r.status for r in results} == {"broken"}
    for r in results:
        assert f"host lab-x (http://127.0.0.1:{host_port}) cannot be reached" in r.message, r.message
