"""The suite catches the real case: on the leaky reference build every must-fail requirement
fails with a finding at the analytics host, naming the canary and the base64 step; the
compliance run on the clean build (test_compliance_run.py) passes the same features."""

import json
import re
import subprocess
import sys

import pytest

from telltale import selftest

from .helpers import ROOT, open_in_chromium, page_requests, results

pytestmark = pytest.mark.e2e
ANALYTICS = {"tracking.intl.miui.com", "sa.api.intl.miui.com"}


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
    assert "12 of 12 expected failures caught on local-chromium-leaky;" in proc.stdout
    assert (run / "report.html").exists()


def test_each_failure_names_the_host_the_canary_and_the_base64_step(leaky_run):
    _, run = leaky_run
    res = results(run)
    must_fail = [r for r in res.values() if "must-fail" in selftest._labels(r, "selftest")]
    assert len(must_fail) == 12
    by_destination = {"Nothing goes to analytics hosts in forbidden countries": ("countries", "SG"),
                      "No request reaches a known tracker while browsing": ("trackers", "SG")}
    for r in must_fail:
        assert r["status"] == "failed", r["name"]
        if r["name"] in by_destination:
            rule, country = by_destination.pop(r["name"])
            rows = selftest.destination_findings_of(r, run / "allure-results")
            hit = [f for f in rows if f["verdict"] == "violation" and f["host"] in ANALYTICS]
            assert hit and hit[0]["rule"] == rule and hit[0]["country"] == country, (r["name"], rows)
            assert hit[0]["ip"].startswith("47.241."), "the address the device reached, from the host map"
            continue
        found = selftest.findings_of(r, run / "allure-results")
        assert found, r["name"]
        hit = [f for f in found if f["host"] in ANALYTICS and "base64" in f["chain"]]
        assert hit, (r["name"], found)
        assert hit[0]["canary"] and hit[0]["server_ip"].startswith("47.241.")
        assert "«" in hit[0]["excerpt"], "the excerpt marks the match"
    assert not by_destination, f"destination requirements missing: {by_destination}"
    ids = next(r for r in must_fail if r["name"].startswith("Device identifiers"))
    assert {f["canary"] for f in selftest.findings_of(ids, run / "allure-results")} >= {"imei", "serial"}


def test_selftest_judgement_rejects_a_broken_scenario(tmp_path):
    """Broken is not caught: a lab that saw nothing must not pass its selftest."""
    fake = {"name": "s", "status": "broken", "labels": [{"name": "selftest", "value": "must-fail"}]}
    (row,) = selftest.check([fake], tmp_path, ANALYTICS)
    assert not row.ok and row.actual == "broken"
    clean_fail = {"name": "t", "status": "failed", "labels": []}
    (row,) = selftest.check([clean_fail], tmp_path, ANALYTICS)
    assert not row.ok, "an unexpected failure is an unmet expectation"


def test_leaky_report_attaches_the_decoded_evidence(leaky_run):
    _, run = leaky_run
    r = next(r for r in results(run).values() if r["name"] == "Incognito browsing sends no URLs")
    # the window's own findings (and, if copies left later, the sweep's late leaks beside them)
    sources = list(selftest._attachments(r, "findings.json"))
    rows = [row for src in sources for row in json.loads((run / "allure-results" / src).read_text())]
    assert sources and any(row["location"].startswith("request.body base64 > json") for row in rows)


def test_report_shows_the_failed_requirement_with_its_evidence_and_phones_nowhere(leaky_run, ready,
                                                                                   tmp_path):
    _, run = leaky_run
    html = (run / "report.html").read_text()
    failed = next(r for r in results(run).values() if r["name"] == "Incognito browsing sends no URLs")
    # Allure's report id of that test result is in the page's data index.
    import re

    ids = re.findall(r'data/test-results/([0-9a-f]+)\.json","([A-Za-z0-9+/=]+)"', html)
    import base64 as b64

    (rid,) = [i for i, blob in ids if json.loads(b64.b64decode(blob)).get("name") == failed["name"]]
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


def test_the_reference_group_is_caught_however_it_escapes(reference_run):
    """Each way the reference build escapes a proxy-only lab (its own sockets to literal addresses,
    UDP datagrams, data in DNS names, batches sent late) is caught as a named failure by the sealed
    boundary and the run-wide sweep."""
    proc, _ = reference_run
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    for variant, caught in (("", 12), ("-direct", 12), ("-udp", 13), ("-dns", 12), ("-batched", 14)):
        device = f"local-chromium-leaky{variant}"
        assert f"{caught} of {caught} expected failures caught on {device};" in proc.stdout
        assert f"== {device} (" in proc.stdout
    assert proc.stdout.count("boundary: sealed: a network namespace") == 5
    # the proof names the escape: a datagram's payload, a DNS label, a late batch with its delay
    assert "udp[0] base64" in proc.stdout and "dns.question[0] hex" in proc.stdout
    assert re.search(r"late leak: the visited URL of this scenario reached tracking\.intl\.miui\.com "
                     r"\d+ s after the action, during ", proc.stdout), proc.stdout[-4000:]


def test_final_verdicts_are_the_same_in_every_artefact(reference_run):
    """The sweep's late leaks change the verdicts before anything reads them: the results, the
    report's data, the matrix and `telltale diff` agree, and the manifest still verifies."""
    proc, run = reference_run
    assert proc.returncode == 0, proc.stdout[-3000:]
    results = [json.loads(p.read_text()) for p in (run / "allure-results").glob("*-result.json")]
    batched = {r["name"]: r["status"] for r in results
               if "local-chromium-leaky-batched" in selftest._labels(r, "device")}
    late = [r for r in results if "local-chromium-leaky-batched" in selftest._labels(r, "device")
            and r.get("statusDetails", {}).get("message", "").startswith("late leak")]
    assert late and all(r["status"] == "failed" for r in late)
    assert batched["Browsing telemetry carries no visited URL"] == "failed"
    matrix = {(m["scenario"], m["device"]): m["verdict"]
              for m in json.loads((run / "matrix.json").read_text())}
    for r in results:
        (device,) = selftest._labels(r, "device")
        assert matrix[(r["name"], device)] == r["status"], r["name"]
    report = json.loads((run / "report-test-results.json").read_text())["byId"].values()
    assert sorted((t["name"], t["status"]) for t in report) == sorted(
        (r["name"], r["status"]) for r in results)
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
