"""A device whose capture asks for proxy credentials works, and its credentials are on no
command line and in no file of the run: they come from the environment variable devices.yaml
names, and mitmdump is given only the path of a bcrypt hash of them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .helpers import ROOT, all_results, scenarios

pytestmark = pytest.mark.e2e
SECRET = "Lab-Proxy-Pa55-e2e"

DEVICES = """\
devices:
  authed-chromium:
    platform: chromium
    appium: local
    capture: proxy
    identifiers:
      serial: TTAUTH00000000001
    proxy:
      host: 0.0.0.0
      auth_env: TT_TEST_PROXY_AUTH
"""


SELECTION = ("incognito_browsing_sends_no_urls", "device_identifiers_are_never_sent")


def test_a_device_behind_proxy_authentication_runs_and_passes(ready, tmp_path):
    devices = tmp_path / "devices.yaml"
    devices.write_text(DEVICES)
    proc = subprocess.run(
        [sys.executable, "-m", "telltale.cli", "run", "--reports", str(tmp_path), "--run-id", "auth",
         "--devices-file", str(devices), "--device", "authed-chromium", "--no-report",
         "-k", " or ".join(SELECTION)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "TT_TEST_PROXY_AUTH": f"lab:{SECRET}"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    run = tmp_path / "auth"
    statuses = {r.name: r.status for r in all_results(run)}
    assert statuses == {s.name: "passed" for s in scenarios() if s.selected_by(*SELECTION)}, statuses
    leaked = [str(p) for p in run.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert leaked == []
