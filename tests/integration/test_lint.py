"""`telltale lint` checks features without a device, and the committed step catalogue is current."""

import subprocess
import sys

from tests.e2e.helpers import ROOT


def _lint(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "telltale.cli", "lint", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_the_shipped_requirements_pass_lint():
    proc = _lint()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "lint: 0 error(s)" in proc.stdout


def test_lint_names_every_fault_with_file_and_scenario():
    proc = _lint("--suite", "tests/e2e/suites/lint_bad_suite.py")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    where = "tests/e2e/suites/lint_bad.feature"
    assert (f"{where}:3: A step nobody defined: undefined step: "
            "When I teleport to a page that exists only for this test") in out
    assert "@severity:urgent: severity must be one of" in out
    assert "unknown tag @colour:blue" in out
    assert f"{where}:12: No requirement id and no regulation: no @requirement:ID tag" in out
    assert "no @regulation:CLAUSE tag" in out
    assert "requirement id BAD-1 is used by 2 scenarios" in out


def test_committed_step_catalogue_is_current(tmp_path):
    fresh = tmp_path / "steps.md"
    proc = _lint("--catalogue", str(fresh))
    assert proc.returncode == 0, proc.stdout
    assert fresh.read_text() == (ROOT / "docs" / "steps.md").read_text(), \
        "docs/steps.md is stale: run `telltale lint --catalogue docs/steps.md`"
