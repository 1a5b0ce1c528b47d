"""Release comparison: one requirement fixed and one newly failing give exactly those."""

import json
import subprocess
import sys

import pytest

from tests.e2e.helpers import ROOT


def _run(folder, statuses: dict[str, str], device="phone-a"):
    res = folder / "allure-results"
    res.mkdir(parents=True)
    (res / "environment.properties").write_text(f"device={device}\n")
    for i, (req, status) in enumerate(statuses.items()):
        (res / f"{i}-result.json").write_text(json.dumps({
            "name": f"Scenario {req}", "fullName": f"browser/x.feature:Scenario {req}", "status": status,
            "labels": [{"name": "requirement", "value": req}], "parameters": []}))
    return folder


def test_diff_of_two_releases(tmp_path):
    old = _run(tmp_path / "old", {"R1": "failed", "R2": "passed", "R3": "failed", "R4": "passed"})
    new = _run(tmp_path / "new", {"R1": "passed", "R2": "failed", "R3": "failed", "R4": "broken"})
    proc = subprocess.run([sys.executable, "-m", "telltale.cli", "diff", str(old), str(new),
                           "--format", "json"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    out = json.loads(proc.stdout)
    assert [c["requirement"] for c in out["fixed"]] == ["R1"]
    assert [c["requirement"] for c in out["new_failures"]] == ["R2"]
    assert [c["requirement"] for c in out["still_failing"]] == ["R3"]
    broken = [(c["requirement"], c["old"], c["new"]) for c in out["newly_broken"]]
    assert broken == [("R4", "passed", "broken")]
    assert all(c["device"] == "phone-a" for v in out.values() for c in v)


def test_no_new_failure_exits_zero_and_reads_as_text(tmp_path):
    old = _run(tmp_path / "old", {"R1": "failed"})
    new = _run(tmp_path / "new", {"R1": "passed"})
    proc = subprocess.run([sys.executable, "-m", "telltale.cli", "diff", str(old), str(new)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert "fixed: 1" in proc.stdout and "R1" in proc.stdout and "new failures: 0" in proc.stdout


def test_a_folder_that_is_not_a_run_is_a_clear_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "telltale.cli", "diff", str(tmp_path), str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "not a run folder" in proc.stderr


# A release gate counts what disappeared: a run that covers less is not a run that passed.

def _farm(folder, statuses: dict[tuple[str, str], str]):
    """A run over several devices: (requirement, device) -> status, the device as a label."""
    res = folder / "allure-results"
    res.mkdir(parents=True)
    for i, ((req, device), status) in enumerate(statuses.items()):
        (res / f"{i}-result.json").write_text(json.dumps({
            "name": f"Scenario {req}", "fullName": f"browser/x.feature:Scenario {req}", "status": status,
            "labels": [{"name": "requirement", "value": req}, {"name": "device", "value": device}],
            "parameters": [{"name": "device", "value": device}]}))
    return folder


FULL = {(r, d): "passed" for r in ("R1", "R2", "R3", "R4") for d in ("phone-a", "phone-b")}
SUBSET = {("R1", "phone-a"): "passed", ("R2", "phone-a"): "passed"}


def _diff(*argv):
    return subprocess.run([sys.executable, "-m", "telltale.cli", "diff", *map(str, argv)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_a_run_with_fewer_scenarios_fails_the_gate_and_says_what_is_missing(tmp_path):
    proc = _diff(_farm(tmp_path / "full", FULL), _farm(tmp_path / "two", SUBSET))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert ("missing in new run: 6 scenario(s) (requirements R1, R2, R3, R4; devices phone-a, phone-b)"
            in proc.stdout)
    assert "added in new run: 0 scenario(s)" in proc.stdout and "new failures: 0" in proc.stdout
    missing = [ln.split()[:2] for ln in proc.stdout.splitlines() if "-> absent" in ln]
    assert sorted(missing) == sorted([["R3", "phone-a"], ["R4", "phone-a"]]
                                     + [[r, "phone-b"] for r in ("R1", "R2", "R3", "R4")])
    assert proc.stdout.splitlines()[-1].startswith("gate: failed: 6 scenario(s) missing")


def test_missing_scenarios_are_listed_in_json(tmp_path):
    proc = _diff(_farm(tmp_path / "full", FULL), _farm(tmp_path / "two", SUBSET), "--format", "json")
    assert proc.returncode == 1, proc.stderr
    out = json.loads(proc.stdout)
    assert {(c["requirement"], c["device"], c["old"], c["new"]) for c in out["missing"]} == {
        (r, d, "passed", "absent") for (r, d) in FULL if (r, d) not in SUBSET}
    assert out["added"] == [] and out["new_failures"] == []


def test_the_reverse_lists_what_is_added_and_passes(tmp_path):
    proc = _diff(_farm(tmp_path / "two", SUBSET), _farm(tmp_path / "full", FULL))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ("added in new run: 6 scenario(s) (requirements R1, R2, R3, R4; devices phone-a, phone-b)"
            in proc.stdout)
    assert "missing in new run: 0 scenario(s)" in proc.stdout
    assert proc.stdout.splitlines()[-1] == "gate: passed"


def test_an_added_scenario_that_fails_is_a_new_failure(tmp_path):
    more = _farm(tmp_path / "more", {**SUBSET, ("R3", "phone-a"): "failed"})
    proc = _diff(_farm(tmp_path / "two", SUBSET), more, "--format", "json")
    assert proc.returncode == 1, proc.stderr
    out = json.loads(proc.stdout)
    assert [(c["requirement"], c["old"], c["new"]) for c in out["added"]] == [("R3", "absent", "failed")]
    assert [c["requirement"] for c in out["new_failures"]] == ["R3"]


def test_accept_missing_passes_the_gate_but_still_lists_them(tmp_path):
    proc = _diff(_farm(tmp_path / "full", FULL), _farm(tmp_path / "two", SUBSET), "--accept-missing")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "missing in new run: 6 scenario(s)" in proc.stdout
    assert sum("-> absent" in ln for ln in proc.stdout.splitlines()) == 6
    assert proc.stdout.splitlines()[-1] == (
        "gate: passed (6 missing scenario(s) accepted with --accept-missing)")


def test_accept_missing_does_not_hide_a_new_failure(tmp_path):
    new = _farm(tmp_path / "two", {("R1", "phone-a"): "failed", ("R2", "phone-a"): "passed"})
    proc = _diff(_farm(tmp_path / "full", FULL), new, "--accept-missing")
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[-1] == (
        "gate: failed: 1 new failure(s) (6 missing scenario(s) accepted with --accept-missing)")


def _write_results(folder, *results):
    res = folder / "allure-results"
    res.mkdir(parents=True)
    for i, r in enumerate(results):
        (res / f"{i}-result.json").write_text(r if isinstance(r, str) else json.dumps(r))
    return folder


def test_results_without_labels_or_of_odd_shape_are_compared(tmp_path):
    odd = [{"name": "A", "fullName": "x.feature:A", "status": "passed"},  # no labels: requirement "-"
           {"name": "B", "fullName": "x.feature:B", "status": "passed", "labels": None, "parameters": "?"},
           {"name": "C", "status": "passed", "labels": [{"name": "requirement"}, "x", {"value": "v"}],
            "parameters": [{"name": "row"}, 3]},
           {"name": "D", "status": 7, "labels": [{"name": "requirement", "value": 12}]}]
    old = _write_results(tmp_path / "old", *odd)
    new = _write_results(tmp_path / "new", *odd[:2])
    proc = _diff(old, new, "--format", "json")
    assert proc.returncode == 1, proc.stderr
    out = json.loads(proc.stdout)
    assert [(c["requirement"], c["scenario"], c["old"]) for c in out["missing"]] == [
        ("-", "C", "passed"), ("12", "D", "unknown")]
    assert _diff(new, new).returncode == 0


@pytest.mark.parametrize("content, message", [
    ('["a list"]', "not an Allure result (a JSON object is expected)"),
    ('{"status": "passed"}', "not an Allure result (no name to match the scenario by)"),
    (b"\xff\xfe{}", "not UTF-8 text"),
])
def test_an_unreadable_result_is_one_line_naming_the_file(tmp_path, content, message):
    good = _farm(tmp_path / "good", SUBSET)
    bad = _write_results(tmp_path / "bad", {"name": "A", "status": "passed"})
    f = bad / "allure-results" / "9-result.json"
    f.write_bytes(content) if isinstance(content, bytes) else f.write_text(content)
    for argv in ((good, bad), (bad, good)):
        proc = _diff(*argv)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert proc.stderr.startswith(f"telltale: error: {f}: {message}"), proc.stderr
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_an_empty_results_folder_is_not_a_run(tmp_path):
    (tmp_path / "empty" / "allure-results").mkdir(parents=True)
    proc = _diff(_farm(tmp_path / "full", FULL), tmp_path / "empty")
    assert proc.returncode == 2 and "no *-result.json: not a finished run" in proc.stderr


def test_the_text_report_is_one_aligned_line_a_change(tmp_path):
    old = _farm(tmp_path / "old", {("R1", "phone-a"): "failed", ("R2", "phone-a"): "passed",
                                   ("R3", "phone-b"): "passed"})
    new = _farm(tmp_path / "new", {("R1", "phone-a"): "passed", ("R2", "phone-a"): "failed"})
    assert _diff(old, new).stdout.split("\n") == [
        "new failures: 1",
        "  R2           phone-a                  passed -> failed   Scenario R2",
        "fixed: 1",
        "  R1           phone-a                  failed -> passed   Scenario R1",
        "still failing: 0",
        "newly broken: 0",
        "missing in new run: 1 scenario(s) (requirements R3; devices phone-b)",
        "  R3           phone-b                  passed -> absent   Scenario R3",
        "added in new run: 0 scenario(s)",
        "gate: failed: 1 new failure(s); 1 scenario(s) missing in the new run "
        "(--accept-missing accepts them)",
        ""]
