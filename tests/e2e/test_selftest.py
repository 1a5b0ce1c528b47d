"""The suite catches the real case: on the leaky reference build every must-fail requirement
fails with a finding at the analytics host, naming the canary and the base64 step; the
compliance run on the clean build (test_compliance_run.py) passes the same features."""

import json
import re
import subprocess
import sys

import pytest

from telltale import inventory, selftest
from telltale import results as allure_results
from telltale.reference import expectations

from .helpers import ROOT, all_results, labels, open_in_chromium, page_requests, results, scenarios

pytestmark = pytest.mark.e2e
ANALYTICS = {"tracking.intl.miui.com", "sa.api.intl.miui.com"}
DEVICES = inventory.load(ROOT / "devices.yaml")
LEAKY = DEVICES.get("local-chromium-leaky")
REFERENCE = inventory.select(DEVICES, [], "reference")
# The destination rules' steps, and the rule each one's violations name.
DESTINATION_STEPS = {"no data is sent to servers in": "countries",
                     "no request reaches a known tracker": "trackers"}


def must_fail(dev: inventory.Device) -> list:
    """The scenarios the reference build's expectations (reference/must_fail.yaml) say this
    device fails, by its agent's traits."""
    return [s for s in scenarios()
            if expectations.must_fail(s.tagged("requirement"), selftest.traits(dev))]


def _rule(scenario) -> str | None:
    return next((rule for step in scenario.steps for prefix, rule in DESTINATION_STEPS.items()
                 if step.startswith(prefix)), None)


