"""Release comparison: one requirement fixed and one newly failing give exactly those."""

import json
import subprocess
import sys

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
