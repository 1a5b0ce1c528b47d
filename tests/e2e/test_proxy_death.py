"""A capture proxy killed during a scenario: that scenario is broken, never passed; the flows
captured before the kill are still on disk; the next scenario runs on a restarted proxy."""

from pathlib import Path

import pytest
from mitmproxy.http import HTTPFlow

from telltale.capture import store

from .helpers import results, run_suite

pytestmark = pytest.mark.e2e
SUITE = Path(__file__).parent / "suites" / "proxy_death_suite.py"


def test_killed_proxy_breaks_the_scenario_and_keeps_what_it_captured(ready, tmp_path):
    proc = run_suite(SUITE, tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    res = results(tmp_path)
    killed = res["The proxy is killed after the visit"]
    assert killed.status == "broken", killed.message
    assert "stopped during window" in killed.message
    assert res["The next scenario runs on a restarted proxy"].status == "passed"

    first, second = sorted((tmp_path / "captures").glob("local-chromium-*.mitm"))
    http_flows = [f for f in store.read_flows(first) if isinstance(f, HTTPFlow)]
    kept = [f for f in http_flows if f.request.path.startswith("/read/")]
    assert len(kept) == 1 and kept[0].response.status_code == 200
    assert store.window_of(kept[0]).endswith("the-proxy-is-killed-after-the-visit")
    assert any(isinstance(f, HTTPFlow) and f.request.path.startswith("/read/")
               for f in store.read_flows(second))