@pytest.fixture(scope="module")
def leaky_run(ready, tmp_path_factory):
    reports = tmp_path_factory.mktemp("reports")
    proc = subprocess.run(
        [sys.executable, "-m", "telltale.cli", "selftest", "--reports", str(reports), "--run-id", "leaky"],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    return proc, reports / "leaky"


def test_selftest_catches_every_expected_failure(leaky_run):
    proc, run = leaky_run
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    n = len(must_fail(LEAKY))
    assert f"{n} of {n} expected failures caught on local-chromium-leaky;" in proc.stdout
    assert (run / "report.html").exists()


def test_each_failure_names_the_host_the_canary_and_the_base64_step(leaky_run):
    _, run = leaky_run
    res = results(run)
    expected = must_fail(LEAKY)
    failed = {r.name for r in res.values() if r.status == "failed"}
    assert failed == {s.name for s in expected}
    by_destination = {s.name: _rule(s) for s in expected if _rule(s)}
    assert by_destination, "the features have destination requirements the reference build fails"
    steps = selftest.decoding_steps(LEAKY)
    for s in expected:
        r = res[s.name]
        assert r.status == "failed", r.name
        if r.name in by_destination:
            rule = by_destination.pop(r.name)
            rows = selftest.destination_findings_of(r)
            hit = [f for f in rows if f["verdict"] == "violation" and f["host"] in ANALYTICS]
            assert hit and hit[0]["rule"] == rule and hit[0]["country"] == "SG", (r.name, rows)
            assert hit[0]["ip"].startswith("47.241."), "the address the device reached, from the host map"
            continue
        found = selftest.findings_of(r)
        assert found, r.name
        hit = [f for f in found if f["host"] in ANALYTICS and set(steps) <= set(f["chain"])]
        assert hit, (r.name, found)
        assert hit[0]["canary"] and hit[0]["server_ip"].startswith("47.241.")
        assert "«" in hit[0]["excerpt"], "the excerpt marks the match"
    assert not by_destination, f"destination requirements missing: {by_destination}"
    ids = next(res[s.name] for s in expected if s.name.startswith("Device identifiers"))
    assert {f["canary"] for f in selftest.findings_of(ids)} >= {"imei", "serial"}


def test_selftest_judgement_rejects_a_broken_scenario(tmp_path):
    """Broken is not caught: a lab that saw nothing must not pass its selftest."""
    fake = {"name": "s", "status": "broken", "labels": [{"name": "requirement", "value": "BR-INC-001"}]}
    (row,) = selftest.check([allure_results.parse(fake, tmp_path / "s-result.json")], ANALYTICS)
    assert not row.ok and row.actual == "broken"
    clean_fail = {"name": "t", "status": "failed", "labels": []}
    (row,) = selftest.check([allure_results.parse(clean_fail, tmp_path / "t-result.json")], ANALYTICS)
    assert not row.ok, "an unexpected failure is an unmet expectation"


def test_leaky_report_attaches_the_decoded_evidence(leaky_run):
    _, run = leaky_run
    r = results(run)["Incognito browsing sends no URLs"]
    # the window's own findings (and, if copies left later, the sweep's late leaks beside them)
    rows = selftest.findings_of(r)
    assert r.sources("findings.json") and any(
        row["location"].startswith("request.body base64 > json") for row in rows)


def test_report_shows_the_failed_requirement_with_its_evidence_and_phones_nowhere(leaky_run, ready,
                                                                                   tmp_path):
    _, run = leaky_run
    html = (run / "report.html").read_text()
    failed = results(run)["Incognito browsing sends no URLs"]
    # Allure's report id of that test result is in the page's data index.
    import re

    ids = re.findall(r'data/test-results/([0-9a-f]+)\.json","([A-Za-z0-9+/=]+)"', html)
    import base64 as b64

    (rid,) = [i for i, blob in ids if json.loads(b64.b64decode(blob)).get("name") == failed.name]
    dom, flows = open_in_chromium(f"{(run / 'report.html').as_uri()}#/{rid}", ready, tmp_path)
    assert "Incognito browsing sends no URLs" in dom
    assert "tracking.intl.miui.com" in dom and "request.body base64 &gt; json $.url" in dom
    assert "GDPR-Art.5(1)(c)" in dom, "the regulation clause is shown"
    assert page_requests(flows) == []


@pytest.fixture(scope="module")
def reference_run(ready, tmp_path_factory):
    reports = tmp_path_factory.mktemp("reference")
    proc = subprocess.run(
        [sys.executable, "-m", "telltale.cli", "selftest", "--devices", "reference", "--reports",
         str(reports), "--run-id", "ref", "-n", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=1200)
    return proc, reports / "ref"


def _unmet(out: str) -> str:
    """What a failing selftest says went wrong: its per-device summaries, unmet rows and the line
    under each (why)."""
    lines = out.splitlines()
    unmet = {i for i, line in enumerate(lines) if line.lstrip().startswith("NO ")}
    return "\n".join(line for i, line in enumerate(lines)
                     if i in unmet or i - 1 in unmet or "selftest:" in line or line.startswith("=="))


def test_the_reference_group_is_caught_however_it_escapes(reference_run):
    """Each way the reference build escapes a proxy-only lab (its own sockets to literal addresses,
    UDP datagrams, data in DNS names, batches sent late) is caught as a named failure by the sealed
    boundary and the run-wide sweep."""
    proc, _ = reference_run
    assert proc.returncode == 0, _unmet(proc.stdout) + proc.stderr[-2000:]
    for dev in REFERENCE:
        caught = len(must_fail(dev))
        assert f"{caught} of {caught} expected failures caught on {dev.name};" in proc.stdout
        assert f"== {dev.name} (" in proc.stdout
    assert proc.stdout.count("boundary: sealed: a network namespace") == len(REFERENCE)
    # the proof names the escape: a datagram's payload, a DNS label, a late batch with its delay
    assert "udp[0] base64" in proc.stdout and "dns.question[0] hex" in proc.stdout
    assert re.search(r"late leak: the visited URL of this scenario reached tracking\.intl\.miui\.com "
                     r"\d+ s after the action, during ", proc.stdout), proc.stdout[-4000:]


def test_final_verdicts_are_the_same_in_every_artefact(reference_run):
    """The sweep's late leaks change the verdicts before anything reads them: the results, the
    report's data, the matrix and `telltale diff` agree, and the manifest still verifies."""
    proc, run = reference_run
    assert proc.returncode == 0, _unmet(proc.stdout)
    read = all_results(run)
    batched = {r.name: r.status for r in read if "local-chromium-leaky-batched" in labels(r, "device")}
    late = [r for r in read if "local-chromium-leaky-batched" in labels(r, "device")
            and r.message.startswith("late leak")]
    assert late and all(r.status == "failed" for r in late)
    assert batched["Browsing telemetry carries no visited URL"] == "failed"
    matrix = {(m["scenario"], m["device"]): m["verdict"]
              for m in json.loads((run / "matrix.json").read_text())}
    for r in read:
        (device,) = labels(r, "device")
        assert matrix[(r.name, device)] == r.status, r.name
    report = json.loads((run / "report-test-results.json").read_text())["byId"].values()
    assert sorted((t["name"], t["status"]) for t in report) == sorted((r.name, r.status) for r in read)
    diff = subprocess.run(
        [sys.executable, "-m", "telltale.cli", "diff", str(run), str(run), "--format", "json"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    still = {(x["scenario"], x["device"]) for x in json.loads(diff.stdout)["still_failing"]}
    assert ("Browsing telemetry carries no visited URL", "local-chromium-leaky-batched") in still
    verify = subprocess.run([sys.executable, "-m", "telltale.cli", "verify", str(run)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    obs = json.loads((run / "captures" / "local-chromium-leaky-batched-observation.json").read_text())
    assert [n["nudge"] for n in obs["nudges"]] == ["the browser is closed", "the browser is reopened"]
    assert obs["drain_seconds"] == 5 and obs["late_leaks"]


def test_the_xor_device_is_caught_only_by_the_differential_run(reference_run):
    """Its payloads are XORed with a key baked into the build: no decoder finds anything in them,
    and every leak requirement it fails is proven by parts that move with the varied values."""
    _, run = reference_run
    xor = [r for r in all_results(run) if "local-chromium-leaky-xor" in labels(r, "device")]
    assert xor
    proven = set()
    for r in xor:
        rows = selftest.findings_of(r)
        assert all(row["chain"] == ["differential"] and row["kind"] == "correlated" for row in rows), rows
        if rows:
            assert r.status == "failed" and {row["host"] for row in rows} <= ANALYTICS, r.name
            assert "differential run" in r.attachments
            proven |= {row["canary"] for row in rows}
    assert proven == {"the varied canaries", "the varied identifiers"}
