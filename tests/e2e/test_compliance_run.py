"""The main job as a user runs it: `telltale run` on local-chromium ends in a report.

One Allure result per scenario, passed, labelled for the report; reports/latest
points at the run; no process or browser profile is left behind; and the
single-file report, opened in headless Chromium whose only way out is a capture
proxy, renders and makes no request at all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from telltale.capture import store

from .helpers import ROOT, all_results, labels, open_in_chromium, page_requests, scenarios

pytestmark = pytest.mark.e2e

FEATURES = scenarios()
SCENARIOS = {s.name for s in FEATURES if not s.skipped_on("chromium")}  # run on local-chromium
SKIPPED = {s.name: s for s in FEATURES if s.skipped_on("chromium")}  # tagged for another platform
IDLE = {s.name for s in FEATURES if "the device idles for the soak" in s.steps} & SCENARIOS
DIFFERENTIAL = {s.name for s in FEATURES if "differential" in s.tags} & SCENARIOS
# local-chromium runs no lab firmware: its identifiers cannot be varied, so these get no differential run
IDENTIFIERS = {s.name for s in FEATURES if "no device identifier was sent" in s.steps}
SEVERITY = {s.name: s.tagged("severity") for s in FEATURES}


def _telltale_tmp() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("telltale-*")}


def _our_processes(marker: str) -> list[str]:
    out = []
    for d in Path("/proc").iterdir():
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmd:
            out.append(cmd)
    return out


@pytest.fixture(scope="module")
def compliance_run(ready, tmp_path_factory):
    reports = tmp_path_factory.mktemp("reports")
    before = _telltale_tmp()
    proc = subprocess.run(
        [sys.executable, "-m", "telltale.cli", "run", "--reports", str(reports), "--run-id", "r1"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    return proc, reports, before


def test_run_passes_with_one_labelled_result_per_scenario(compliance_run):
    proc, reports, _ = compliance_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert os.readlink(reports / "latest") == "r1"
    results = all_results(reports / "latest")
    assert sorted(r.name for r in results) == sorted(SCENARIOS | set(SKIPPED))
    for r in results:
        assert labels(r, "requirement") and labels(r, "regulation") and labels(r, "feature")
        assert labels(r, "severity") == SEVERITY[r.name]
        if r.name in SKIPPED:
            assert r.status == "skipped"
            assert f"needs an {SKIPPED[r.name].platform} device" in r.message
            continue
        assert r.status == "passed", r.message
        assert labels(r, "boundary") == ["sealed"]
        params = {k: v.strip("'") for k, v in r.parameters.items()}
        assert params["capture boundary"].startswith("sealed: a network namespace")
        assert params["observed after the action"].endswith(
            ("and a drain of 5 s)", "(its window only: these rules judge the window)")), params
        attached = set(r.attachments)
        assert {"screenshot", "capture window"} <= attached
        # the findings table: of the leak checks, or of the destination rule that judged
        assert "findings" in attached or any(a.startswith("destinations: ") for a in attached), attached
        assert any(a.endswith(".har") for a in attached)
    assert f"{len(SCENARIOS)} passed, {len(SKIPPED)} skipped" in proc.stdout


def test_run_keeps_every_flow_tagged_with_its_window(compliance_run):
    _, reports, _ = compliance_run
    (capture,) = (reports / "r1" / "captures").glob("*.mitm")
    windows = {store.window_of(f) for f in store.read_flows(capture)}
    # The sealed boundary's proof at start has a window of its own, beside one per scenario; the
    # capture goes on between windows (each gap tagged) and in the drain after the last one.
    assert {w for w in windows if w and w.startswith("seal-probe")} == {"seal-probe-local-chromium"}
    assert "drain-local-chromium" in windows
    scenario_windows = {w for w in windows if w and not w.startswith(("seal-probe", "gap-after:", "drain-"))}
    labelled = {w for r in all_results(reports / "r1") for w in labels(r, "window")}
    assert len(labelled) == len(SCENARIOS)  # one window per scenario, named in its result
    # a differential scenario's runs B and R have windows of their own: <window>-b, <window>-r
    runs = {w for w in scenario_windows if w.endswith(("-b", "-r")) and w[:-2] in labelled}
    assert {w[:-2] for w in runs} == {w for r in all_results(reports / "r1") for w in labels(r, "window")
                                      if r.name in DIFFERENTIAL - IDENTIFIERS}
    assert scenario_windows - runs <= labelled and len(scenario_windows - runs) >= len(SCENARIOS - IDLE)
    assert {w.split(":", 1)[1] for w in windows if w and w.startswith("gap-after:")} <= labelled | runs | {
        "seal-probe-local-chromium"}


def test_the_clean_device_shows_no_part_moving_with_the_values(compliance_run):
    """Each differential scenario ran its three windows on the clean device, paired its requests,
    and found nothing that moves with the values and nothing opaque."""
    _, reports, _ = compliance_run
    seen = set()
    for r in all_results(reports / "r1"):
        if r.name not in DIFFERENTIAL:
            continue
        assert "differential run" in r.attachments, r.name
        if r.name in IDENTIFIERS:
            assert "differential.json" not in r.attachments
            seen.add(r.name)
            continue
        (source,) = r.sources("differential.json")
        d = r.attachment_json(source)
        assert d["correlated"] == [] and d["opaque"] == [], (r.name, d)
        assert d["pairs"] > 0, (r.name, d)
        assert {f"{labels(r, 'window')[0]}-b.har", f"{labels(r, 'window')[0]}-r.har"} <= set(r.attachments)
        seen.add(r.name)
    assert seen == DIFFERENTIAL


def test_run_leaves_no_process_and_no_browser_profile(compliance_run):
    _, reports, before = compliance_run
    assert _our_processes(str(reports / "r1")) == []
    assert _telltale_tmp() - before == set()
    # the sealed device's namespace, link and rules went with it
    proof = json.loads((reports / "r1" / "captures" / "local-chromium-boundary.json").read_text())
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    assert proof["namespace"] not in netns
    assert subprocess.run(["ip", "link", "show", proof["link"]], capture_output=True).returncode != 0
    table = "telltale_" + proof["namespace"].removeprefix("tt")
    assert subprocess.run(["nft", "list", "table", "inet", table], capture_output=True).returncode != 0


def test_viewer_sees_what_a_page_requests(ready, tmp_path):
    """The check below could fail: a page that loads one remote image is caught."""
    page = tmp_path / "planted.html"
    page.write_text('<html><body>planted<img src="https://cdn.example.org/pixel.png"></body></html>')
    _, flows = open_in_chromium(page.as_uri(), ready, tmp_path)
    assert page_requests(flows) == ["https://cdn.example.org/pixel.png"]


def test_report_renders_and_makes_no_request_when_opened(compliance_run, ready, tmp_path):
    _, reports, _ = compliance_run
    html = (reports / "latest" / "report.html").resolve()
    dom, flows = open_in_chromium(html.as_uri(), ready, tmp_path)
    assert "Telltale compliance" in dom and "browser-privacy" in dom
    assert page_requests(flows) == []


def test_run_folder_is_a_bundle_that_verifies(compliance_run):
    _, reports, _ = compliance_run
    proc = subprocess.run([sys.executable, "-m", "telltale.cli", "verify", str(reports / "r1")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "verify: OK" in proc.stdout


def test_compliance_matrix_is_beside_the_report_and_inside_it(compliance_run):
    _, reports, _ = compliance_run
    run = reports / "r1"
    rows = json.loads((run / "matrix.json").read_text())
    assert len(rows) == len(FEATURES)
    assert {r["device"] for r in rows} == {"local-chromium"}
    assert {r["firmware"] for r in rows} == {"debian-chromium"}
    assert {r["verdict"] for r in rows} == {"passed", "skipped"}
    assert (run / "matrix.csv").read_text().startswith("requirement,scenario,device,firmware,verdict")
    (globals_file,) = (run / "allure-results").glob("*-globals.json")
    names = {a["name"] for a in json.loads(globals_file.read_text())["attachments"]}
    assert names == {"compliance matrix (table)", "compliance matrix.csv"}
