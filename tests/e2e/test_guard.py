"""No scenario vanishes: setup errors become broken results, skip tags skipped, also under xdist."""

from pathlib import Path

import pytest

from .helpers import labels, results, run_suite, scenarios

SUITE = Path(__file__).parent / "suites" / "guard_suite.py"


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_scenarios_that_never_start_are_in_the_results(tmp_path, workers):
    proc = run_suite(SUITE, tmp_path, *workers)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    res = results(tmp_path)
    assert set(res) == {s.name for s in scenarios(SUITE.with_name("guard.feature"))}
    broken = res["Setup breaks before the scenario starts"]
    assert broken.status == "broken"
    assert "refused the connection" in broken.message
    assert labels(broken, "severity") == ["critical"]
    assert labels(broken, "requirement") == ["GUARD-1"]
    assert labels(broken, "feature") == ["No scenario vanishes from the report"]
    assert res["Another setup break"].status == "broken"
    assert res["Skipped by its tag"].status == "skipped"
